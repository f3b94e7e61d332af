"""Converting quantities of material between units, exactly.

A permit allows, say, 2 kg of seed to leave; exits may be declared in g or mg. Every
quantity is converted to the base unit of its dimension (mg for mass, µl for volume, items
for counts) with ``Decimal`` arithmetic, so 0.1 kg + 900 g is exactly 1 kg and no float
ever rounds a limit away (DOMAIN rules 5 and 6). Mass and volume are different dimensions:
without the material's density there is no honest conversion, so it is refused.
"""

from __future__ import annotations

from decimal import Decimal

from abs_registry.declarations.models import QuantityUnit as U
from abs_registry.errors import ValidationError
from abs_registry.i18n_marker import N_

MASS, VOLUME, COUNT = "mass", "volume", "count"
# unit -> (dimension, how many base units one of it is)
FACTORS: dict[U, tuple[str, Decimal]] = {
    U.MG: (MASS, Decimal(1)),
    U.G: (MASS, Decimal(1000)),
    U.KG: (MASS, Decimal(1_000_000)),
    U.UL: (VOLUME, Decimal(1)),
    U.ML: (VOLUME, Decimal(1000)),
    U.L: (VOLUME, Decimal(1_000_000)),
    U.ITEMS: (COUNT, Decimal(1)),
}
BASE_UNIT = {MASS: U.MG, VOLUME: U.UL, COUNT: U.ITEMS}


def dimension(unit: U) -> str:
    return FACTORS[unit][0]


def convertible(source: U, target: U) -> bool:
    return dimension(source) == dimension(target)


def to_base(quantity: Decimal, unit: U) -> Decimal:
    """The quantity in mg, µl or items: exact, since every factor is a power of ten."""
    return quantity * FACTORS[unit][1]


def require_convertible(source: U, target: U, *, field: str = "unit") -> None:
    """ValidationError naming ``field`` when the two measure different things."""
    if not convertible(source, target):
        raise ValidationError({field: [
            N_("%(source)s cannot be converted to %(target)s: one measures %(a)s, the other "
               "%(b)s.") % {"source": source.value, "target": target.value,
                            "a": dimension(source), "b": dimension(target)}]})


def convert(quantity: Decimal, source: U, target: U, *, field: str = "unit") -> Decimal:
    """``quantity`` of ``source`` expressed in ``target``."""
    require_convertible(source, target, field=field)
    return normalized(to_base(quantity, source) / FACTORS[target][1])


def normalized(value: Decimal) -> Decimal:
    """1.500000 -> 1.5 and 1E+3 -> 1000: how a quantity is shown and compared."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value
