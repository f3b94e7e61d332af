"""Administrative region codes (GB/T 2260) and their names in each interface language.

The shipped table holds every province and the prefectures and counties of the pilot
provinces; a code inside a known province is valid and is named by its nearest known parent.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "regions.csv"
CODE_PATTERN = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Region:
    code: str
    name_zh: str
    name_en: str

    def name(self, locale: str) -> str:
        return self.name_zh if str(locale).startswith("zh") else self.name_en


@cache
def _table() -> dict[str, Region]:
    with DATA.open(encoding="utf-8") as fh:
        return {row["code"]: Region(**row) for row in csv.DictReader(fh)}


def province_code(code: str) -> str:
    return code[:2] + "0000"


def is_valid(code: str) -> bool:
    return bool(CODE_PATTERN.match(code)) and province_code(code) in _table()


def lookup(code: str) -> Region | None:
    """The region itself, else its prefecture, else its province."""
    table = _table()
    for candidate in (code, code[:4] + "00", province_code(code)):
        if candidate in table:
            return table[candidate]
    return None


def display_name(code: str | None, locale: str) -> str:
    if not code:
        return ""
    region = lookup(code)
    if region is None:
        return code
    province = _table()[province_code(code)]
    if region.code == province.code:
        return region.name(locale)
    sep = "" if str(locale).startswith("zh") else ", "
    if str(locale).startswith("zh"):
        return province.name(locale) + sep + region.name(locale)
    return region.name(locale) + sep + province.name(locale)


def provinces() -> list[Region]:
    return [r for c, r in _table().items() if c.endswith("0000")]
