"""The boundary of the community's controls: grants, the body, the access log, prior art.

The summary of a TK record is in declarations/schemas.py (TraditionalKnowledgeOut); what is
here either carries the body (TKBodyOut, only after auth.permissions.require_body) or never
does (PriorArtHitOut).
"""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from abs_registry.declarations.schemas import (
    LabelOut,
    LanguageTag,
    StrictSchema,
    TraditionalKnowledgeOut,
    TranslationTitleOut,
)


class TranslationOut(TranslationTitleOut):
    description = fields.String(allow_none=True)


class TKAttachmentOut(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    language = fields.String(allow_none=True)
    created_at = fields.DateTime()


class TKBodyOut(Schema):
    """The protected body: each read of a restricted or secret one is in the access log."""

    reference = fields.String()
    language = fields.String()
    description = fields.String()
    associated_resources = fields.Function(lambda d: [r.reference for r in d.associated_resources])
    translations = fields.List(fields.Nested(TranslationOut))
    attachments = fields.List(fields.Nested(TKAttachmentOut))


class TKUploadIn(Schema):
    file = Upload(required=True, metadata={
        "description": "PDF, PNG, JPEG, MP3, OGG or WAV, at most 10 MB, checked by content"})


class TKUploadLanguage(StrictSchema):
    language = LanguageTag(load_default=None, allow_none=True)


class GrantIn(StrictSchema):
    user = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=254),
                         metadata={"description": "the grantee's e-mail address, or"})
    organization = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(max=200),
                                 metadata={"description": "the grantee organization's name"})
    ends_on = fields.Date(required=True, metadata={"description": "last day the grant works"})
    note = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=2000))


class GrantOut(Schema):
    id = fields.Integer()
    grantee = fields.String(attribute="grantee_name")
    grantee_kind = fields.Function(lambda g: "user" if g.grantee_user_id else "organization")
    ends_on = fields.Date()
    note = fields.String(allow_none=True)
    granted_at = fields.DateTime()
    granted_by = fields.Function(lambda g: g.granted_by.display_name)
    withdrawn_at = fields.DateTime(allow_none=True)
    active = fields.Function(lambda g: g.is_active(_today()))


def _today():
    from abs_registry.tk.service import today

    return today()


class AccessEventOut(Schema):
    at = fields.DateTime()
    user = fields.Function(lambda e: e.user.display_name)
    email = fields.Function(lambda e: e.user.email)
    organization = fields.Function(
        lambda e: e.user.organization.name if e.user.organization else None)
    action = fields.String(metadata={"description": "view, download or prior_art"})
    basis = fields.String(metadata={"description": "community, clearance, grant or search"})
    via = fields.String(metadata={"description": "page or api"})
    attachment = fields.Function(lambda e: e.attachment.filename if e.attachment else None)
    detail = fields.String(allow_none=True, metadata={"description": "the prior-art query"})


class AccessLogQuery(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))


class AccessLogOut(Schema):
    items = fields.List(fields.Nested(AccessEventOut))
    page = fields.Integer()
    has_next = fields.Boolean()


class PriorArtQueryIn(StrictSchema):
    q = fields.String(load_default=None, validate=validate.Length(max=200))
    species = fields.String(load_default=None, validate=validate.Length(max=200))


class CommunityOut(Schema):
    name = fields.String()
    region_code = fields.String(allow_none=True)


class PriorArtHitOut(TraditionalKnowledgeOut):
    """That the knowledge exists, its summary and whom to ask: never its body."""

    reference = fields.String()
    visibility = fields.String()
    registered_at = fields.DateTime()
    community = fields.Function(lambda d: CommunityOut().dump(d.organization))
    contact = fields.Function(lambda d: f"/declarations/{d.reference}", metadata={
        "description": "the record's page, where the community is named; ask it there"})


class LabelDefOut(Schema):
    code = fields.String()
    name = fields.Dict(keys=fields.String(), values=fields.String())
    text = fields.Dict(keys=fields.String(), values=fields.String())


__all__ = ["LabelOut"]
