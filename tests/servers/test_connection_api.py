"""Connections in the management API (an extension): signed requests over real HTTP against the
live ASGI application. alice manages, charlie (another account) gets 404, bob (read-only) gets 403
on writes; no answer and no audit event ever carries a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from oauth.models import Connection
from oauth.services import connection_set
from runtime.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "api-secret-value-42"
BODY = {
    "product": "Widgets",
    "authType": "api_key",
    "baseUrl": "https://widgets.example.com/api",
    "regionEndpoints": {"eu-1": "https://eu.widgets.example.com"},
    "defaultRegion": "eu-1",
    "authConfig": {"name": "X-Widget-Key", "in": "header", "prefix": "Key "},
    "secrets": {"apiKey": SECRET},
    "connectTimeout": 3,
    "readTimeout": 12.5,
}


@pytest.fixture
def ecs(alice: Any) -> Connection:
    connection, _ = connection_set(
        account=alice.account,
        product="Ecs",
        auth_type="bearer",
        base_url="https://ecs.example.com",
        secrets={"token": SECRET},
    )
    return connection


def test_alice_creates_reads_replaces_and_deletes(signed_client: Any, alice: Any, bob: Any) -> None:
    api = signed_client(alice)
    created = api.request("PUT", "/connection", json_body=BODY, action="SetConnection")
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["created"] is True and body["requestId"]
    expected = {
        "product": "Widgets",
        "userName": "",
        "authType": "api_key",
        "baseUrl": "https://widgets.example.com/api",
        "regionEndpoints": {"eu-1": "https://eu.widgets.example.com"},
        "defaultRegion": "eu-1",
        "authConfig": {"name": "X-Widget-Key", "in": "header", "prefix": "Key "},
        "secretsSet": ["apiKey"],
        "connectTimeout": 3.0,
        "readTimeout": 12.5,
    }
    assert {k: body[k] for k in expected} == expected
    assert body["createTime"].endswith("Z") and body["updateTime"].endswith("Z")
    pk = body["id"]
    stored = Connection.objects.get(pk=pk)
    assert stored.get_secrets() == {"api_key": SECRET} and stored.auth_config["name"] == "X-Widget-Key"

    got = api.request("GET", "/connection", params={"id": pk})
    assert got.status_code == 200 and {k: got.json()[k] for k in expected} == expected
    listed = api.request("GET", "/connections").json()
    assert listed["totalCount"] == 1 and [c["id"] for c in listed["connections"]] == [pk]

    # Replace: the product matches case-insensitively; the secret is left out, so it is kept.
    replaced = api.request(
        "PUT", "/connection", json_body={"product": "widgets", "authType": "api_key", "secrets": {"apiKey": ""}}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["created"] is False and replaced.json()["id"] == pk
    assert replaced.json()["baseUrl"] == "" and replaced.json()["secretsSet"] == ["apiKey"]
    assert Connection.objects.get(pk=pk).get_secrets() == {"api_key": SECRET}

    own = api.request("PUT", "/connection", json_body={"product": "Widgets", "userName": "bob", "authType": "none"})
    assert own.status_code == 200 and own.json()["userName"] == "bob" and own.json()["id"] != pk

    deleted = api.request("DELETE", "/connection", params={"id": pk}, action="DeleteConnection")
    assert deleted.status_code == 200 and set(deleted.json()) == {"requestId"}
    gone = api.request("GET", "/connection", params={"id": pk})
    assert gone.status_code == 404 and gone.json()["code"] == "NotFound.Connection"
    assert list(Connection.objects.values_list("user__username", flat=True)) == ["bob"]


@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        ({**BODY, "colour": "red"}, 400, "InvalidParam.UnknownField", "colour"),
        ({**BODY, "authConfig": {"header": "X"}}, 400, "InvalidParam.UnknownField", "authConfig.header"),
        ({k: v for k, v in BODY.items() if k != "authType"}, 400, "Missing.AuthType", "authType"),
        ({k: v for k, v in BODY.items() if k != "product"}, 400, "Missing.Product", "product"),
        ({**BODY, "authType": "kerberos"}, 400, "InvalidParam.AuthType", "kerberos"),
        ({**BODY, "baseUrl": "widgets.example.com"}, 400, "InvalidParam.BaseUrl", "baseUrl"),
        ({**BODY, "regionEndpoints": {"eu-1": "ftp://x"}}, 400, "InvalidParam.RegionEndpoints", "eu-1"),
        ({**BODY, "connectTimeout": "3"}, 400, "InvalidParam.ConnectTimeout", "number"),
        ({**BODY, "readTimeout": 0}, 400, "InvalidParam.ReadTimeout", "readTimeout"),
        ({**BODY, "secrets": {}}, 400, "Missing.Secrets.ApiKey", "secrets.apiKey"),
        ({**BODY, "secrets": {"token": "t"}}, 400, "InvalidParam.Secrets.Token", "not used by auth type api_key"),
        ({**BODY, "secrets": {"apiKey": 42}}, 400, "InvalidParam.Secrets.ApiKey", "string"),
        ({**BODY, "authConfig": {"in": "cookie"}}, 400, "InvalidParam.AuthConfig.In", "header, query"),
        ({**BODY, "userName": "nobody"}, 400, "InvalidParam.UserName", "nobody"),
        ({**BODY, "userName": "charlie"}, 400, "InvalidParam.UserName", "charlie"),
    ],
)
def test_bad_input_is_named_and_nothing_is_written(
    signed_client: Any, alice: Any, charlie: Any, body: dict[str, Any], status: int, code: str, mentions: str
) -> None:
    response = signed_client(alice).request("PUT", "/connection", json_body=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"requestId", "code", "message"}
    assert answer["code"] == code and mentions in answer["message"], answer
    assert SECRET not in response.text
    assert not Connection.objects.exists()


def test_ids_are_checked(signed_client: Any, alice: Any) -> None:
    api = signed_client(alice)
    assert api.request("GET", "/connection").json()["code"] == "Missing.Id"
    for pk in ["abc", "999999", "\u00b9", "\u0663"]:  # non-ASCII digits are no id
        response = api.request("DELETE", "/connection", params={"id": pk})
        assert response.status_code == 404 and response.json()["code"] == "NotFound.Connection"
    wrong = api.request("POST", "/connection", json_body=BODY)
    assert wrong.status_code == 405 and wrong.json()["code"] == "UnsupportedHTTPMethod"


def test_it_validates_ownership(signed_client: Any, charlie: Any, ecs: Connection) -> None:
    api = signed_client(charlie)
    for method in ("GET", "DELETE"):
        response = api.request(method, "/connection", params={"id": ecs.pk})
        assert response.status_code == 404 and response.json()["code"] == "NotFound.Connection", method
    listed = api.request("GET", "/connections").json()
    assert listed["totalCount"] == 0 and listed["connections"] == []
    # A PUT is scoped to charlie's own account: it creates charlie's connection, alice's is untouched.
    mine = api.request("PUT", "/connection", json_body={"product": "Ecs", "authType": "none"})
    assert mine.status_code == 200 and mine.json()["id"] != ecs.pk
    ecs.refresh_from_db()
    assert ecs.base_url == "https://ecs.example.com" and ecs.get_secrets() == {"token": SECRET}


def test_limited_user_reads_but_cannot_write(signed_client: Any, bob: Any, ecs: Connection) -> None:
    api = signed_client(bob)
    listed = api.request("GET", "/connections")
    assert listed.status_code == 200 and [c["product"] for c in listed.json()["connections"]] == ["Ecs"]
    assert api.request("GET", "/connection", params={"id": ecs.pk}).status_code == 200
    for method, params, body, action in [
        ("PUT", None, {"product": "Ecs", "authType": "none"}, "openapiexplorer:SetConnection"),
        ("PUT", None, {"product": "Cs", "authType": "none"}, "openapiexplorer:SetConnection"),
        ("DELETE", {"id": ecs.pk}, None, "openapiexplorer:DeleteConnection"),
    ]:
        response = api.request(method, "/connection", params=params, json_body=body)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "Forbidden.RAM" and action in response.json()["message"]
    ecs.refresh_from_db()
    assert ecs.auth_type == "bearer" and Connection.objects.count() == 1


def test_secrets_never_leave_the_server(signed_client: Any, alice: Any, ecs: Connection) -> None:
    api = signed_client(alice)
    answers = [
        api.request("PUT", "/connection", json_body=BODY),
        api.request("GET", "/connections"),
        api.request("GET", "/connection", params={"id": ecs.pk}),
        api.request("PUT", "/connection", json_body={**BODY, "baseUrl": "nope"}),
    ]
    for answer in answers:
        assert SECRET not in answer.text, answer.text
    assert answers[2].json()["secretsSet"] == ["token"]
    events = AuditEvent.objects.filter(action="openapiexplorer:SetConnection")
    assert events.count() == 2
    for event in events:
        assert SECRET not in json.dumps(event.arguments), event.arguments
