"""The transparency log through its public interfaces: the service the permit code calls, the
public JSON API an outside monitor uses, and ``abs-registry log verify``.

Every proof the API serves is checked with the RFC 9162 verifier against roots computed
here from the entries themselves, not against what the server says its root is.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from abs_registry.config import REPO_ROOT
from abs_registry.db import unit_of_work
from abs_registry.errors import Conflict, ValidationError
from abs_registry.translog import merkle, service
from abs_registry.translog.checkpoint import (
    InvalidCheckpoint,
    NoteSigner,
    key_id,
    verify_checkpoint,
)
from abs_registry.translog.models import LogCheckpoint, LogEntry
from tests.conftest import ON_POSTGRES


@pytest.fixture
def signer(app) -> NoteSigner:
    """The seam the permit keys module fills: an ephemeral key for the tests."""
    signer = NoteSigner("abs-registry-test-log", Ed25519PrivateKey.generate())
    app.config["LOG_SIGNER"] = signer
    return signer


def entry_bytes(n: int) -> bytes:
    return json.dumps({"permit": f"CN-ABS-2026-{n:06d}", "status": "issued"},
                      separators=(",", ":"), sort_keys=True).encode()


def append(session, n: int, kind: str = "permit_issued") -> LogEntry:
    with unit_of_work(session):
        return service.append(session, kind, f"CN-ABS-2026-{n:06d}", entry_bytes(n))


def fill(session, count: int) -> list[bytes]:
    for n in range(count):
        append(session, n)
    return [merkle.leaf_hash(entry_bytes(n)) for n in range(count)]


def roots_by_size(leaves: list[bytes]) -> dict[int, bytes]:
    """The root of every prefix of the log, computed here from the entries."""
    tree, roots = merkle.TreeBuilder(), {}
    for leaf in leaves:
        tree.append(leaf)
        roots[tree.size] = tree.root()
    return roots


def log_size(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(LogEntry))


def unhex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# --- appending --------------------------------------------------------------------------------


def test_append_gives_gapless_indexes_and_keeps_what_the_caller_gave(session):
    rows = [append(session, n) for n in range(5)]
    assert [r.leaf_index for r in rows] == [0, 1, 2, 3, 4]
    stored = session.get(LogEntry, 3)
    assert stored.entry == entry_bytes(3)
    assert stored.leaf_hash == merkle.leaf_hash(entry_bytes(3))
    assert (stored.kind, stored.subject_ref) == ("permit_issued", "CN-ABS-2026-000003")
    head = service.tree_head(session)
    assert head.size == 5
    assert head.root_hash == roots_by_size([merkle.leaf_hash(entry_bytes(n))
                                            for n in range(5)])[5]


def test_the_same_entry_twice_is_refused_naming_the_first(session):
    fill(session, 3)
    with pytest.raises(Conflict) as refused, unit_of_work(session):
        service.append(session, "permit_amended", "CN-ABS-2026-000001", entry_bytes(1))
    assert refused.value.status == 409
    assert refused.value.details == {"index": 1}
    assert "index 1" in refused.value.message
    assert log_size(session) == 3
    assert service.tree_head(session).size == 3


def test_a_refused_duplicate_leaves_the_callers_transaction_usable(session):
    """The permit service may catch the 409 and go on: the head must not have moved."""
    fill(session, 2)
    with unit_of_work(session):
        with pytest.raises(Conflict):
            service.append(session, "permit_issued", "CN-ABS-2026-000000", entry_bytes(0))
        service.append(session, "permit_issued", "CN-ABS-2026-000009", entry_bytes(9))
    assert service.tree_head(session).size == 3
    assert service.verify_log(session).ok


@pytest.mark.parametrize(("kind", "ref", "entry", "field"), [
    ("", "CN-1", b"{}", "kind"),
    ("k" * 41, "CN-1", b"{}", "kind"),
    ("permit_issued", "", b"{}", "subject_ref"),
    ("permit_issued", "CN-1", b"", "entry"),
    ("permit_issued", "CN-1", b"not json", "entry"),
    ("permit_issued", "CN-1", "{}", "entry"),
    ("permit_issued", "CN-1", b"[" * 10 + b"]" * 10 + b" " * service.MAX_ENTRY_BYTES, "entry"),
])
def test_append_refuses_bad_input_by_field(session, kind, ref, entry, field):
    fill(session, 1)
    with pytest.raises(ValidationError) as refused, unit_of_work(session):
        service.append(session, kind, ref, entry)
    assert field in refused.value.errors
    assert log_size(session) == 1


# --- the API: proofs an outside monitor can check ---------------------------------------------


def test_every_inclusion_proof_from_the_api_verifies(client, session):
    leaves = fill(session, 13)
    roots = roots_by_size(leaves)
    for index in range(13):
        body = client.get(f"/api/v1/log/entries/{index}").get_json()
        assert body["index"] == index
        assert base64.b64decode(body["entry"]) == entry_bytes(index)
        assert body["content"] == json.loads(entry_bytes(index))
        assert bytes.fromhex(body["leaf_hash"]) == leaves[index]
        proof = body["inclusion_proof"]
        assert proof["tree_size"] == 13
        assert bytes.fromhex(proof["root_hash"]) == roots[13]
        merkle.verify_inclusion(leaves[index], index, 13, unhex(proof["hashes"]), roots[13])
        for size in range(index + 1, 14):
            proof = client.get(f"/api/v1/log/entries/{index}?tree_size={size}") \
                .get_json()["inclusion_proof"]
            merkle.verify_inclusion(leaves[index], index, size, unhex(proof["hashes"]),
                                    roots[size])


def test_every_consistency_proof_from_the_api_verifies(client, session):
    roots = roots_by_size(fill(session, 11))
    for second in range(1, 12):
        for first in range(1, second + 1):
            response = client.get(f"/api/v1/log/proof/consistency?first={first}"
                                  f"&second={second}")
            body = response.get_json()
            assert response.status_code == 200, body
            assert (bytes.fromhex(body["first_root"]), bytes.fromhex(body["second_root"])) \
                == (roots[first], roots[second])
            merkle.verify_consistency(first, second, roots[first], roots[second],
                                      unhex(body["hashes"]))
    body = client.get("/api/v1/log/proof/consistency?first=4").get_json()
    assert body["second"] == 11
    merkle.verify_consistency(4, 11, roots[4], roots[11], unhex(body["hashes"]))


def test_the_log_grows_consistently_with_what_a_monitor_saw_before(client, session, signer):
    fill(session, 6)
    seen = verify_checkpoint(client.get("/api/v1/log/checkpoint").get_data(as_text=True),
                             signer.name, signer.public_key)
    for n in range(6, 20):
        append(session, n)
    now = verify_checkpoint(client.get("/api/v1/log/checkpoint").get_data(as_text=True),
                            signer.name, signer.public_key)
    proof = client.get(f"/api/v1/log/proof/consistency?first={seen.size}&second={now.size}")
    merkle.verify_consistency(seen.size, now.size, seen.root_hash, now.root_hash,
                              unhex(proof.get_json()["hashes"]))


def test_entries_are_listed_by_bounded_pages(client, session):
    fill(session, 7)
    body = client.get("/api/v1/log/entries?start=2&end=5").get_json()
    assert (body["start"], body["end"], body["tree_size"]) == (2, 5, 7)
    assert [item["index"] for item in body["items"]] == [2, 3, 4]
    assert body["items"][0]["subject_ref"] == "CN-ABS-2026-000002"
    assert "inclusion_proof" not in body["items"][0]
    assert [i["index"] for i in client.get("/api/v1/log/entries").get_json()["items"]] \
        == list(range(7))
    cut = client.get("/api/v1/log/entries?start=5&end=9000").get_json()
    assert ([i["index"] for i in cut["items"]], cut["end"]) == ([5, 6], 7)
    assert client.get("/api/v1/log/entries?start=7").get_json()["items"] == []


def test_an_empty_log_has_the_empty_root(client, signer):
    body = client.get("/api/v1/log/tree-head").get_json()
    assert body["size"] == 0
    assert body["root_hash"] == merkle.EMPTY_ROOT.hex()
    assert verify_checkpoint(body["checkpoint"], signer.name, signer.public_key).size == 0
    assert client.get("/api/v1/log/entries").get_json()["items"] == []


LIMIT = 2**63 - 1
BAD_PARAMETERS = [
    ("/api/v1/log/entries/5", "index"),
    ("/api/v1/log/entries/-1", "index"),
    ("/api/v1/log/entries/abc", "index"),
    ("/api/v1/log/entries/1.5", "index"),
    (f"/api/v1/log/entries/{LIMIT}", "index"),
    (f"/api/v1/log/entries/{10**30}", "index"),
    ("/api/v1/log/entries/0?tree_size=0", "tree_size"),
    ("/api/v1/log/entries/0?tree_size=4", "tree_size"),
    ("/api/v1/log/entries/2?tree_size=2", "index"),
    ("/api/v1/log/entries/0?tree_size=two", "tree_size"),
    (f"/api/v1/log/entries/0?tree_size={10**30}", "tree_size"),
    ("/api/v1/log/entries/0?size=2", "size"),
    ("/api/v1/log/entries?start=4", "start"),
    ("/api/v1/log/entries?start=-1", "start"),
    (f"/api/v1/log/entries?start={10**30}", "start"),
    ("/api/v1/log/entries?start=0&end=x", "end"),
    ("/api/v1/log/entries?start=2&end=1", "end"),
    ("/api/v1/log/proof/consistency", "first"),
    ("/api/v1/log/proof/consistency?first=0&second=2", "first"),
    ("/api/v1/log/proof/consistency?first=3&second=2", "first"),
    ("/api/v1/log/proof/consistency?first=1&second=4", "second"),
    ("/api/v1/log/proof/consistency?first=1e3", "first"),
    (f"/api/v1/log/proof/consistency?first=1&second={LIMIT}", "second"),
    (f"/api/v1/log/proof/consistency?first=1&second={10**30}", "second"),
]


@pytest.mark.parametrize(("url", "field"), BAD_PARAMETERS)
def test_bad_parameters_are_named_in_a_4xx(client, session, url, field):
    fill(session, 3)
    response = client.get(url)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert field in response.get_json()["errors"], response.get_json()
    assert log_size(session) == 3


numbers_or_text = st.one_of(st.integers(-2**70, 2**70).map(str), st.text(max_size=30))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=numbers_or_text, a=numbers_or_text, b=numbers_or_text)
def test_no_parameter_makes_the_log_api_fail(client, session, index, a, b):
    if not log_size(session):
        fill(session, 3)
    for path, query in ((f"/api/v1/log/entries/{quote(index, safe='')}", {"tree_size": a}),
                        ("/api/v1/log/entries", {"start": a, "end": b}),
                        ("/api/v1/log/proof/consistency", {"first": a, "second": b})):
        response = client.get(path, query_string=query)
        assert response.status_code < 500, (path, query, response.get_data(as_text=True))
        if response.status_code >= 400:
            assert response.get_json()["errors"]


def test_large_pages_are_refused(client, session):
    fill(session, 105)
    response = client.get("/api/v1/log/entries?start=0&end=101")
    assert response.status_code == 422
    assert "end" in response.get_json()["errors"]
    assert len(client.get("/api/v1/log/entries?start=0&end=100").get_json()["items"]) == 100


# --- checkpoints --------------------------------------------------------------------------------


def test_checkpoint_is_a_signed_note_anyone_can_verify(client, session, signer):
    leaves = fill(session, 5)
    response = client.get("/api/v1/log/checkpoint")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    note = response.get_data(as_text=True)
    origin = client.application.config["LOG_ORIGIN"]
    text, signature = note.split("\n\n")
    assert text == f"{origin}\n5\n{base64.b64encode(roots_by_size(leaves)[5]).decode()}"
    name, blob = signature.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(blob)
    assert name == signer.name
    assert raw[:4] == key_id(signer.name, signer.public_key)
    signer.public_key.verify(raw[4:], (text + "\n").encode())  # raises if not valid

    checked = verify_checkpoint(note, signer.name, signer.public_key, origin=origin)
    assert (checked.size, checked.root_hash) == (5, roots_by_size(leaves)[5])
    head = client.get("/api/v1/log/tree-head").get_json()
    assert head["checkpoint"] == note
    assert base64.b64decode(head["root_hash_base64"]) == bytes.fromhex(head["root_hash"])


def test_a_checkpoint_is_refused_with_another_key_or_changed(client, session, signer):
    fill(session, 2)
    note = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(InvalidCheckpoint, match="no signature"):
        verify_checkpoint(note, signer.name, other)
    with pytest.raises(InvalidCheckpoint, match="no signature"):
        verify_checkpoint(note, "someone-else", signer.public_key)
    with pytest.raises(InvalidCheckpoint, match="does not verify"):
        verify_checkpoint(note.replace("\n2\n", "\n3\n", 1), signer.name, signer.public_key)
    with pytest.raises(InvalidCheckpoint, match="not for|is for"):
        verify_checkpoint(note, signer.name, signer.public_key, origin="elsewhere.example/log")
    for broken in ("", note.replace("\n\n", "\n"), note.split("\n", 1)[1], note + "x"):
        with pytest.raises(InvalidCheckpoint):
            verify_checkpoint(broken, signer.name, signer.public_key)


def log_publish(app):
    result = app.test_cli_runner().invoke(args=["log", "publish"])
    assert result.exit_code == 0, result.output
    return result.output


def kept_sizes(session) -> list[int]:
    session.rollback()
    return session.scalars(select(LogCheckpoint.tree_size).order_by(LogCheckpoint.id)).all()


def test_a_get_writes_nothing_and_publishing_keeps_each_head_once(app, client, session, signer):
    fill(session, 3)
    served = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    assert client.get("/api/v1/log/tree-head").get_json()["checkpoint"] == served
    assert kept_sizes(session) == []
    assert log_publish(app) == served  # deterministic signatures: the same note
    assert log_publish(app) == served
    assert kept_sizes(session) == [3]
    with unit_of_work(session):  # as the permit service will: append, then publish
        service.append(session, "permit_issued", "CN-ABS-2026-000003", entry_bytes(3))
        published = service.publish_checkpoint(session, app.config["LOG_ORIGIN"], signer)
    assert published.size == 4
    assert client.get("/api/v1/log/checkpoint").get_data(as_text=True) == published.note
    assert kept_sizes(session) == [3, 4]


def test_without_a_signing_key_there_is_no_checkpoint(app, client, session):
    fill(session, 2)
    response = client.get("/api/v1/log/checkpoint")
    assert response.status_code == 404
    assert "checkpoint" in response.get_json()["errors"]
    body = client.get("/api/v1/log/tree-head").get_json()
    assert (body["size"], body["checkpoint"]) == (2, None)
    result = app.test_cli_runner().invoke(args=["log", "publish"])
    assert result.exit_code != 0
    assert "LOG_SIGNER" in result.output
    assert kept_sizes(session) == []


def test_the_signer_may_be_a_function_so_rotation_needs_no_restart(app, client, session):
    keys = [NoteSigner("log-2026", Ed25519PrivateKey.generate())]
    app.config["LOG_SIGNER"] = lambda: keys[-1]
    fill(session, 1)
    note = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    verify_checkpoint(note, "log-2026", keys[0].public_key)
    keys.append(NoteSigner("log-2027", Ed25519PrivateKey.generate()))
    note = client.get("/api/v1/log/checkpoint").get_data(as_text=True)
    verify_checkpoint(note, "log-2027", keys[1].public_key)


def test_the_log_is_public_and_documented(client, session):
    fill(session, 1)
    assert client.get("/api/v1/log/entries/0").status_code == 200
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/log/checkpoint", "/api/v1/log/tree-head", "/api/v1/log/entries",
            "/api/v1/log/entries/{index}", "/api/v1/log/proof/consistency"} <= set(paths)


# --- the database refuses rewrites; log verify catches whoever gets past that ---------------


def _migration():
    path = REPO_ROOT / "migrations" / "versions" / "0007_transparency_log.py"
    spec = importlib.util.spec_from_file_location("_translog_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("statement", [
    "UPDATE log_entries SET kind = 'permit_revoked' WHERE leaf_index = 1",
    "UPDATE log_entries SET leaf_index = leaf_index + 100",
    "DELETE FROM log_entries WHERE leaf_index = 2",
    "DELETE FROM log_entries",
    "UPDATE log_checkpoints SET note = 'rewritten'",
    "DELETE FROM log_checkpoints",
])
def test_database_refuses_update_and_delete_of_the_log(app, session, signer, statement):
    fill(session, 3)
    log_publish(app)
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(text(statement))
    session.rollback()
    assert log_size(session) == 3
    assert service.verify_log(session).checkpoints == 1


@pytest.fixture
def unguarded(app):
    """An attacker with SQL access drops the triggers; they come back for the next test."""
    migration = _migration()
    engine = app.extensions["abs"].engine
    tables = migration.APPEND_ONLY_TABLES
    if ON_POSTGRES:
        drop = [f"DROP TRIGGER {t}_no_change ON {t}" for t in tables]
        drop += [f"DROP FUNCTION {t}_append_only()" for t in tables]
        create = [s for t in tables for s in migration.postgres_append_only(t)]
    else:
        drop = [f"DROP TRIGGER {t}_no_{what}" for t in tables for what in ("update", "delete")]
        create = [s for t in tables for s in migration.sqlite_append_only(t)]
    with engine.begin() as conn:
        for statement in drop:
            conn.execute(text(statement))
    yield engine
    with engine.begin() as conn:
        for statement in create:
            conn.execute(text(statement))


def log_verify(app):
    return app.test_cli_runner().invoke(args=["log", "verify"])


def _tamper(engine, statement: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def test_log_verify_passes_an_intact_log(app, session, signer):
    fill(session, 9)
    log_publish(app)
    for n in range(9, 12):
        append(session, n)
    log_publish(app)
    result = log_verify(app)
    assert result.exit_code == 0, result.output
    root = roots_by_size([merkle.leaf_hash(entry_bytes(n)) for n in range(12)])[12]
    assert f"log intact: 12 entries, root {root.hex()}, 2 published checkpoint(s) match" \
        in result.output


TAMPERING = {
    "edit an entry": ("UPDATE log_entries SET entry = :entry WHERE leaf_index = 5",
                      {"entry": entry_bytes(500)}, 5, "leaf hash"),
    "edit an entry and its leaf hash": (
        "UPDATE log_entries SET entry = :entry, leaf_hash = :leaf WHERE leaf_index = 5",
        {"entry": entry_bytes(500), "leaf": merkle.leaf_hash(entry_bytes(500))}, 5,
        "subtree hashes"),
    "edit a subtree hash": ("UPDATE log_entries SET subtree_hashes = :h WHERE leaf_index = 7",
                            {"h": b"\x00" * 96}, 7, "subtree hashes"),
    "delete an entry": ("DELETE FROM log_entries WHERE leaf_index = 4", {}, 4, "missing"),
    "cut the last entry": ("DELETE FROM log_entries WHERE leaf_index = 9", {}, 9, "head"),
    "move the head back": ("UPDATE log_head SET size = 8", {}, 8, "head"),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_log_verify_names_the_first_tampered_entry(app, session, unguarded, how):
    fill(session, 10)
    assert log_verify(app).exit_code == 0
    statement, params, index, problem = TAMPERING[how]
    _tamper(unguarded, statement, **params)
    result = log_verify(app)
    assert result.exit_code != 0
    assert f"log is broken at index {index}:" in result.output, result.output
    assert problem in result.output


def test_log_verify_catches_a_rewritten_tree_by_its_published_checkpoint(
        app, session, signer, unguarded):
    """Rewriting an entry and every hash above it fits the table, not what was published."""
    fill(session, 8)
    log_publish(app)
    forged = [entry_bytes(n) for n in range(8)]
    forged[2] = entry_bytes(222)
    tree = merkle.TreeBuilder()
    with unguarded.begin() as conn:
        for index, entry in enumerate(forged):
            leaf = merkle.leaf_hash(entry)
            completed = b"".join(tree.append(leaf))
            conn.execute(text("UPDATE log_entries SET entry = :e, leaf_hash = :l, "
                              "subtree_hashes = :s WHERE leaf_index = :i"),
                         {"e": entry, "l": leaf, "s": completed, "i": index})
        conn.execute(text("UPDATE log_head SET root_hash = :r"), {"r": tree.root()})
    result = log_verify(app)
    assert result.exit_code != 0
    assert "log is broken at index 7: the checkpoint published" in result.output, result.output
    assert "for size 8" in result.output
