"""Authentication of MCP requests (SPEC §6.2) over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import anyio
import httpx
import pytest
from django.utils import timezone

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture
def server(make_server, alice):
    return make_server(alice.account, "plain", [], instructions="hello")


def post(url, token=None, body=INIT, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(url, json=body, headers={**ACCEPT, **headers}, timeout=30)


def dot_token(user, *, scope="/acs/mcp-server", resource=None, expires_in=3600, client_id="cli"):
    from oauth2_provider.models import AccessToken, Application

    app, _ = Application.objects.get_or_create(
        client_id=client_id,
        defaults={
            "name": client_id,
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": "http://127.0.0.1/cb",
        },
    )
    raw = f"dot-{client_id}-{user.pk}-{timezone.now().timestamp()}"
    AccessToken.objects.create(
        user=user,
        application=app,
        token=raw,
        scope=scope,
        expires=timezone.now() + timedelta(seconds=expires_in),
        resource=resource or [],
    )
    return raw


def test_no_token_gets_401_with_resource_metadata(live_server_url, mcp, server):
    url = live_server_url + mcp.path(server) + "/mcp"
    response = post(url)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    metadata_url = f"{live_server_url}/.well-known/oauth-protected-resource{mcp.path(server)}/mcp"
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{metadata_url}"' in challenge
    assert 'scope="/acs/mcp-server"' in challenge
    document = httpx.get(metadata_url).json()
    assert document["resource"] == url
    assert document["authorization_servers"] == [live_server_url]
    assert document["scopes_supported"] == ["/acs/mcp-server"]
    issuer = httpx.get(f"{live_server_url}/.well-known/oauth-authorization-server").json()
    assert issuer["issuer"] == live_server_url
    assert issuer["token_endpoint"] == f"{live_server_url}/oauth/token/"
    sse = httpx.get(live_server_url + mcp.path(server) + "/sse")
    assert sse.status_code == 401 and "/sse" in sse.headers["www-authenticate"]


def test_garbage_token_is_invalid(live_server_url, mcp, server):
    response = post(live_server_url + mcp.path(server) + "/mcp", "nope")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_user_of_another_account_is_forbidden(live_server_url, mcp, server, charlie, pat):
    response = post(live_server_url + mcp.path(server) + "/mcp", pat(charlie))
    assert response.status_code == 403
    assert response.json()["code"] == "Forbidden.AccountMismatch"


def test_a_revoked_personal_token_is_refused_at_once(live_server_url, mcp, server, alice, pat):
    from oauth.models import PersonalAccessToken

    token = pat(alice)
    url = live_server_url + mcp.path(server) + "/mcp"
    assert post(url, token).status_code == 200
    record = PersonalAccessToken.objects.get(user=alice)
    record.revoked_at = timezone.now()
    record.save()
    assert post(url, token).status_code == 401


def test_a_revoked_oauth_token_is_refused_at_once(live_server_url, mcp, server, alice):
    from oauth2_provider.models import AccessToken

    token = dot_token(alice)
    url = live_server_url + mcp.path(server) + "/mcp"
    assert post(url, token).status_code == 200
    AccessToken.objects.get(token=token).revoke()
    assert post(url, token).status_code == 401


def test_a_token_for_another_server_is_refused(live_server_url, mcp, server, make_server, alice, pat):
    other = make_server(alice.account, "other", [])
    url = live_server_url + mcp.path(server) + "/mcp"
    restricted = pat(alice, server_id=other.id)
    assert post(url, restricted).status_code == 401
    assert post(live_server_url + mcp.path(other) + "/mcp", restricted).status_code == 200
    bound = dot_token(alice, resource=[live_server_url + mcp.path(other) + "/mcp"])
    response = post(url, bound)
    assert response.status_code == 401
    assert "another resource" in response.json()["error_description"]
    assert post(live_server_url + mcp.path(other) + "/mcp", bound).status_code == 200


def test_expired_and_wrongly_scoped_oauth_tokens(live_server_url, mcp, server, alice):
    url = live_server_url + mcp.path(server) + "/mcp"
    assert post(url, dot_token(alice, expires_in=-10, client_id="old")).status_code == 401
    response = post(url, dot_token(alice, scope="openapiexplorer", client_id="mgmt"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_custom_oauth_accepts_only_its_own_client(live_server_url, mcp, make_server, alice):
    custom = make_server(alice.account, "custom", [], oauth_client_id="team-client")
    url = live_server_url + mcp.path(custom) + "/mcp"
    assert post(url, dot_token(alice, client_id="someone-else")).status_code == 401
    assert post(url, dot_token(alice, client_id="team-client")).status_code == 200


def test_public_access_off_refuses_the_public_url(live_server_url, mcp, make_server, alice, pat):
    closed = make_server(alice.account, "closed", [], public_access="off")
    response = post(live_server_url + mcp.path(closed) + "/mcp", pat(alice))
    assert response.status_code == 403
    assert response.json()["code"] == "Forbidden.PublicAccess"


def test_the_session_is_bound_to_its_credential(live_server_url, mcp, server, make_server, alice, bob, pat):
    """A session id presented with another user's token answers as if it did not exist."""
    url = live_server_url + mcp.path(server) + "/mcp"
    opened = post(url, pat(alice))
    session = opened.headers["mcp-session-id"]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    hijack = post(url, pat(bob), body=listing, **{"mcp-session-id": session})
    assert hijack.status_code == 404


def test_the_official_client_connects_with_an_oauth_token(live_server_url, mcp, server, alice):
    token = dot_token(alice, resource=[live_server_url + mcp.path(server) + "/mcp"])

    async def main():
        async with mcp.client(live_server_url + mcp.path(server) + "/mcp", token) as client:
            return client.session.initialize_result.instructions

    assert anyio.run(main) == "hello"


def test_create_token_command_prints_a_working_token(live_server_url, mcp, server, alice):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("create_token", "--user", "alice", "--server", server.id, stdout=out)
    token = out.getvalue().strip()
    assert token.startswith("mcp_pat_")
    assert post(live_server_url + mcp.path(server) + "/mcp", token).status_code == 200
