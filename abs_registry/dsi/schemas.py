"""What the sequence endpoints accept and show."""

from __future__ import annotations

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from abs_registry.declarations.schemas import StrictSchema


class SequenceFileIn(Schema):
    file = Upload(required=True, metadata={
        "description": "FASTA or GenBank, optionally gzip-compressed; every record is checked "
                       "against the declaration's molecule type and one bad record refuses "
                       "the whole file"})


class UploadOut(Schema):
    filename = fields.String()
    format = fields.String()
    gzip = fields.Boolean(attribute="gzipped")
    size = fields.Integer(metadata={"description": "bytes as sent"})
    sha256 = fields.String(metadata={"description": "SHA-256 of the file as sent"})
    sequences = fields.Integer(attribute="sequence_count")
    residues = fields.Integer(attribute="total_residues")
    uploaded_at = fields.DateTime()


class SequenceQuery(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    include = fields.String(load_default=None, validate=validate.OneOf(["sequence"]), metadata={
        "description": "'sequence' adds the residues (declarant, officials, or anyone once "
                       "the declaration is public and registered)"})


class SequenceOut(Schema):
    identifier = fields.String()
    description = fields.String()
    molecule_type = fields.String()
    length = fields.Integer()
    source_organism = fields.String(allow_none=True)
    accessions = fields.List(fields.String())
    seguid = fields.String(metadata={"description": "SEGUID of the normalized sequence"})
    sha256 = fields.String(metadata={"description": "SHA-256 of the normalized sequence "
                                                    "(upper case, no whitespace, RNA with U)"})


class SequenceWithResidues(SequenceOut):
    sequence = fields.String(attribute="residues", metadata={
        "description": "only with include=sequence"})


class SequencePageOut(Schema):
    items = fields.List(fields.Nested(SequenceWithResidues))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
