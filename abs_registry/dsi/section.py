"""The sequences part of a DSI declaration's page: what it lists and what the reader may do."""

from __future__ import annotations

from dataclasses import dataclass

from abs_registry.auth import permissions as perm
from abs_registry.auth.models import User
from abs_registry.declarations.models import Declaration, Kind
from abs_registry.dsi.models import DSIUpload
from abs_registry.dsi.service import SequencePage, SequenceService

PER_PAGE = 100


@dataclass
class SequenceSection:
    page: SequencePage
    uploads: list[DSIUpload]
    may_view: bool  # the residues (FASTA downloads); fingerprints are shown to every viewer
    may_upload: bool
    max_mb: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.page.total // self.page.per_page))


def section(service: SequenceService, actor: User | None, decl: Declaration,
            page: int = 1) -> SequenceSection | None:
    if decl.kind != Kind.DSI:
        return None
    _decl, listed = service.page(actor, decl.reference, max(page, 1), PER_PAGE)
    return SequenceSection(page=listed, uploads=service.uploads(actor, decl),
                           may_view=perm.may_view_sequences(actor, decl),
                           may_upload=perm.may_upload_sequences(actor, decl),
                           max_mb=service.limits.max_bytes // 2**20)
