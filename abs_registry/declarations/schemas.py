"""The boundary: what a declarant may send, and what the registry shows back.

The same schemas parse the JSON API and the HTML forms, so a rule is written once and its
message names the field in both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from abs_registry import regions
from abs_registry.declarations.models import (
    Conservation,
    MaterialType,
    MoleculeType,
    QuantityUnit,
    TaxonRank,
    TKDomain,
    Visibility,
)
from abs_registry.i18n_marker import N_
from abs_registry.tk.labels import LABELS

SCIENTIFIC_NAME = re.compile(r"^[A-Z][a-z]+(?:[ \-×.][\w.\-×'()]+)*$")
# \Z, not $: "$" also matches before a final newline, which would then be stored.
INSDC_ACCESSION = re.compile(r"^[A-Z]{1,6}_?\d{5,12}(?:\.\d+)?\Z")
REFERENCE = re.compile(r"^[A-Z]{2}-(?:GR|DSI|TK)-\d{4}-\d{6}\Z")
# Neither database stores a NUL character (PostgreSQL refuses it) or an unpaired surrogate.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A well-formed BCP 47 tag (RFC 5646 section 2.1, without grandfathered tags): language,
# optional script, region and variants, e.g. zh, en, ii, bo, ug, zh-Hans-CN, ii-Yiii.
LANGUAGE_TAG = re.compile(
    r"^[a-z]{2,3}(?:-[a-z]{4})?(?:-(?:[a-z]{2}|\d{3}))?(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*\Z",
    re.IGNORECASE)


def _not_blank(value: str) -> None:
    if value and not value.strip():
        raise ValidationError(N_("Write something other than spaces."))


def _text(max_len: int, *, required: bool = True, min_len: int = 1) -> fields.String:
    return fields.String(
        required=required,
        allow_none=not required,
        validate=[validate.Length(min=min_len, max=max_len), _not_blank],
    )


def _at_most_places(places: int):
    """Refuse digits the column cannot keep, instead of letting the database round them away."""

    def check(value) -> None:
        if value.is_finite() and value.as_tuple().exponent < -places:
            raise ValidationError(N_("At most %(places)s decimal places.") % {"places": places})

    return check


class WholeNumber(fields.Integer):
    """An integer that forms may send as text, but never a fraction silently cut to an integer."""

    def _validated(self, value):
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def _enum(enum_cls) -> fields.Enum:
    return fields.Enum(enum_cls, by_value=True, required=True)


def _scientific_name(value: str) -> None:
    if not SCIENTIFIC_NAME.match(value.strip()):
        raise ValidationError(
            N_("Not a scientific name: write the genus with a capital letter, e.g. Oryza "
               "rufipogon.")
        )


class ScientificName(fields.String):
    """Spaces around or between the words are not part of a name: the register and the key
    list compare names, so " Oryza  sativa " is stored as "Oryza sativa"."""

    def _deserialize(self, value, attr, data, **kwargs):
        return " ".join(super()._deserialize(value, attr, data, **kwargs).split())


def _unstorable(value) -> bool:
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    return isinstance(value, list) and any(_unstorable(item) for item in value)


class LanguageTag(fields.Field):
    """A BCP 47 language tag, stored in its canonical case (zh-Hans-CN): a code, not text."""

    default_error_messages = {"invalid": N_("Not a language tag (BCP 47), e.g. zh, en, ii, bo.")}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or len(value) > 35 or not LANGUAGE_TAG.match(value):
            raise self.make_error("invalid")
        parts = value.split("-")
        return "-".join([parts[0].lower()] + [
            p.title() if len(p) == 4 and p.isalpha() else p.upper() if len(p) == 2 else p.lower()
            for p in parts[1:]])

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_unstorable_text(self, data, **_):
        """Name the field that holds text no database can store, rather than fail with a 500."""
        if isinstance(data, Mapping):
            bad = {name: [N_("Contains a character that cannot be stored (NUL or an unpaired "
                             "surrogate).")]
                   for name, value in data.items() if _unstorable(value)}
            if bad:
                raise ValidationError(bad)
        return data


class GeneticResourceIn(StrictSchema):
    scientific_name = ScientificName(
        required=True, validate=[validate.Length(min=2, max=200), _scientific_name]
    )
    taxon_rank = _enum(TaxonRank)
    ncbi_taxon_id = WholeNumber(
        strict=False, allow_none=True, validate=validate.Range(min=1, max=99_999_999)
    )
    common_name = _text(200, required=False)
    material_type = _enum(MaterialType)
    quantity = fields.Decimal(
        required=True,
        places=None,
        allow_nan=False,
        # Numeric(18, 6) keeps 12 digits before the point: 10^12 itself would overflow it.
        validate=[validate.Range(min=0, min_inclusive=False, max=10**12, max_inclusive=False,
                                 error=N_("Must be greater than 0 and less than 10^12.")),
                  _at_most_places(6)],
    )
    quantity_unit = _enum(QuantityUnit)
    collection_region = fields.String(required=True)
    latitude = fields.Decimal(required=True, allow_nan=False,
                              validate=[validate.Range(-90, 90), _at_most_places(6)])
    longitude = fields.Decimal(
        required=True, allow_nan=False, validate=[validate.Range(-180, 180), _at_most_places(6)]
    )
    collection_date = fields.Date(required=True)
    collector = _text(200)
    holder = _text(200)
    conservation = _enum(Conservation)
    intended_use = _text(4000)

    @validates("collection_region")
    def _region(self, value: str, **_) -> None:
        if not regions.is_valid(value):
            raise ValidationError(N_("Unknown administrative region code (6 digits, GB/T 2260)."))

    @validates("collection_date")
    def _not_future(self, value: date, **_) -> None:
        if value > date.today():
            raise ValidationError(N_("The collection date cannot be in the future."))


class DSIIn(StrictSchema):
    title = _text(300)
    molecule_type = _enum(MoleculeType)
    source_resources = fields.List(
        fields.String(validate=validate.Regexp(REFERENCE, error=N_("Not a reference number."))),
        required=True,
        validate=validate.Length(min=1, max=50,
                                 error=N_("Name between 1 and 50 source genetic resources.")),
    )
    accessions = fields.List(
        fields.String(
            validate=validate.Regexp(INSDC_ACCESSION, error=N_("Not an INSDC accession number."))
        ),
        load_default=list,
        validate=validate.Length(max=200),
    )


class TranslationIn(StrictSchema):
    """The record in one more language: a title (summary) and, if written, the text (body)."""

    language = LanguageTag(required=True)
    title = _text(300)
    description = _text(10000, required=False)


class LabelIn(StrictSchema):
    """A label from tk/labels.py, with the community's own wording per language if it wants."""

    code = fields.String(required=True, validate=validate.OneOf(
        list(LABELS), error=N_("Unknown label; the labels are listed at /api/v1/tk-labels.")))
    texts = fields.Dict(keys=LanguageTag(), values=_text(2000), load_default=dict,
                        validate=validate.Length(max=10))


class TraditionalKnowledgeIn(StrictSchema):
    """Summary: title, domain, species, languages, translations' titles, labels. Body:
    description, associated resources, translations' descriptions (and attachments)."""

    title = _text(300)
    description = _text(10000)
    domain = _enum(TKDomain)
    associated_species = fields.List(
        ScientificName(validate=[validate.Length(min=2, max=200), _scientific_name]),
        load_default=list,
        validate=validate.Length(max=50),
    )
    associated_resources = fields.List(
        fields.String(validate=validate.Regexp(REFERENCE, error=N_("Not a reference number."))),
        load_default=list,
        validate=validate.Length(max=50),
    )
    visibility = _enum(Visibility)
    language = LanguageTag(load_default="zh",
                           metadata={"description": "language of title and description"})
    community_language = LanguageTag(load_default=None, allow_none=True,
                                     metadata={"description": "the community's own language"})
    translations = fields.List(fields.Nested(TranslationIn), load_default=list,
                               validate=validate.Length(max=10))
    labels = fields.List(fields.Nested(LabelIn), load_default=list,
                         validate=validate.Length(max=len(LABELS)))

    @validates_schema
    def _one_entry_per_language(self, data, **_) -> None:
        languages = [t["language"] for t in data.get("translations") or []]
        if data.get("language") in languages or len(set(languages)) != len(languages):
            raise ValidationError(N_("One translation per language, other than the record's "
                                     "own language."), "translations")
        codes = [label["code"] for label in data.get("labels") or []]
        if len(set(codes)) != len(codes):
            raise ValidationError(N_("Each label once."), "labels")


class UpdateMixin(Schema):
    version = fields.Integer(required=True, strict=True)


class GeneticResourceUpdate(GeneticResourceIn, UpdateMixin):
    pass


class DSIUpdate(DSIIn, UpdateMixin):
    pass


class TraditionalKnowledgeUpdate(TraditionalKnowledgeIn, UpdateMixin):
    pass


class ActionIn(StrictSchema):
    comment = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=4000))
    version = fields.Integer(load_default=None, allow_none=True, strict=True)


# --- output -------------------------------------------------------------------------------


class GeneticResourceOut(Schema):
    scientific_name = fields.String()
    taxon_rank = fields.Enum(TaxonRank, by_value=True)
    ncbi_taxon_id = fields.Integer(allow_none=True)
    common_name = fields.String(allow_none=True)
    material_type = fields.Enum(MaterialType, by_value=True)
    quantity = fields.Decimal(as_string=True)
    quantity_unit = fields.Enum(QuantityUnit, by_value=True)
    collection_region = fields.String()
    latitude = fields.Decimal(as_string=True)
    longitude = fields.Decimal(as_string=True)
    collection_date = fields.Date()
    collector = fields.String()
    holder = fields.String()
    conservation = fields.Enum(Conservation, by_value=True)
    intended_use = fields.String()


class DSIOut(Schema):
    title = fields.String(attribute="dsi_title")
    molecule_type = fields.Enum(MoleculeType, by_value=True)
    source_resources = fields.Function(lambda d: [r.reference for r in d.source_resources])
    accessions = fields.List(fields.String())


class LabelOut(Schema):
    code = fields.String()
    name = fields.String()
    text = fields.String(metadata={"description": "in the reader's language"})
    texts = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "language -> text, the community's wording "
                                                 "over the registry's default"})


class TranslationTitleOut(Schema):
    language = fields.String()
    title = fields.String()


class TraditionalKnowledgeOut(Schema):
    """The summary only: the body is read through /api/v1/traditional-knowledge/<ref>/body."""

    title = fields.String(attribute="tk_title")
    domain = fields.Enum(TKDomain, by_value=True)
    associated_species = fields.List(fields.String())
    language = fields.String()
    community_language = fields.String(allow_none=True)
    translations = fields.List(fields.Nested(TranslationTitleOut))
    labels = fields.Method("_labels")

    def _labels(self, d):
        from abs_registry.tk.service import shown_labels

        return _LABELS_OUT.dump(shown_labels(d), many=True)


# One instance each: building a schema copies its fields, which costs more than dumping.
_GR_OUT, _DSI_OUT, _TK_OUT = GeneticResourceOut(), DSIOut(), TraditionalKnowledgeOut()
_LABELS_OUT = LabelOut()


class DeclarationOut(Schema):
    reference = fields.String()
    kind = fields.String()
    status = fields.String()
    visibility = fields.String()
    title = fields.String()
    version = fields.Integer()
    organization = fields.Function(lambda d: {"id": d.organization.id,
                                              "name": d.organization.name})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    registered_at = fields.DateTime(allow_none=True)
    needs_national_review = fields.Boolean()
    key_list_matches = fields.List(fields.String())
    supersedes = fields.Function(lambda d: d.supersedes.reference if d.supersedes else None)
    genetic_resource = fields.Method("_gr")
    dsi = fields.Method("_dsi")
    traditional_knowledge = fields.Method("_tk")

    def _gr(self, d):
        return _GR_OUT.dump(d) if d.kind == "genetic_resource" else None

    def _dsi(self, d):
        return _DSI_OUT.dump(d) if d.kind == "dsi" else None

    def _tk(self, d):
        return _TK_OUT.dump(d) if d.kind == "traditional_knowledge" else None


class HistoryEventOut(Schema):
    seq = fields.Integer()
    at = fields.DateTime()
    actor = fields.String(attribute="actor_name")
    action = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    data = fields.Dict()


class RegisterQuery(StrictSchema):
    q = fields.String(load_default=None, validate=validate.Length(max=200))
    kind = fields.String(
        load_default=None,
        validate=validate.OneOf(["genetic_resource", "dsi", "traditional_knowledge"]),
    )
    taxon = fields.String(load_default=None, validate=validate.Length(max=200))
    region = fields.String(load_default=None)
    # an id beyond a 32-bit integer cannot exist, and PostgreSQL refuses to compare with one
    holder = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1))
    registered_from = fields.Date(load_default=None)
    registered_to = fields.Date(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))

    @validates("region")
    def _region(self, value: str | None, **_) -> None:
        if value and not regions.is_valid(value):
            raise ValidationError(N_("Unknown administrative region code (6 digits, GB/T 2260)."))


class RegisterEntryOut(Schema):
    reference = fields.String()
    kind = fields.String()
    title = fields.String()
    taxon = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)
    holder = fields.String(attribute="holder_name")
    registered_on = fields.Date()
    visibility = fields.String(metadata={"description": "public, or restricted: only the "
                                                        "summary is public"})
    labels = fields.List(fields.String(), metadata={"description": "TK label codes"})


class RegisterPageOut(Schema):
    items = fields.List(fields.Nested(RegisterEntryOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer(metadata={"description": "exact up to total_capped_at"})
    total_is_capped = fields.Boolean()
    has_next = fields.Boolean()
