"""The public transparency log: tree heads, entries with inclusion proofs, consistency proofs.

No sign-in: anyone may monitor the log. The one seam to configure is the signing key:
``app.config["LOG_SIGNER"]`` holds a ``NoteSigner`` (a key name and an Ed25519 private key),
or a function of no arguments that returns one, so a rotated key is picked up without a
restart; the permit signing-keys module supplies it. ``app.config["LOG_ORIGIN"]`` names the
log in its checkpoints (default: the public URL's host followed by ``/log``). Without a
signer the checkpoint answers 404 and the tree head carries no checkpoint. Answers are
signed on the fly and nothing is written on a GET; ``abs-registry log publish`` and
``service.publish_checkpoint`` keep signed heads for ``log verify``.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from abs_registry.errors import Conflict, DomainError
from abs_registry.translog import service
from abs_registry.translog.checkpoint import NoteSigner
from abs_registry.web import context

blp = Blueprint("translog_api", __name__, url_prefix="/api/v1/log",
                description="The public transparency log (RFC 9162): signed tree heads, "
                            "entries, inclusion and consistency proofs. Hashes are hex.")

# Sizes and indexes are 64-bit in the database; larger numbers are refused by name here.
MAX_INT = 2**63 - 1


class NoSigningKey(DomainError):
    """Nothing to show until a signing key is configured; a 404, as for any missing resource."""

    status = 404


def init_app(app, api) -> None:
    host = urlsplit(app.extensions["abs"].settings.public_url).netloc or "abs-registry"
    app.config.setdefault("LOG_ORIGIN", f"{host}/log")
    app.config.setdefault("LOG_SIGNER", authority_signer)
    api.register_blueprint(blp)


def authority_signer() -> NoteSigner | None:
    """The authority's permit-signing key in service now: a monitor that trusts our JWK Set
    can check checkpoints with the same key."""
    try:
        _kid, key = current_app.extensions["abs"].keys.active(context.db())
    except Conflict:
        return None
    return NoteSigner(name=current_app.config["LOG_ORIGIN"], key=key)


def configured_signer() -> NoteSigner | None:
    configured = current_app.config.get("LOG_SIGNER")
    return configured() if callable(configured) else configured


def _checkpoint(signer: NoteSigner):
    return service.checkpoint(context.db(), current_app.config["LOG_ORIGIN"], signer)


# --- parameters -------------------------------------------------------------------------------


def _whole(minimum: int, **kwargs):
    return fields.Integer(strict=False, validate=validate.Range(min=minimum, max=MAX_INT),
                          **kwargs)


class IndexPath(Schema):
    index = _whole(0, required=True)


INDEX_PATH = IndexPath()


class EntryQuery(Schema):
    tree_size = _whole(1, load_default=None, metadata={
        "description": "prove inclusion in the tree of this size (default: the current one)"})


class PageQuery(Schema):
    start = _whole(0, load_default=0)
    end = _whole(0, load_default=None, metadata={
        "description": f"exclusive; at most start + {service.PAGE_LIMIT}"})


class ConsistencyQuery(Schema):
    first = _whole(1, required=True)
    second = _whole(1, load_default=None, metadata={"description": "default: the current size"})


# --- answers ----------------------------------------------------------------------------------
# Views build plain dicts with the functions below; the schemas describe them for OpenAPI.


class TreeHeadOut(Schema):
    size = fields.Integer()
    root_hash = fields.String(metadata={"description": "hex"})
    root_hash_base64 = fields.String(metadata={"description": "as in the checkpoint"})
    checkpoint = fields.String(allow_none=True, metadata={
        "description": "the C2SP signed note of this head, or null without a signing key"})


class InclusionOut(Schema):
    tree_size = fields.Integer()
    root_hash = fields.String()
    hashes = fields.List(fields.String(), metadata={"description": "audit path, leaf first"})


class EntryOut(Schema):
    index = fields.Integer()
    kind = fields.String()
    subject_ref = fields.String()
    created_at = fields.DateTime()
    entry = fields.String(metadata={"description": "the bytes the leaf hash covers, base64"})
    content = fields.Raw(metadata={"description": "the same entry, parsed"})
    leaf_hash = fields.String(metadata={"description": "SHA-256(0x00 || entry)"})


class EntryWithProof(EntryOut):
    inclusion_proof = fields.Nested(InclusionOut)


class EntryPage(Schema):
    start = fields.Integer()
    end = fields.Integer()
    tree_size = fields.Integer()
    items = fields.List(fields.Nested(EntryOut))


class ConsistencyOut(Schema):
    first = fields.Integer()
    second = fields.Integer()
    first_root = fields.String()
    second_root = fields.String()
    hashes = fields.List(fields.String())


def _head(size: int, root: bytes, note: str | None) -> dict:
    return {"size": size, "root_hash": root.hex(),
            "root_hash_base64": base64.b64encode(root).decode(), "checkpoint": note}


def _entry(row) -> dict:
    return {"index": row.leaf_index, "kind": row.kind, "subject_ref": row.subject_ref,
            "created_at": row.created_at, "entry": base64.b64encode(row.entry).decode(),
            "content": json.loads(row.entry), "leaf_hash": row.leaf_hash.hex()}


def _inclusion(proof: service.InclusionProof) -> dict:
    return {"tree_size": proof.tree_size, "root_hash": proof.root_hash.hex(),
            "hashes": [h.hex() for h in proof.hashes]}


def _consistency(proof: service.ConsistencyProof) -> dict:
    return {"first": proof.first, "second": proof.second,
            "first_root": proof.first_root.hex(), "second_root": proof.second_root.hex(),
            "hashes": [h.hex() for h in proof.hashes]}


# --- endpoints --------------------------------------------------------------------------------


@blp.route("/checkpoint", methods=["GET"])
@blp.doc(responses={"200": {"description": "the signed tree head as a C2SP checkpoint",
                            "content": {"text/plain": {"schema": {"type": "string"}}}}})
def checkpoint():
    """The current signed tree head (https://c2sp.org/tlog-checkpoint), as text."""
    signer = configured_signer()
    if signer is None:
        raise NoSigningKey("no checkpoint: the log's signing key is not configured",
                           field="checkpoint")
    return Response(_checkpoint(signer).note, mimetype="text/plain")


@blp.route("/tree-head", methods=["GET"])
@blp.response(200, TreeHeadOut)
def tree_head():
    """The current size and root hash, with their signed checkpoint."""
    signer = configured_signer()
    if signer is None:
        head = service.tree_head(context.db())
        return _head(head.size, head.root_hash, None)
    signed = _checkpoint(signer)
    return _head(signed.size, signed.root_hash, signed.note)


@blp.route("/entries/<index>", methods=["GET"])
@blp.arguments(EntryQuery, location="query", unknown=RAISE)
@blp.response(200, EntryWithProof)
def entry(query, index):
    """One entry with its inclusion proof in the current tree, or in ``tree_size``."""
    index = INDEX_PATH.load({"index": index})["index"]
    session = context.db()
    found = _entry(service.entry_at(session, index))
    proof = service.inclusion_proof(session, index, query["tree_size"])
    return {**found, "inclusion_proof": _inclusion(proof)}


@blp.route("/entries", methods=["GET"])
@blp.arguments(PageQuery, location="query", unknown=RAISE)
@blp.response(200, EntryPage)
def entries(query):
    """Entries [start, end) in order, at most 100 at a time (end is cut at the log's size)."""
    session = context.db()
    items = service.entries(session, query["start"], query["end"])
    return {"start": query["start"], "end": query["start"] + len(items),
            "tree_size": service.tree_head(session).size, "items": [_entry(e) for e in items]}


@blp.route("/proof/consistency", methods=["GET"])
@blp.arguments(ConsistencyQuery, location="query", unknown=RAISE)
@blp.response(200, ConsistencyOut)
def consistency(query):
    """The proof that the tree of ``first`` entries is a prefix of the tree of ``second``."""
    return _consistency(service.consistency_proof(context.db(), query["first"], query["second"]))
