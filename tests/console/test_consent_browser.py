"""The OAuth sign-in and consent pages in a real headless Chromium (docs/img/consent.png comes from here).

`UPDATE_SCREENSHOTS=1` writes the consent page's screenshot to docs/img/consent.png.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.console.test_browser import new_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VERIFIER = "a-pkce-code-verifier-of-forty-three-characters-or-more"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "consent.png"


@pytest.fixture
def callback_listener() -> Iterator[dict[str, Any]]:
    """The MCP client's loopback listener for the authorization response."""
    seen: dict[str, Any] = {"paths": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            seen["paths"].append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"signed in")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen["uri"] = f"http://127.0.0.1:{server.server_address[1]}/callback"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_user_signs_in_and_authorizes_an_mcp_client_in_chromium(
    browser: Any, live_server_url: str, alice: Any, tmp_path: Path, callback_listener: dict[str, Any]
) -> None:
    from oauth2_provider.models import AccessToken

    from servers.models import McpServer

    server = McpServer.objects.create(account=alice.account, name="ecs-ops", apis=[])
    resource = f"{live_server_url}/accounts/{server.account_id}/custom/{server.name}/id/{server.id}/mcp"
    redirect_uri = callback_listener["uri"]
    registered = httpx.post(
        f"{live_server_url}/oauth/register/",
        json={"client_name": "Claude Code", "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none"},
    )
    assert registered.status_code == 201, registered.text
    query = {
        "response_type": "code",
        "client_id": registered.json()["client_id"],
        "redirect_uri": redirect_uri,
        "state": "st-1",
        "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("="),
        "code_challenge_method": "S256",
        "scope": "/acs/mcp-server",
        "resource": resource,
    }
    shot = tmp_path / "consent.png"

    def scenario(chromium: Any) -> dict[str, Any]:
        context, page = new_page(chromium, live_server_url)
        try:
            page.goto(f"/oauth/authorize/?{urlencode(query)}")
            hint = page.locator("[data-testid=oauth-hint]").inner_text()
            page.fill("#id_username", "alice")
            page.fill("#id_password", "alice-password")
            with page.expect_navigation():
                page.click("button[type=submit]")
            page.set_viewport_size({"width": 1100, "height": 760})
            seen = {
                key: page.locator(f"[data-testid={key}]").inner_text()
                for key in ("client-name", "redirect-host", "server", "account", "scopes", "user")
            }
            page.screenshot(path=str(shot), full_page=True)
            with page.expect_navigation():
                page.click("[data-testid=allow]")
            return {"hint": hint, "seen": seen, "landed": page.url}
        finally:
            context.close()

    result = browser.run(scenario)
    assert "asks to use MCP servers as you" in result["hint"]
    seen = result["seen"]
    assert seen["client-name"] == "Claude Code"
    assert urlsplit(redirect_uri).netloc in seen["redirect-host"]
    assert "ecs-ops" in seen["server"] and resource in seen["server"]
    assert alice.account.name in seen["account"] and alice.account_id in seen["account"]
    assert "Use MCP servers of your account" in seen["scopes"]
    assert "alice" in seen["user"]
    assert result["landed"].startswith(redirect_uri)
    callbacks = [path for path in callback_listener["paths"] if path.startswith("/callback")]
    assert len(callbacks) == 1
    answer = {k: v[0] for k, v in parse_qs(urlsplit(callbacks[0]).query).items()}
    assert answer["state"] == "st-1" and answer["iss"] == live_server_url and answer["code"]
    token = httpx.post(
        f"{live_server_url}/oauth/token/",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": redirect_uri,
            "client_id": query["client_id"],
            "code_verifier": VERIFIER,
        },
    )
    assert token.status_code == 200, token.text
    assert AccessToken.objects.get(user=alice).resource == [resource]
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(shot.read_bytes())
