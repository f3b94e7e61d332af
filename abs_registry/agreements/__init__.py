"""Agreements (mutually agreed terms) drafted from the versioned templates in ``contracts/``.

Plain Python, no Flask: the access-application workflow calls it.

    from abs_registry import agreements

    agreements.library().all()                      # every template version, for a picker
    template = agreements.library().get("commercial_monetary", 1)
    text = agreements.draft("commercial_monetary", 1, values, terms)   # validates, renders
    text.sha256                                      # record with each party's acceptance
    text.values, text.terms                          # store these (canonical JSON) ...
    agreements.draft(..., text.values, text.terms).sha256 == text.sha256   # ... to re-render
    pdf_bytes = agreements.render_pdf(text)

Bad input raises ``abs_registry.errors.ValidationError`` (HTTP 422 through the one error
mapping) whose keys name the field: ``provider.name``, ``resources.0.reference``,
``terms.2.currency``. An unknown template or version raises ``errors.NotFound``.
"""

from __future__ import annotations

from abs_registry.agreements.render import (
    BILINGUAL,
    AgreementText,
    draft,
    render,
    text_hash,
)
from abs_registry.agreements.templates import (
    ContractTemplate,
    Parameter,
    TemplateIntegrityError,
    TemplateLibrary,
    default_library,
)
from abs_registry.agreements.terms import (
    BeneficiaryKind,
    BenefitTerm,
    Kind,
    Period,
    RoyaltyBase,
    Trigger,
    dump_terms,
    load_terms,
)


def library() -> TemplateLibrary:
    """The templates in the repository's ``contracts/``."""
    return default_library()


def render_pdf(text: AgreementText | str) -> bytes:
    """The agreement as PDF; imported lazily so that pages which never print need not load
    WeasyPrint."""
    from abs_registry.agreements.pdf import render_pdf as _render_pdf

    return _render_pdf(text)


__all__ = [
    "BILINGUAL",
    "AgreementText",
    "BenefitTerm",
    "BeneficiaryKind",
    "ContractTemplate",
    "Kind",
    "Parameter",
    "Period",
    "RoyaltyBase",
    "TemplateIntegrityError",
    "TemplateLibrary",
    "Trigger",
    "draft",
    "dump_terms",
    "library",
    "load_terms",
    "render",
    "render_pdf",
    "text_hash",
]
