"""The console in a real headless Chromium against the real ASGI application under uvicorn.

Scenarios run on the browser's own thread (see conftest); the test thread prepares the database.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from servers.models import McpServer

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000


def sign_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "/login/" not in page.url, page.inner_text("main")


def new_page(browser: Any, base: str) -> tuple[Any, Any]:
    context = browser.new_context(base_url=base)
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    return context, context.new_page()


def test_alice_creates_a_server_and_copies_its_client_config(
    browser: Any, live_server_url: str, alice: Any, demo_catalog: Any
) -> None:
    def scenario(chromium: Any) -> dict[str, Any]:
        context, page = new_page(chromium, live_server_url)
        try:
            sign_in(page, live_server_url, "alice", "alice-password")
            page.click("text=Create MCP server")
            page.fill("#id_name", "9-Bad Name")
            page.fill("#id_apis", "Demo 2024-01-01 List* Get*")
            page.fill("#id_instructions", "Read things only.")
            page.check("input[value=FetchRamActionDetails]")
            page.click("button:has-text('Create')")
            name_error = page.locator(".field-error[data-field=name]").inner_text()
            assert "(InvalidParam.Name)" in name_error
            # the other fields keep what was typed
            assert page.input_value("#id_apis") == "Demo 2024-01-01 List* Get*"

            page.fill("#id_name", "things")
            with page.expect_navigation():
                page.click("button:has-text('Create')")
            assert page.locator("[data-testid=server-name]").inner_text() == "things"
            mcp_url = page.locator("#url-mcp").inner_text()
            internal_url = page.locator("#url-vpcMcp").inner_text()

            cursor = page.locator("#config-cursor")
            assert cursor.is_visible()
            cursor_text = cursor.inner_text()
            page.click("#client-cursor button[data-copy]")
            page.wait_for_selector("#client-cursor button[data-copied]")
            copied = page.evaluate("navigator.clipboard.readText()")
            install = page.get_attribute("[data-testid=install-cursor]", "href")

            page.click("#client-vscode summary")
            vscode = page.locator("#config-vscode").inner_text()
            page.click("a:has-text('SSE, internal')")
            cline_sse = page.locator("#config-cline").text_content()
            return {
                "mcp_url": mcp_url,
                "internal_url": internal_url,
                "copied": copied,
                "cursor_text": cursor_text,
                "install": install,
                "vscode": vscode,
                "cline_sse": cline_sse,
                "policy": page.locator("#required-policy").inner_text(),
            }
        finally:
            context.close()

    seen = browser.run(scenario)
    server = McpServer.objects.get(account=alice.account, name="things")
    assert server.instructions == "Read things only." and server.system_tools == ["FetchRamActionDetails"]
    path = f"/accounts/{alice.account_id}/custom/things/id/{server.id}"
    assert seen["mcp_url"].endswith(f"{path}/mcp")
    assert seen["internal_url"].endswith(f"{path}/mcp") and seen["internal_url"] != seen["mcp_url"]
    assert json.loads(seen["copied"]) == {"mcpServers": {"things": {"url": seen["mcp_url"]}}}
    assert json.loads(seen["copied"]) == json.loads(seen["cursor_text"])
    assert seen["install"].startswith("cursor://anysphere.cursor-deeplink/mcp/install?name=things&config=")
    assert json.loads(seen["vscode"]) == {"servers": {"things": {"type": "http", "url": seen["mcp_url"]}}}
    cline = json.loads(seen["cline_sse"])["mcpServers"]["things"]
    assert cline["type"] == "sse" and cline["url"].endswith(f"{path}/sse")
    assert set(json.loads(seen["policy"])["Statement"][0]["Action"]) == {"demo:ListThings", "demo:GetThing"}


def test_charlie_cannot_open_alices_server(browser: Any, live_server_url: str, charlie: Any, alice_server: Any) -> None:
    def scenario(chromium: Any) -> tuple[int, int, str]:
        context, page = new_page(chromium, live_server_url)
        try:
            sign_in(page, live_server_url, "charlie", "charlie-password")
            detail = page.goto(f"{live_server_url}/servers/{alice_server.id}/")
            edit = page.goto(f"{live_server_url}/servers/{alice_server.id}/edit/")
            page.goto(f"{live_server_url}/")
            return detail.status, edit.status, page.inner_text("main")
        finally:
            context.close()

    detail, edit, listing = browser.run(scenario)
    assert (detail, edit) == (404, 404)
    assert "alice-tools" not in listing and "No servers yet." in listing


def test_bob_reads_but_gets_403_on_create(browser: Any, live_server_url: str, bob: Any, alice_server: Any) -> None:
    def scenario(chromium: Any) -> dict[str, Any]:
        context, page = new_page(chromium, live_server_url)
        try:
            sign_in(page, live_server_url, "bob", "bob-password")
            listing = page.inner_text("main")
            create_buttons = page.locator("text=Create MCP server").count()
            created = page.goto(f"{live_server_url}/servers/new/")
            forbidden = page.locator("[data-testid=forbidden]").inner_text()
            page.goto(f"{live_server_url}/servers/{alice_server.id}/")
            return {
                "listing": listing,
                "create_buttons": create_buttons,
                "status": created.status,
                "forbidden": forbidden,
                "edit_buttons": page.locator("a:has-text('Edit')").count(),
                "detail_name": page.locator("[data-testid=server-name]").inner_text(),
            }
        finally:
            context.close()

    seen = browser.run(scenario)
    assert "alice-tools" in seen["listing"] and seen["create_buttons"] == 0
    assert seen["status"] == 403 and "openapiexplorer:CreateApiMcpServer" in seen["forbidden"]
    assert seen["detail_name"] == "alice-tools" and seen["edit_buttons"] == 0
