"""Who may call the management API: ownership (stranger → 404), policies (limited user → 403),
system servers, and the three ways to authenticate (session + CSRF, OAuth bearer, AccessKey)."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from oauth.services import policy_create
from servers.models import McpServer
from servers.schemas import CreateApiMcpServerBody, parse_body
from servers.services import server_create

BASE = {"name": "ram-tools", "apis": [{"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["GetUser"]}]}


def call(client, method, path, params=None, body=None, **headers):
    url = path + ("?" + urlencode(params) if params else "")
    if body is None:
        return client.generic(method, url, headers=headers)
    return client.generic(method, url, data=json.dumps(body), content_type="application/json", headers=headers)


def session(user, csrf_checks=False):
    client = Client(enforce_csrf_checks=csrf_checks)
    client.force_login(user)
    return client


@pytest.fixture
def server(alice, catalog):
    return server_create(account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, BASE))


def bearer(user, scope="openapiexplorer", *, expires_in=3600, resource=None):
    app = get_application_model().objects.create(
        name="cli",
        user=user,
        client_type="confidential",
        authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1/cb",
    )
    token = secrets.token_urlsafe(24)
    get_access_token_model().objects.create(
        user=user,
        application=app,
        token=token,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=expires_in),
        resource=resource or [],
    )
    return {"Authorization": f"Bearer {token}"}


# Ownership and policies ---------------------------------------------------------------------


@pytest.mark.parametrize("method, body", [("GET", None), ("PATCH", {"description": "x"}), ("DELETE", None)])
def test_a_stranger_gets_not_found_for_another_accounts_server(server, charlie, method, body):
    response = call(session(charlie), method, "/apimcpserver", {"id": server.id}, body)
    assert (response.status_code, response.json()["code"]) == (404, "NotFound.ApiMcpServer")
    assert McpServer.objects.get(pk=server.id).description == ""


def test_a_stranger_does_not_see_another_accounts_servers_in_lists(server, charlie):
    body = call(session(charlie), "GET", "/apimcpservers", {"keyword": server.id}).json()
    assert body["totalCount"] == 0 and body["apiMcpServers"] == []


def test_the_limited_user_may_read(server, bob):
    client = session(bob)
    assert call(client, "GET", "/apimcpserver", {"id": server.id}).status_code == 200
    assert call(client, "GET", "/apimcpservers").json()["totalCount"] == 1
    assert call(client, "GET", "/mcpSystemTools").status_code == 200
    assert call(client, "GET", "/userconfig/get").status_code == 200


@pytest.mark.parametrize(
    "operation, method, path, body, by_id",
    [
        ("CreateApiMcpServer", "POST", "/apimcpserver", {**BASE, "name": "bobs"}, False),
        ("UpdateApiMcpServer", "PATCH", "/apimcpserver", {"description": "x"}, True),
        ("DeleteApiMcpServer", "DELETE", "/apimcpserver", None, True),
        ("UpdateApiMcpServerUserConfig", "PATCH", "/userconfig/update", {"enablePublicAccess": False}, False),
    ],
)
def test_the_limited_user_is_refused_writes_naming_the_action(server, bob, operation, method, path, body, by_id):
    before = list(McpServer.objects.values_list("id", "version"))
    response = call(session(bob), method, path, {"id": server.id} if by_id else None, body)
    assert (response.status_code, response.json()["code"]) == (403, "Forbidden.RAM")
    assert f"openapiexplorer:{operation}" in response.json()["message"]
    assert list(McpServer.objects.values_list("id", "version")) == before


def test_an_explicit_deny_names_the_policy(server, alice):
    deny = policy_create(
        account=alice.account,
        name="NoDeletes",
        document={
            "Version": "1",
            "Statement": [{"Effect": "Deny", "Action": "openapiexplorer:Delete*", "Resource": "*"}],
        },
    )
    alice.policies.add(deny)
    response = call(session(alice), "DELETE", "/apimcpserver", {"id": server.id})
    assert response.status_code == 403 and "explicitly denied by policy NoDeletes" in response.json()["message"]


def test_resource_scoped_policies_apply_per_server(server, alice, bob, catalog):
    other = server_create(
        account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, {**BASE, "name": "other"})
    )
    scoped = policy_create(
        account=alice.account,
        name="EditOne",
        document={
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "openapiexplorer:UpdateApiMcpServer",
                    "Resource": f"acs:openapiexplorer::{alice.account_id}:apimcpserver/{server.id}",
                }
            ],
        },
    )
    bob.policies.add(scoped)
    client = session(bob)
    assert call(client, "PATCH", "/apimcpserver", {"id": server.id}, {"description": "ok"}).status_code == 200
    assert call(client, "PATCH", "/apimcpserver", {"id": other.id}, {"description": "no"}).status_code == 403


def test_system_servers_cannot_be_updated_or_deleted(alice, catalog):
    system = McpServer.objects.create(
        account=alice.account, name="ecs-official", source_type="system", system_product="Ecs", system_name="ecs"
    )
    client = session(alice)
    for method, body in (("PATCH", {"description": "x"}), ("DELETE", None)):
        response = call(client, method, "/apimcpserver", {"id": system.id}, body)
        assert (response.status_code, response.json()["code"]) == (403, "OperationNotAllowed.SystemServer")
    assert McpServer.objects.filter(pk=system.id, description="").exists()
    got = call(client, "GET", "/apimcpserver", {"id": system.id}).json()
    assert got["sourceType"] == "system" and got["systemMcpServerInfo"] == {"product": "Ecs", "name": "ecs"}


# Authentication ------------------------------------------------------------------------------


def test_anonymous_calls_are_refused_before_input_is_read(db):
    response = Client().post("/apimcpserver", data="{not json", content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (401, "MissingAuthorization")
    assert "ACS3-HMAC-SHA256" in response["WWW-Authenticate"]


def test_sessions_need_the_csrf_token_for_writes(alice, catalog):
    client = session(alice, csrf_checks=True)
    refused = call(client, "POST", "/apimcpserver", body=BASE)
    assert (refused.status_code, refused.json()["code"]) == (403, "Forbidden.CSRF")
    assert call(client, "GET", "/apimcpservers").status_code == 200  # safe methods need none
    client.get("/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = call(client, "POST", "/apimcpserver", body=BASE, **{"X-CSRFToken": token})
    assert accepted.status_code == 200, accepted.content


@pytest.mark.parametrize("scope", ["openapiexplorer", "/acs/mcp-server"])
def test_oauth_bearer_tokens_with_a_management_scope_work(alice, catalog, scope):
    response = call(Client(), "POST", "/apimcpserver", body=BASE, **bearer(alice, scope))
    assert response.status_code == 200, response.content
    listed = call(Client(), "GET", "/apimcpservers", **bearer(alice, scope)).json()
    assert listed["totalCount"] == 1


def test_oauth_bearer_tokens_go_through_policies_too(server, bob):
    response = call(Client(), "DELETE", "/apimcpserver", {"id": server.id}, **bearer(bob))
    assert (response.status_code, response.json()["code"]) == (403, "Forbidden.RAM")


@pytest.mark.parametrize(
    "make, status, code",
    [
        (lambda u: {"Authorization": "Bearer not-a-token"}, 401, "InvalidToken"),
        (lambda u: bearer(u, expires_in=-10), 401, "InvalidToken.Expired"),
        (lambda u: bearer(u, scope="profile"), 403, "Forbidden.TokenScope"),
        (
            lambda u: bearer(u, resource=["https://mcp.example/accounts/1/custom/x/id/y/mcp"]),
            401,
            "InvalidToken.Audience",
        ),
        (lambda u: {"Authorization": "Basic YWxpY2U6eA=="}, 401, "IncompleteSignature"),
    ],
)
def test_bad_bearer_tokens_are_refused_precisely(alice, catalog, make, status, code):
    response = call(Client(), "POST", "/apimcpserver", body=BASE, **make(alice))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert McpServer.objects.count() == 0


def test_a_token_bound_to_the_management_api_is_accepted(alice, catalog, settings):
    headers = bearer(alice, resource=[settings.PUBLIC_BASE_URL + "/"])
    assert call(Client(), "GET", "/apimcpservers", **headers).status_code == 200


def test_users_without_an_account_are_refused(db, django_user_model):
    root = django_user_model.objects.create_superuser("root", password="root-password")
    response = call(session(root), "GET", "/apimcpservers")
    assert (response.status_code, response.json()["code"]) == (403, "Forbidden.NoAccount")


# Audit ----------------------------------------------------------------------------------------


def test_management_calls_are_audited_with_caller_outcome_and_request_id(alice, bob, catalog):
    from runtime.models import AuditEvent

    created = call(session(alice), "POST", "/apimcpserver", body={**BASE, "clientToken": "audit-1"})
    denied = call(session(bob), "DELETE", "/apimcpserver", {"id": created.json()["id"]})
    invalid = call(session(alice), "POST", "/apimcpserver", body={**BASE, "name": "9bad"})
    events = {e.request_id: e for e in AuditEvent.objects.filter(kind="management")}
    ok = events[created.json()["requestId"]]
    assert (ok.username, ok.action, ok.outcome, ok.server_id) == (
        "alice",
        "openapiexplorer:CreateApiMcpServer",
        "success",
        created.json()["id"],
    )
    assert ok.account_id == alice.account_id and ok.arguments["body"]["name"] == "ram-tools"
    assert ok.arguments["body"]["clientToken"] == "***"
    no = events[denied.json()["requestId"]]
    assert (no.username, no.outcome, no.error_code) == ("bob", "denied", "Forbidden.RAM")
    assert events[invalid.json()["requestId"]].error_code == "InvalidParam.Name"


def test_anonymous_refusals_write_no_audit_event(db):
    from runtime.models import AuditEvent

    Client().get("/apimcpservers")
    assert not AuditEvent.objects.exists()


def test_the_sdks_bearer_token_header_is_accepted(alice, catalog):
    token = bearer(alice)["Authorization"].removeprefix("Bearer ")
    response = call(Client(), "GET", "/apimcpservers", **{"x-acs-bearer-token": token})
    assert response.status_code == 200
