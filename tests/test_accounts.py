"""Organizations register themselves, members add colleagues, administrators set up officials.

Everything goes through HTTP (pages with their CSRF token, and the JSON API) or the CLI; a
refusal must name the field and leave the database exactly as it was.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from abs_registry.audit.models import AuditEvent
from abs_registry.auth.models import OfficialLevel, Organization, OrgKind, Role, User
from abs_registry.errors import PermissionDenied
from tests.conftest import PASSWORD

NEW_PASSWORD = "a long and new passphrase"


def csrf_of(client, page: str) -> str:
    """The CSRF token a browser would find in the page's form."""
    html = client.get(page).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def post_form(client, path: str, data: dict, page: str | None = None):
    return client.post(path, data={**data, "csrf_token": csrf_of(client, page or path)})


def sign_in(client, email: str, password: str = PASSWORD, next_: str | None = None):
    data = {"email": email, "password": password}
    if next_ is not None:
        data["next"] = next_
    return post_form(client, "/sign-in", data)


def counts(session) -> tuple[int, int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Organization)),
        session.scalar(select(func.count()).select_from(User)),
        session.scalar(select(func.count()).select_from(AuditEvent)),
    )


def field_error(html: str, field: str) -> str | None:
    match = re.search(
        rf'<p class="field-error" id="error-{re.escape(field)}"[^>]*>(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else None


def registration(**overrides) -> dict:
    data = {
        "organization_name": "Yunnan Seed Works",
        "kind": "enterprise",
        "region_code": "530000",
        "display_name": "Zhang Min",
        "email": "zhang.min@seedworks.example",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    data.update(overrides)
    return data


def register(client, **overrides):
    return post_form(client, "/register-organization", registration(**overrides))


# --- registering an organization ------------------------------------------------------------


def test_an_enterprise_registers_and_its_first_user_is_signed_in(client, session):
    answer = register(client)
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/dashboard")
    org = session.scalar(select(Organization).where(Organization.name == "Yunnan Seed Works"))
    assert org.kind is OrgKind.ENTERPRISE and org.region_code == "530000"
    user = session.scalar(select(User).where(User.email == "zhang.min@seedworks.example"))
    assert user.organization_id == org.id and user.role is Role.MEMBER
    dashboard = client.get("/dashboard")
    assert dashboard.status_code == 200
    assert "Zhang Min" in dashboard.get_data(as_text=True)
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["register", "create"]


def test_a_research_institute_and_a_community_register_with_their_roles(client, session):
    assert register(client, organization_name="Kunming Institute", kind="research_institute",
                    email="a@kib.example").status_code == 302
    fresh = client.application.test_client()
    assert register(fresh, organization_name="Jinuo Village", kind="community",
                    email="b@jinuo.example").status_code == 302
    roles = dict(session.execute(select(User.email, User.role)).all())
    assert roles == {"a@kib.example": Role.MEMBER, "b@jinuo.example": Role.STEWARD}


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"organization_name": "yunnan  SEED works"}, 409, "organization_name"),
        ({"organization_name": "Other Name", "email": "ZHANG.MIN@seedworks.example"}, 409,
         "email"),
        ({"organization_name": "Other Name", "email": "new@x.example", "password": "short",
          "password_confirm": "short"}, 422, "password"),
        ({"organization_name": "Other Name", "email": "new@x.example",
          "password_confirm": NEW_PASSWORD + "!"}, 422, "password_confirm"),
        ({"organization_name": "Other Name", "email": "new@x.example", "kind": "authority"},
         422, "kind"),
        ({"organization_name": "Other Name", "email": "new@x.example", "kind": "ministry"},
         422, "kind"),
        ({"organization_name": "Other Name", "email": "not-an-address"}, 422, "email"),
        ({"organization_name": "Other Name", "email": "x" * 250 + "@x.example"}, 422, "email"),
        ({"organization_name": "Other Name", "email": "new@x.example",
          "region_code": "999999"}, 422, "region_code"),
        ({"organization_name": "", "email": "new@x.example"}, 422, "organization_name"),
        ({"organization_name": "Other Name", "email": "new@x.example", "display_name": ""},
         422, "display_name"),
    ],
)
def test_a_bad_registration_names_its_field_beside_it_and_stores_nothing(
        client, session, overrides, status, field):
    assert register(client).status_code == 302
    before = counts(session)
    anonymous = client.application.test_client()
    answer = register(anonymous, **overrides)
    html = answer.get_data(as_text=True)
    assert answer.status_code == status
    assert field_error(html, field), html
    assert f'aria-describedby="error-{field}"' in html
    assert NEW_PASSWORD not in html
    assert counts(session) == before
    assert anonymous.get("/dashboard").status_code == 302  # not signed in


def test_a_duplicate_e_mail_does_not_leave_a_half_registered_organization(client, session):
    register(client)
    register(client.application.test_client(), organization_name="Second Co")
    assert session.scalar(select(Organization).where(Organization.name == "Second Co")) is None


# --- members add colleagues -------------------------------------------------------------------


def test_a_member_sees_the_organization_and_adds_a_colleague_through_the_page(
        client, session, world):
    member = world.member()
    colleague_elsewhere = world.member()
    sign_in(client, member.email)
    page = client.get("/organization")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert member.organization.name in html and member.email in html
    assert colleague_elsewhere.email not in html
    assert 'href="/organization"' in html  # the navigation leads here

    answer = post_form(client, "/organization/members", {
        "display_name": "Wang Fang", "email": "Wang.Fang@example.org",
        "password": NEW_PASSWORD}, page="/organization")
    assert answer.status_code == 302
    added = session.scalar(select(User).where(User.email == "wang.fang@example.org"))
    assert added.organization_id == member.organization_id and added.role is Role.MEMBER
    assert "wang.fang@example.org" in client.get("/organization").get_data(as_text=True)
    event = session.scalars(select(AuditEvent).where(
        AuditEvent.subject_type == "user", AuditEvent.subject_id == added.id)).one()
    assert event.action == "create" and event.actor_id == member.id

    colleague = client.application.test_client()
    assert sign_in(colleague, "wang.fang@example.org", NEW_PASSWORD).status_code == 302
    assert colleague.get("/dashboard").status_code == 200


@pytest.mark.parametrize(
    ("data", "status", "field"),
    [
        ({"display_name": "Wang Fang", "email": "taken@example.org", "password": NEW_PASSWORD},
         409, "email"),
        ({"display_name": "Wang Fang", "email": "new@example.org", "password": "too short"},
         422, "password"),
        ({"display_name": "", "email": "new@example.org", "password": NEW_PASSWORD},
         422, "display_name"),
        ({"display_name": "Wang Fang", "email": "nope", "password": NEW_PASSWORD},
         422, "email"),
    ],
)
def test_adding_a_bad_colleague_names_the_field_and_stores_nothing(
        client, session, world, data, status, field):
    member = world.member()
    world.user(world.org(), email="taken@example.org")
    sign_in(client, member.email)
    before = counts(session)
    answer = post_form(client, "/organization/members", data, page="/organization")
    html = answer.get_data(as_text=True)
    assert answer.status_code == status
    assert field_error(html, field)
    assert NEW_PASSWORD not in html
    assert counts(session) == before


def test_a_steward_adds_a_steward(client, session, world):
    steward = world.steward()
    headers = world.headers(steward)
    answer = client.post("/api/v1/organization/members", headers=headers, json={
        "display_name": "Bai Lan", "email": "bai.lan@example.org", "password": NEW_PASSWORD})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["role"] == "steward"


def test_members_are_added_and_listed_through_the_api(client, session, world):
    member = world.member()
    outsider = world.member()
    headers = world.headers(member)
    answer = client.post("/api/v1/organization/members", headers=headers, json={
        "display_name": "Wang Fang", "email": "wang.fang@example.org",
        "password": NEW_PASSWORD})
    body = answer.get_json()
    assert answer.status_code == 201, body
    assert body["role"] == "member" and body["email"] == "wang.fang@example.org"
    assert "password" not in body and NEW_PASSWORD not in answer.get_data(as_text=True)
    listed = client.get("/api/v1/organization/members", headers=headers).get_json()
    assert sorted(m["email"] for m in listed) == sorted([member.email, "wang.fang@example.org"])
    assert outsider.email not in {m["email"] for m in listed}
    added = session.get(User, body["id"])
    assert added.organization_id == member.organization_id


@pytest.mark.parametrize(
    ("extra", "status", "field"),
    [
        ({"email": "taken@example.org"}, 409, "email"),
        ({"password": "short"}, 422, "password"),
        ({"display_name": ""}, 422, "display_name"),
        ({"display_name": "   "}, 422, "display_name"),
        ({"email": "x" * 250 + "@example.org"}, 422, "email"),
        ({"role": "official"}, 422, "role"),
        ({"organization_id": 1}, 422, "organization_id"),
    ],
)
def test_the_api_refuses_a_bad_colleague_naming_the_field(client, session, world, extra,
                                                          status, field):
    member = world.member()
    world.user(member.organization, email="taken@example.org")
    headers = world.headers(member)
    before = counts(session)
    payload = {"display_name": "Wang Fang", "email": "wang.fang@example.org",
               "password": NEW_PASSWORD, **extra}
    answer = client.post("/api/v1/organization/members", headers=headers, json=payload)
    assert answer.status_code == status, answer.get_json()
    assert field in answer.get_json()["errors"]
    assert counts(session) == before


def test_officials_and_administrators_cannot_add_people_through_the_web(client, session, world):
    official = world.official()
    admin = world.admin()
    payload = {"display_name": "Friend", "email": "friend@example.org",
               "password": NEW_PASSWORD}
    before = counts(session)
    by_official = client.post("/api/v1/organization/members", json=payload,
                              headers=world.headers(official))
    assert by_official.status_code == 403
    assert "role" in by_official.get_json()["errors"]
    by_admin = client.post("/api/v1/organization/members", json=payload,
                           headers=world.headers(admin))
    assert by_admin.status_code == 404
    anonymous = client.post("/api/v1/organization/members", json=payload)
    assert anonymous.status_code == 401
    after_tokens = counts(session)
    assert after_tokens[:2] == before[:2]

    sign_in(client, official.email)
    page = client.get("/organization").get_data(as_text=True)
    assert "Add a member" not in page
    refused = post_form(client, "/organization/members", payload, page="/organization")
    assert refused.status_code == 403
    assert counts(session)[:2] == before[:2]


def test_a_member_may_not_grant_roles_or_add_to_another_organization(world):
    member = world.member()
    other = world.org()
    accounts = world.accounts
    with pytest.raises(PermissionDenied):
        accounts.create_user(member, email="x1@example.org", display_name="X",
                             password=NEW_PASSWORD, organization=member.organization,
                             role=Role.OFFICIAL, official_level=OfficialLevel.NATIONAL)
    with pytest.raises(PermissionDenied):
        accounts.create_user(member, email="x2@example.org", display_name="X",
                             password=NEW_PASSWORD, organization=member.organization,
                             role=Role.ADMIN)
    with pytest.raises(PermissionDenied):
        accounts.create_user(member, email="x3@example.org", display_name="X",
                             password=NEW_PASSWORD, organization=other)
    with pytest.raises(PermissionDenied):
        accounts.create_user(member, email="x4@example.org", display_name="X",
                             password=NEW_PASSWORD, organization=member.organization,
                             tk_clearance=True)


def test_the_organization_page_needs_a_signed_in_member(client, world):
    answer = client.get("/organization")
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]
    admin = world.admin()
    sign_in(client, admin.email)
    assert client.get("/organization").status_code == 404


# --- the administrator's command line ---------------------------------------------------------


def test_the_cli_sets_up_an_authority_and_its_official_who_can_sign_in(app, client, session):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["orgs", "create", "Yunnan Ecology Bureau", "--kind",
                               "authority", "--region", "530000"])
    assert made.exit_code == 0, made.output
    made = runner.invoke(args=["users", "create", "li.na@bureau.example", "--name", "Li Na",
                               "--org", "Yunnan Ecology Bureau", "--level", "national",
                               "--password", NEW_PASSWORD])
    assert made.exit_code == 0, made.output
    assert NEW_PASSWORD not in made.output
    official = session.scalar(select(User).where(User.email == "li.na@bureau.example"))
    assert official.role is Role.OFFICIAL
    assert official.official_level is OfficialLevel.NATIONAL
    assert sign_in(client, "li.na@bureau.example", NEW_PASSWORD).status_code == 302
    assert client.get("/review").status_code == 200

    admin = runner.invoke(args=["users", "create", "root@registry.example", "--name", "Root",
                                "--role", "admin", "--password", NEW_PASSWORD])
    assert admin.exit_code == 0, admin.output


def test_the_cli_refuses_a_duplicate_e_mail_and_a_short_password(app, session):
    runner = app.test_cli_runner()
    runner.invoke(args=["orgs", "create", "Bureau", "--kind", "authority"])
    first = runner.invoke(args=["users", "create", "a@bureau.example", "--name", "A",
                                "--org", "Bureau", "--password", NEW_PASSWORD])
    assert first.exit_code == 0, first.output
    before = counts(session)
    again = runner.invoke(args=["users", "create", "A@bureau.example", "--name", "A",
                                "--org", "Bureau", "--password", NEW_PASSWORD])
    assert again.exit_code != 0 and "email" in again.output
    short = runner.invoke(args=["users", "create", "b@bureau.example", "--name", "B",
                                "--org", "Bureau", "--password", "short"])
    assert short.exit_code != 0 and "password" in short.output
    assert counts(session) == before


def test_the_openapi_document_describes_the_member_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    members = spec["paths"]["/api/v1/organization/members"]
    assert {"get", "post"} <= set(members)
    assert members["post"]["security"] == [{"bearerAuth": []}]
    schema = spec["components"]["schemas"]["MemberIn"]
    assert schema["properties"]["password"].get("writeOnly") is True
    assert "password" not in spec["components"]["schemas"]["MemberOut"]["properties"]
