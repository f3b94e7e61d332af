"""The registry starts, migrates and answers on its main pages."""

from abs_registry.declarations.models import Kind


def test_home_and_register_pages_answer(client):
    assert client.get("/").status_code == 200
    assert client.get("/register").status_code == 200


def test_openapi_document_describes_the_api(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/declarations/genetic-resources" in spec["paths"]
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_declaration_life_through_the_api(client, world):
    member = world.member()
    official = world.official()
    headers = world.headers(member)
    from tests.conftest import gr_payload

    created = client.post("/api/v1/declarations/genetic-resources", json=gr_payload(),
                          headers=headers)
    assert created.status_code == 201, created.get_json()
    ref = created.get_json()["reference"]
    assert ref.startswith("CN-GR-")
    assert client.post(f"/api/v1/declarations/{ref}/submit", json={},
                       headers=headers).status_code == 200
    registered = client.post(f"/api/v1/declarations/{ref}/register", json={},
                             headers=world.headers(official))
    assert registered.get_json()["status"] == "registered"
    found = client.get("/api/v1/register", query_string={"q": "drought"}).get_json()
    assert [i["reference"] for i in found["items"]] == [ref]
    history = client.get(f"/api/v1/declarations/{ref}/history").get_json()
    assert [e["action"] for e in history] == ["create", "submit", "register"]
    assert Kind.GENETIC_RESOURCE
