"""Error answers tell API clients how to recover, not only what went wrong."""


def test_unauthenticated_api_call_names_the_bearer_scheme(client):
    answer = client.get("/api/v1/me")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "errors" in answer.get_json()


def test_too_many_failed_sign_ins_says_when_to_retry(client, world):
    user = world.member()
    for _ in range(10):
        client.post("/api/v1/tokens", json={"email": user.email, "password": "wrong password!",
                                            "name": "t"})
    answer = client.post("/api/v1/tokens", json={"email": user.email,
                                                 "password": "wrong password!", "name": "t"})
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) > 0
    assert "email" in answer.get_json()["errors"]


def test_the_public_sees_organizations_not_people_in_a_records_history(client, world):
    from abs_registry.auth.models import OfficialLevel

    member = world.member()
    official = world.official(OfficialLevel.NATIONAL)
    decl = world.registered(member, reviewer=official)
    public = client.get(f"/api/v1/declarations/{decl.reference}/history").get_json()
    actors = {e["actor"] for e in public}
    assert member.display_name not in actors and official.display_name not in actors
    assert actors == {member.organization.name, official.organization.name}
    page = client.get(f"/declarations/{decl.reference}").get_data(as_text=True)
    assert official.display_name not in page and member.display_name not in page
    own = client.get(f"/api/v1/declarations/{decl.reference}/history",
                     headers=world.headers(member)).get_json()
    assert {e["actor"] for e in own} == {member.display_name, official.display_name}


def test_two_colleagues_adding_the_same_person_at_once_get_one_201_and_one_409(app, world):
    import threading

    org = world.org()
    first, second = world.member(org), world.member(org)
    headers = [world.headers(first), world.headers(second)]
    for round_ in range(5):
        barrier = threading.Barrier(2)
        answers = [None, None]

        def add(i, round_=round_, barrier=barrier, answers=answers):
            client = app.test_client()
            barrier.wait()
            answers[i] = client.post("/api/v1/organization/members", headers=headers[i], json={
                "display_name": "New colleague", "email": f"same{round_}@example.org",
                "password": "a long enough password"})

        threads = [threading.Thread(target=add, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(a.status_code for a in answers) == [201, 409]
        loser = next(a for a in answers if a.status_code == 409)
        assert loser.get_json()["errors"]
