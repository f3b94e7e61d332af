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
