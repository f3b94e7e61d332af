"""Bulk import from a legacy register: `abs-registry declarations import FILE --org NAME`.

Imported records must be indistinguishable from declared ones where it matters: readable
through the API with the fields of the file, numbered in the same gapless series, each with
its history event in an intact chain, flagged against the key list, and (when registered)
found in the public register. A file with one bad row stores nothing at all.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from abs_registry.audit.models import AuditEvent
from abs_registry.declarations import importer, keylist
from abs_registry.declarations.models import Declaration, RegisterEntry
from abs_registry.references import Counter
from tests.conftest import gr_payload

YEAR = date.today().year


def rows(n: int, **overrides) -> list[dict]:
    return [gr_payload(collector=f"Collector {i}", common_name=f"wild rice lot{i}",
                       **overrides) for i in range(1, n + 1)]


def write_jsonl(path, records: list) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
                            + "\n" for r in records), encoding="utf-8")
    return str(path)


def run_import(app, path: str, *args: str):
    return app.test_cli_runner().invoke(args=["declarations", "import", path, *args])


def ref(number: int) -> str:
    return f"CN-GR-{YEAR}-{number:06d}"


def counts(session) -> tuple[int, int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Declaration)),
            session.scalar(select(func.count()).select_from(RegisterEntry)),
            session.scalar(select(func.count()).where(AuditEvent.action == "import")))


@pytest.fixture
def member(world):
    return world.member(world.org(name="Xishuangbanna Germplasm Bank"))


def test_imported_records_are_read_numbered_historied_and_found_like_declared_ones(
        app, client, session, world, member, tmp_path):
    path = write_jsonl(tmp_path / "legacy.jsonl", rows(3))
    result = run_import(app, path, "--org", "Xishuangbanna Germplasm Bank")
    assert result.exit_code == 0, result.output
    assert "imported 3 declarations as registered" in result.output
    assert f"{ref(1)} to {ref(3)}" in result.output
    headers = world.headers(member)

    for number in (1, 2, 3):
        answer = client.get(f"/api/v1/declarations/{ref(number)}")
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert body["status"] == "registered" and body["kind"] == "genetic_resource"
        assert body["organization"]["name"] == "Xishuangbanna Germplasm Bank"
        gr = body["genetic_resource"]
        assert gr["scientific_name"] == "Oryza sativa"
        assert gr["collector"] == f"Collector {number}"
        assert gr["common_name"] == f"wild rice lot{number}"
        assert Decimal(gr["latitude"]) == Decimal("21.95")
        assert Decimal(gr["quantity"]) == Decimal("1.5")
        assert gr["collection_date"] == "2025-10-12"
        history = client.get(f"/api/v1/declarations/{ref(number)}/history",
                             headers=headers).get_json()
        assert [(e["action"], e["to_state"], e["actor"]) for e in history] == [
            ("import", "registered", "system")]
        assert history[0]["data"] == {"source": "legacy.jsonl", "line": number}

    found = client.get("/api/v1/register", query_string={"q": "lot2"}).get_json()
    assert [i["reference"] for i in found["items"]] == [ref(2)]
    by_holder = client.get("/api/v1/register", query_string={
        "q": "drought", "holder": member.organization_id}).get_json()
    assert sorted(i["reference"] for i in by_holder["items"]) == [ref(1), ref(2), ref(3)]

    verified = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "history intact" in verified.output


def test_numbers_continue_the_series_without_gaps_around_an_import(app, client, world, member,
                                                                  tmp_path):
    first = world.declare(member)
    path = write_jsonl(tmp_path / "legacy.jsonl", rows(2))
    assert run_import(app, path, "--org", member.organization.name).exit_code == 0
    after = client.post("/api/v1/declarations/genetic-resources", json=gr_payload(),
                        headers=world.headers(member)).get_json()
    assert [first.reference, after["reference"]] == [ref(1), ref(4)]
    assert client.get(f"/api/v1/declarations/{ref(3)}").status_code == 200
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def test_batches_share_one_transaction_and_the_chain_stays_valid(app, session, member,
                                                                 tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 2)
    path = write_jsonl(tmp_path / "legacy.jsonl", rows(5))
    result = run_import(app, path, "--org", member.organization.name)
    assert result.exit_code == 0, result.output
    assert counts(session) == (5, 5, 5)
    session.expire_all()
    assert session.get(Counter, f"GR-{YEAR}").value == 5
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def test_key_list_taxa_are_flagged(app, client, session, world, member, tmp_path):
    keylist.import_list(session, None, "scientific_name,rank\nPanax,genus\n")
    records = rows(1) + [gr_payload(scientific_name="Panax notoginseng", common_name="sanqi")]
    path = write_jsonl(tmp_path / "legacy.jsonl", records)
    assert run_import(app, path, "--org", member.organization.name,
                      "--status", "submitted").exit_code == 0
    official = world.official()
    headers = world.headers(official)
    plain = client.get(f"/api/v1/declarations/{ref(1)}", headers=headers).get_json()
    flagged = client.get(f"/api/v1/declarations/{ref(2)}", headers=headers).get_json()
    assert (plain["needs_national_review"], plain["key_list_matches"]) == (False, [])
    assert (flagged["needs_national_review"], flagged["key_list_matches"]) == (True, ["Panax"])
    queue = client.get("/api/v1/review-queue", headers=headers).get_json()
    assert [d["reference"] for d in queue] == [ref(1), ref(2)]
    assert "register" not in flagged["allowed_actions"]  # a provincial official may not


def test_drafts_stay_with_their_organization_and_out_of_the_register(app, client, world,
                                                                     member, tmp_path):
    path = write_jsonl(tmp_path / "legacy.jsonl", rows(2))
    assert run_import(app, path, "--org", member.organization.name,
                      "--status", "draft").exit_code == 0
    own = client.get("/api/v1/declarations", headers=world.headers(member)).get_json()
    assert sorted((d["reference"], d["status"]) for d in own) == [
        (ref(1), "draft"), (ref(2), "draft")]
    assert "submit" in own[0]["allowed_actions"]
    assert client.get(f"/api/v1/declarations/{ref(1)}").status_code == 404
    assert client.get("/api/v1/register", query_string={"q": "drought"}).get_json()[
        "items"] == []


def test_a_legacy_registration_date_is_kept_in_the_register(app, client, member, tmp_path):
    path = write_jsonl(tmp_path / "legacy.jsonl",
                       rows(1, registered_on="2019-05-04", legacy_id="YN-1987-004"))
    assert run_import(app, path, "--org", member.organization.name).exit_code == 0
    found = client.get("/api/v1/register", query_string={
        "registered_from": "2019-01-01", "registered_to": "2019-12-31"}).get_json()
    assert [(i["reference"], i["registered_on"]) for i in found["items"]] == [
        (ref(1), "2019-05-04")]
    event = client.get(f"/api/v1/declarations/{ref(1)}/history").get_json()[0]
    assert event["data"]["legacy_id"] == "YN-1987-004"


def test_a_csv_file_is_read_too(app, client, member, tmp_path):
    path = tmp_path / "legacy.csv"
    records = rows(2)
    records[1]["common_name"] = ""  # an empty cell is a missing optional value
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, fieldnames=list(records[0]))
        out.writeheader()
        out.writerows(records)
    result = run_import(app, str(path), "--org", member.organization.name)
    assert result.exit_code == 0, result.output
    second = client.get(f"/api/v1/declarations/{ref(2)}").get_json()["genetic_resource"]
    assert second["common_name"] is None and second["collector"] == "Collector 2"


# --- refused files: nothing is stored -----------------------------------------------------


def test_one_bad_row_refuses_the_whole_file_naming_line_and_field(app, session, world, member,
                                                                  tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 2)  # rows 1-2 were written before line 3
    records = rows(5)
    records[2]["latitude"] = 200
    path = write_jsonl(tmp_path / "legacy.jsonl", records)
    result = run_import(app, path, "--org", member.organization.name)
    assert result.exit_code != 0
    assert "line 3: latitude:" in result.output
    assert "nothing was imported" in result.output
    assert counts(session) == (0, 0, 0)
    # The reserved numbers went back with the rollback: the next declaration is number 1.
    assert world.declare(member).reference == ref(1)
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def test_every_bad_row_is_reported_at_once(app, session, member, tmp_path):
    records = rows(4)
    records[0]["collection_region"] = "999999"
    records[2]["ncbi_taxon_id"] = "many"
    del records[3]["collector"]
    path = write_jsonl(tmp_path / "legacy.jsonl",
                       [*records, "not json", '["a", "list"]', {**records[1], "colour": "red"}])
    result = run_import(app, path, "--org", member.organization.name)
    assert result.exit_code != 0
    for expected in ("line 1: collection_region:", "line 3: ncbi_taxon_id:",
                     "line 4: collector: Missing data", "line 5: json: not valid JSON",
                     "line 6: json: each line must be one JSON object",
                     "line 7: colour: Unknown field"):
        assert expected in result.output
    assert "line 2" not in result.output
    assert counts(session) == (0, 0, 0)


def test_other_kinds_are_refused_with_their_line(app, session, member, tmp_path):
    path = write_jsonl(tmp_path / "legacy.jsonl", [*rows(1), {**rows(1)[0], "kind": "dsi"}])
    result = run_import(app, path, "--org", member.organization.name)
    assert result.exit_code != 0
    assert "line 2: kind: only genetic_resource records can be imported" in result.output
    assert counts(session) == (0, 0, 0)


def test_an_empty_file_is_refused(app, session, member, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    result = run_import(app, str(path), "--org", member.organization.name)
    assert result.exit_code != 0
    assert "no declarations found: the file is empty" in result.output
    assert counts(session) == (0, 0, 0)


def test_an_unknown_organization_is_refused(app, session, member, tmp_path):
    path = write_jsonl(tmp_path / "legacy.jsonl", rows(1))
    result = run_import(app, path, "--org", "No Such Institute")
    assert result.exit_code != 0
    assert "org: no organization named 'No Such Institute'" in result.output
    assert counts(session) == (0, 0, 0)


def test_an_organization_without_a_declaring_member_is_refused(app, session, world, tmp_path):
    org = world.org(name="Empty Seeds Ltd")
    path = write_jsonl(tmp_path / "legacy.jsonl", rows(1))
    result = run_import(app, path, "--org", org.name)
    assert result.exit_code != 0
    assert "no active member in 'Empty Seeds Ltd'" in result.output
    assert counts(session) == (0, 0, 0)


def test_registered_on_is_only_for_registered_imports(app, session, member, tmp_path):
    path = write_jsonl(tmp_path / "legacy.jsonl", rows(1, registered_on="2020-01-01"))
    result = run_import(app, path, "--org", member.organization.name, "--status", "draft")
    assert result.exit_code != 0
    assert "line 1: registered_on: only records imported as registered" in result.output
    assert counts(session) == (0, 0, 0)


def test_only_administrators_may_import_through_the_service(session, world, member, tmp_path):
    from abs_registry.errors import PermissionDenied

    path = tmp_path / "legacy.jsonl"
    write_jsonl(path, rows(1))
    with pytest.raises(PermissionDenied):
        importer.import_file(session, member, path,
                             organization_name=member.organization.name)
    report = importer.import_file(session, world.admin(), path,
                                  organization_name=member.organization.name)
    assert (report.rows, report.first_reference) == (1, ref(1))


def test_a_large_import_refreshes_postgresql_statistics(app, session, member, tmp_path,
                                                         monkeypatch):
    """Searches right after a bulk load must not be planned for the empty table."""
    monkeypatch.setattr(importer, "ANALYZE_AFTER", 2)
    path = write_jsonl(tmp_path / "legacy.jsonl", rows(2))
    assert run_import(app, path, "--org", member.organization.name).exit_code == 0
    if session.bind.dialect.name == "postgresql":
        analyzed = session.execute(select(func.count()).select_from(
            text("pg_stat_user_tables")).where(text(
                "relname = 'register_entries' AND last_analyze IS NOT NULL"))).scalar()
        assert analyzed == 1
    assert counts(session) == (2, 2, 2)
