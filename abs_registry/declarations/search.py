"""The public register: an index of registered public declarations and its search.

Text is tokenized here, the same way for both databases: Latin words are folded to
lower-case ASCII, and Chinese runs become single characters plus overlapping pairs (the
bigram scheme search engines use for CJK), so that 水稻 finds 野生水稻 without a dictionary.
SQLite keeps the tokens in an FTS5 table fed by triggers; PostgreSQL keeps a GIN index on
to_tsvector('simple', document). Both are created by the migrations.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache

from sqlalchemy import func, literal_column, select, text
from sqlalchemy.orm import Session, defer

from abs_registry import regions
from abs_registry.declarations.models import (
    LISTED,
    Declaration,
    DSIRecord,
    GeneticResource,
    Kind,
    RegisterEntry,
    TKRecord,
    Visibility,
)

CJK_RUN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{CJK_RUN}]+|[0-9a-z]+")
TOTAL_CAP = 1000


# Combining marks all lie below this today; text beyond it takes the slow, exact path.
_MARKS_BELOW = "\U00020000"


@cache
def _combining_marks() -> dict[int, None]:
    """A str.translate table deleting combining marks: 20x faster than testing each char."""
    return {cp: None for cp in range(ord(_MARKS_BELOW)) if unicodedata.combining(chr(cp))}


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    if decomposed and max(decomposed) >= _MARKS_BELOW:
        return "".join(c for c in decomposed if not unicodedata.combining(c))
    return decomposed.translate(_combining_marks())


def _runs(value: str) -> list[str]:
    return TOKEN.findall(_fold(value))


def _is_cjk(run: str) -> bool:
    return not run[0].isascii()


def document_tokens(value: str) -> list[str]:
    tokens: list[str] = []
    for run in _runs(value):
        if _is_cjk(run):
            tokens.extend(run)
            tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            tokens.append(run)
    return tokens


@dataclass(frozen=True)
class QueryTerm:
    token: str
    prefix: bool


def query_terms(value: str) -> list[QueryTerm]:
    terms: list[QueryTerm] = []
    for run in _runs(value):
        if not _is_cjk(run):
            terms.append(QueryTerm(run, prefix=True))
        elif len(run) == 1:
            terms.append(QueryTerm(run, prefix=False))
        else:
            terms.extend(QueryTerm(run[i : i + 2], prefix=False) for i in range(len(run) - 1))
    return terms[:32]


def document(reference: str, title: str, holder_name: str, region_code: str | None,
             details: list[str]) -> str:
    """The searchable text of one declaration, already tokenized (see the module docstring)."""
    return with_reference(reference, document_body(title, holder_name, region_code, details))


def document_body(title: str, holder_name: str, region_code: str | None,
                  details: list[str]) -> str:
    """Everything of the document but the reference number, which a bulk import learns last."""
    parts = [title, holder_name, *_region_words(region_code), *details]
    return " ".join(document_tokens(" ".join(p for p in parts if p)))


def with_reference(reference: str, body: str) -> str:
    # Tokens never span a space, so tokenizing the parts apart gives the same document.
    return " ".join([*document_tokens(reference), *([body] if body else [])])


@cache
def _region_words(code: str | None) -> tuple[str, ...]:
    if not code:
        return ()
    return code, regions.display_name(code, "zh"), regions.display_name(code, "en")


def genetic_resource_details(*, scientific_name: str, common_name: str | None, collector: str,
                             holder: str, intended_use: str, material_type) -> list[str]:
    return [scientific_name, common_name or "", collector, holder, intended_use,
            material_type.value]


def _details(decl: Declaration) -> list[str]:
    match decl:
        case GeneticResource():
            return genetic_resource_details(
                scientific_name=decl.scientific_name, common_name=decl.common_name,
                collector=decl.collector, holder=decl.holder, intended_use=decl.intended_use,
                material_type=decl.material_type)
        case DSIRecord():
            return [*decl.accessions, *(r.scientific_name for r in decl.source_resources),
                    decl.molecule_type.value]
        case TKRecord():
            from abs_registry.tk.service import register_details

            return register_details(decl)
    return []


def _primary_taxon(decl: Declaration) -> str | None:
    # associated resources belong to a TK record's protected body, its species to the summary
    names = list(decl.associated_species) if isinstance(decl, TKRecord) else decl.taxon_names
    return names[0] if names else None


def entry_values(*, declaration_id: int, reference: str, kind: Kind, title: str,
                 taxon: str | None, region_code: str | None, holder_id: int, holder_name: str,
                 registered_on: date, document: str, visibility: Visibility = Visibility.PUBLIC,
                 labels: list[str] | None = None) -> dict:
    """The register row of one declaration, from plain values (bulk imports insert these)."""
    return {
        "declaration_id": declaration_id,
        "reference": reference,
        "kind": kind,
        "title": title[:300],
        "taxon": taxon,
        "taxon_key": taxon.casefold() if taxon else None,
        "genus_key": taxon.split()[0].casefold() if taxon else None,
        "region_code": region_code,
        "province_code": regions.province_code(region_code) if region_code else None,
        "holder_id": holder_id,
        "holder_name": holder_name,
        "registered_on": registered_on,
        "visibility": visibility,
        "labels": labels or [],
        "document": document,
    }


def index(session: Session, decl: Declaration) -> None:
    code = decl.region_code
    session.add(RegisterEntry(**entry_values(
        declaration_id=decl.id,
        reference=decl.reference,
        kind=decl.kind,
        title=decl.title,
        taxon=_primary_taxon(decl),
        region_code=code,
        holder_id=decl.organization_id,
        holder_name=decl.organization.name,
        registered_on=decl.registered_at.date(),
        document=document(decl.reference, decl.title, decl.organization.name, code,
                          _details(decl)),
        visibility=decl.visibility,
        labels=[label.code for label in decl.labels] if isinstance(decl, TKRecord) else [],
    )))


def unindex(session: Session, decl: Declaration) -> None:
    entry = session.get(RegisterEntry, decl.id)
    if entry is not None:
        session.delete(entry)


@dataclass
class RegisterQuery:
    q: str | None = None
    kind: str | None = None
    taxon: str | None = None
    region: str | None = None
    holder: int | None = None
    registered_from: date | None = None
    registered_to: date | None = None
    page: int = 1
    per_page: int = 20


@dataclass
class RegisterPage:
    items: list[RegisterEntry]
    page: int
    per_page: int
    total: int
    total_is_capped: bool
    has_next: bool


# A text query matching at most this many documents is answered by walking its matches; a
# commoner one by walking the filter's index in register order, probing each entry against
# the matches, and stopping once the page and the capped total are known (SQLite only: the
# PostgreSQL planner makes this choice itself from the tsvector statistics).
FEW_MATCHES = 4000
_COUNT_MATCHES = text(
    "SELECT count(*) FROM (SELECT rowid FROM register_fts WHERE register_fts MATCH :match "
    "LIMIT :limit)"
)


def _text_filter(session: Session, terms: list[QueryTerm]):
    if session.bind.dialect.name == "postgresql":
        tsquery = " & ".join(f"{t.token}:*" if t.prefix else t.token for t in terms)
        # A stored column (migration 0004), not to_tsvector(document): computing the vector
        # per row made every plan that walks an index in register order 10x slower.
        return literal_column("register_entries.document_tsv").op("@@")(
            func.to_tsquery(literal_column("'simple'::regconfig"), tsquery)
        )
    match = " ".join(f'"{t.token}"*' if t.prefix else f'"{t.token}"' for t in terms)
    matches = text("SELECT rowid FROM register_fts WHERE register_fts MATCH :match").bindparams(
        match=match
    )
    few = session.scalar(_COUNT_MATCHES, {"match": match, "limit": FEW_MATCHES + 1}) <= FEW_MATCHES
    if few:
        return RegisterEntry.declaration_id.in_(matches)
    # "+ 0" keeps SQLite from driving the query by the matches' rowids.
    return (RegisterEntry.declaration_id + 0).in_(matches)


def _conditions(session: Session, query: RegisterQuery) -> list:
    # Only public and restricted summaries are listed: secret knowledge is never indexed,
    # and the query says so too, so that a row written by mistake is still never found.
    conditions = [RegisterEntry.visibility.in_(LISTED)]
    if query.q and (terms := query_terms(query.q)):
        conditions.append(_text_filter(session, terms))
    if query.kind:
        conditions.append(RegisterEntry.kind == Kind(query.kind))
    if query.taxon:
        key = " ".join(query.taxon.split()).casefold()
        column = RegisterEntry.genus_key if " " not in key else RegisterEntry.taxon_key
        conditions.append(column == key)
    if query.region:
        if query.region.endswith("0000"):
            conditions.append(RegisterEntry.province_code == query.region)
        elif query.region.endswith("00"):
            # a prefecture covers its counties: 532800 .. 532899
            conditions.append(RegisterEntry.region_code.between(query.region,
                                                                query.region[:4] + "99"))
        else:
            conditions.append(RegisterEntry.region_code == query.region)
    if query.holder:
        conditions.append(RegisterEntry.holder_id == query.holder)
    if query.registered_from:
        conditions.append(RegisterEntry.registered_on >= query.registered_from)
    if query.registered_to:
        conditions.append(RegisterEntry.registered_on <= query.registered_to)
    return conditions


def search(session: Session, query: RegisterQuery) -> RegisterPage:
    """The page's ids in register order, the capped total, then the page's rows.

    Two id-only queries, not one: the page walks an index in register order and stops after
    a page, while the count may take whatever path is cheapest to reach the cap, such as a
    text index; asking one walk for both made PostgreSQL visit 30,000 rows for some pages.
    """
    conditions = _conditions(session, query)
    ids = select(RegisterEntry.declaration_id).where(*conditions)
    page_ids = list(session.scalars(
        ids.order_by(RegisterEntry.registered_on.desc(), RegisterEntry.declaration_id.desc())
        .offset((query.page - 1) * query.per_page)
        .limit(query.per_page + 1)
    ))
    counted = session.scalar(
        select(func.count()).select_from(ids.limit(TOTAL_CAP + 1).subquery())
    )
    shown = page_ids[: query.per_page]
    entries = {e.declaration_id: e for e in session.scalars(
        select(RegisterEntry).where(RegisterEntry.declaration_id.in_(shown))
        .options(defer(RegisterEntry.document))
    )} if shown else {}
    return RegisterPage(
        # An entry withdrawn between the reads is left out rather than failing the page.
        items=[entries[i] for i in shown if i in entries],
        page=query.page,
        per_page=query.per_page,
        total=min(counted, TOTAL_CAP),
        total_is_capped=counted > TOTAL_CAP,
        has_next=len(page_ids) > query.per_page,
    )
