"""Authentication: no route answers without a valid credential, except the public ones."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from cix.api.app import PUBLIC_PATHS
from cix.node.auditing import MemoryAuditSink
from cix.node.service import Node
from tests.node_support import SQLITE_ONLY, ApiClient, Clock, assert_problem, events


def _protected_requests(client: ApiClient) -> list[tuple[str, str]]:
    """Every (method, path) the app serves outside the public allowlist, sample path values.

    Enumerated from the app's own OpenAPI document, so a new route is covered as soon as it
    exists (no route is hidden from the document: see the test below).
    """
    requests: list[tuple[str, str]] = []
    for path, operations in client.app.openapi()["paths"].items():
        if path in PUBLIC_PATHS or path.startswith("/federation/v1/"):
            # federation routes take no user token: each message's signature is the
            # authentication (tests/federation/test_routes.py refuses them unsigned)
            continue
        sample = re.sub(r"\{[^}]+\}", "1", path)
        requests.extend((method.upper(), sample) for method in sorted(operations))
    return requests


def test_no_route_is_hidden_from_the_openapi_document() -> None:
    import cix.api.routes as package

    pkg_dir = Path(package.__file__).parent
    for module in pkg_dir.glob("*.py"):
        assert "include_in_schema" not in module.read_text(encoding="utf-8"), module


@SQLITE_ONLY
def test_route_enumeration_covers_the_registry(api: ApiClient) -> None:
    paths = {path for _method, path in _protected_requests(api)}
    assert {"/api/v1/organisations", "/api/v1/people/1", "/api/v1/memberships"} <= paths


def test_every_route_without_a_token_answers_401(api: ApiClient) -> None:
    api.as_(None)
    for method, path in _protected_requests(api):
        api.reset_limiter()
        response = api.request(method, path, json={})
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer", (method, path)
        assert body["detail"] == "a valid bearer token is required"


@SQLITE_ONLY
def test_every_route_with_a_forged_token_answers_401(api: ApiClient) -> None:
    forged = jwt.encode({"sub": "root"}, "not-the-key-" * 4, algorithm="HS256")
    for method, path in _protected_requests(api):
        api.reset_limiter()
        response = api.request(method, path, json={}, headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401, (method, path)


@SQLITE_ONLY
def test_public_routes_answer_without_a_token(api: ApiClient) -> None:
    api.as_(None)
    health = api.get("/api/v1/health")
    assert health.status_code == 200
    assert health.json()["party"] == "CAN"
    openapi = api.get("/api/v1/openapi.json")
    assert openapi.status_code == 200
    assert "/api/v1/organisations" in openapi.json()["paths"]
    jwks = api.get("/.well-known/jwks.json").json()
    assert [k["kty"] for k in jwks["keys"]] == ["OKP"]
    assert "d" not in jwks["keys"][0]


def test_valid_token_is_accepted(api: ApiClient) -> None:
    response = api.as_("alice").get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["id"] == "alice"


@SQLITE_ONLY
def test_expired_token_is_refused(api: ApiClient, node: Node) -> None:
    token = api.token_for("alice", ttl=60)
    node.clock.advance(seconds=60 + node.settings.token_leeway_seconds + 1)  # type: ignore[attr-defined]
    response = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401)


@SQLITE_ONLY
def test_token_from_the_future_is_refused(api: ApiClient, node: Node) -> None:
    assert node.issuer is not None
    later = node.clock() + timedelta(hours=1)
    token = node.issuer.issue("alice", ttl=600, now=later)
    assert_problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401)


def test_token_of_unknown_person_is_refused(api: ApiClient) -> None:
    token = api.token_for("mallory")
    assert_problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401)


@SQLITE_ONLY
def test_alg_none_token_is_refused(api: ApiClient) -> None:
    token = jwt.encode(
        {
            "sub": "root",
            "iss": api.node.settings.token_issuer,
            "aud": "cix",
            "exp": 2**40,
            "iat": 0,
        },
        key="",
        algorithm="none",
    )
    assert_problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401)


@SQLITE_ONLY
def test_token_with_a_tampered_subject_is_refused(api: ApiClient) -> None:
    header, _payload, signature = api.token_for("alice").split(".")
    claims = jwt.decode(api.token_for("alice"), options={"verify_signature": False})
    claims["sub"] = "root"
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    forged = f"{header}.{forged_payload}.{signature}"
    assert_problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401)


@SQLITE_ONLY
def test_wrong_audience_is_refused(api: ApiClient, node: Node) -> None:
    assert node.issuer is not None
    node.issuer.audience = "someone-else"
    token = node.issuer.issue("alice", ttl=600, now=node.clock())
    assert_problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401)


@SQLITE_ONLY
@pytest.mark.parametrize("header", ["Basic cm9vdDpyb290", "Bearer", "Bearer  ", "token abc"])
def test_malformed_authorization_header_is_refused(api: ApiClient, header: str) -> None:
    assert_problem(api.get("/api/v1/me", headers={"Authorization": header}), 401)


def test_api_token_lifecycle(api: ApiClient) -> None:
    created = api.as_("alice").post("/api/v1/tokens", json={"name": "laptop"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("cix_")
    use = api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert use.json()["id"] == "alice"
    assert api.delete(f"/api/v1/tokens/{created.json()['id']}").status_code == 204
    assert_problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 401)


def test_api_token_is_stored_hashed(api: ApiClient, node: Node) -> None:
    from sqlalchemy import select

    from cix.store.models import ApiToken

    token = api.as_("alice").post("/api/v1/tokens", json={"name": "cli"}).json()["token"]
    with node.db.read() as session:
        stored = [row.token_hash for row in session.scalars(select(ApiToken))]
    assert token not in stored
    assert all(len(h) == 64 for h in stored)


@SQLITE_ONLY
def test_guessed_api_token_is_refused(api: ApiClient) -> None:
    guess = "cix_" + "A" * 43
    assert_problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {guess}"}), 401)


@SQLITE_ONLY
def test_repeated_failures_are_rate_limited_per_client(api: ApiClient, node: Node) -> None:
    limit = node.settings.auth_failure_limit
    for _ in range(limit):
        assert_problem(api.get("/api/v1/me", headers={"Authorization": "Bearer junk"}), 401)
    blocked = assert_problem(api.get("/api/v1/me", headers={"Authorization": "Bearer junk"}), 429)
    assert "too many" in blocked["detail"]
    # Another bad credential from that address answers 429 too, until the window passes.
    response = api.get("/api/v1/me", headers={"Authorization": "Bearer other-junk"})
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1
    # Health stays reachable.
    assert api.get("/api/v1/health").status_code == 200


@SQLITE_ONLY
def test_valid_token_not_locked_out_by_others_failures(api: ApiClient, node: Node) -> None:
    limit = node.settings.auth_failure_limit
    for i in range(limit + 5):  # everyone behind one proxy address, guessing
        api.get("/api/v1/me", headers={"Authorization": f"Bearer junk-{i}"})
    assert api.as_("alice").get("/api/v1/me").json()["id"] == "alice"
    api_token = api.post("/api/v1/tokens", json={"name": "cli"}).json()["token"]
    assert (
        api.get("/api/v1/me", headers={"Authorization": f"Bearer {api_token}"}).status_code == 200
    )


@SQLITE_ONLY
def test_repeated_failures_of_one_credential_are_limited_from_any_address(
    api: ApiClient, node: Node
) -> None:
    limit = node.settings.auth_failure_limit
    stolen = "cix_" + "B" * 43
    for _ in range(limit):
        assert_problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {stolen}"}), 401)
    # The address limit is reached too: forget addresses only, keep credentials' counts.
    limiter = api.app.state.limiter
    for key in [k for k in limiter._entries if not k.startswith("credential:")]:
        del limiter._entries[key]
    assert_problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {stolen}"}), 429)
    assert api.as_("alice").get("/api/v1/me").status_code == 200


# -- issue 10 #5: a minted token lives no longer than its minter, and dies with it ---------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _mint(api: ApiClient, credential: str, ttl: int = 31622400) -> dict[str, Any]:
    created = api.post(
        "/api/v1/tokens", json={"name": "child", "ttl_seconds": ttl}, headers=_bearer(credential)
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_short_jwt_cannot_mint_longer_lived_token(api: ApiClient, clock: Clock) -> None:
    bearer = api.token_for("alice", ttl=60)
    child = _mint(api, bearer)
    assert datetime.fromisoformat(child["expires_at"]) <= clock() + timedelta(seconds=60)
    clock.advance(seconds=61)
    assert_problem(api.get("/api/v1/me", headers=_bearer(child["token"])), 401)


def test_token_cannot_mint_longer_lived_child(api: ApiClient, node: Node) -> None:
    api.as_("alice")
    parent = api.post("/api/v1/tokens", json={"name": "p", "ttl_seconds": 3600}).json()
    child = _mint(api, parent["token"])
    assert child["expires_at"] == parent["expires_at"]
    grandchild = _mint(api, child["token"])
    assert grandchild["expires_at"] == parent["expires_at"]


def test_token_longer_than_configured_maximum_is_refused(api: ApiClient, node: Node) -> None:
    node.api_tokens.max_ttl = 3600
    api.as_("alice")
    problem = assert_problem(
        api.post("/api/v1/tokens", json={"name": "long", "ttl_seconds": 3601}), 400
    )
    assert "api_token_max_ttl_seconds" in problem["detail"]
    assert api.post("/api/v1/tokens", json={"name": "ok", "ttl_seconds": 3600}).status_code == 201


def test_revoking_parent_revokes_child(api: ApiClient, audit: MemoryAuditSink) -> None:
    api.as_("alice")
    parent = api.post("/api/v1/tokens", json={"name": "parent"}).json()
    child = _mint(api, parent["token"])
    grandchild = _mint(api, child["token"])
    sibling = api.post("/api/v1/tokens", json={"name": "other"}).json()
    assert api.delete(f"/api/v1/tokens/{parent['id']}").status_code == 204
    for revoked in (parent, child, grandchild):
        assert_problem(api.get("/api/v1/me", headers=_bearer(revoked["token"])), 401)
    assert api.get("/api/v1/me", headers=_bearer(sibling["token"])).status_code == 200
    revocations = [e for e in events(audit, "credential.api-token") if e.action == "revoke"]
    assert [e.object for e in revocations] == [
        f"api-token:{t['id']}" for t in (parent, child, grandchild)
    ]
    assert all(e.actor == "alice" and e.decision == "permit" for e in revocations)


def test_revoked_token_cannot_mint(api: ApiClient) -> None:
    api.as_("alice")
    parent = api.post("/api/v1/tokens", json={"name": "parent"}).json()
    api.delete(f"/api/v1/tokens/{parent['id']}")
    response = api.post("/api/v1/tokens", json={"name": "x"}, headers=_bearer(parent["token"]))
    assert_problem(response, 401)


def test_token_list_shows_own_tokens_never_the_secret(api: ApiClient) -> None:
    mine = api.as_("alice").post("/api/v1/tokens", json={"name": "laptop"}).json()
    theirs = api.as_("bob").post("/api/v1/tokens", json={"name": "desk"}).json()
    listed = api.as_("alice").get("/api/v1/tokens")
    assert listed.status_code == 200, listed.text
    assert [t["id"] for t in listed.json()["items"]] == [mine["id"]]
    assert mine["token"] not in listed.text
    assert "hash" not in listed.text
    everyone = {t["id"] for t in api.as_("root").get("/api/v1/tokens").json()["items"]}
    assert {mine["id"], theirs["id"]} <= everyone
    assert theirs["token"] not in api.get("/api/v1/tokens").text


def test_revoking_another_persons_token_is_404_and_audited(
    api: ApiClient, audit: MemoryAuditSink
) -> None:
    theirs = api.as_("bob").post("/api/v1/tokens", json={"name": "desk"}).json()
    assert_problem(api.as_("alice").delete(f"/api/v1/tokens/{theirs['id']}"), 404)
    denied = events(audit, "credential.api-token")[-1]
    assert (denied.actor, denied.action, denied.decision) == ("alice", "revoke", "deny")
    assert api.get("/api/v1/me", headers=_bearer(theirs["token"])).status_code == 200


def test_every_mint_is_audited_with_its_parent(api: ApiClient, audit: MemoryAuditSink) -> None:
    api.as_("alice")
    parent = api.post("/api/v1/tokens", json={"name": "parent"}).json()
    child = _mint(api, parent["token"])
    created = [e for e in events(audit, "credential.api-token") if e.action == "create"]
    assert [e.object for e in created] == [f"api-token:{parent['id']}", f"api-token:{child['id']}"]
    assert created[0].details["minted_by"] == "bearer-token"
    assert created[1].details["parent"] == parent["id"]
