"""The connection form in a real headless Chromium: only the chosen auth type's fields show, a
service error lands on its field, and the secret typed is neither echoed back nor shown later."""

from __future__ import annotations

from typing import Any

import pytest

from oauth.models import Connection
from tests.console.test_browser import new_page, sign_in

pytestmark = pytest.mark.browser


def test_alice_adds_a_connection_in_the_browser(browser: Any, live_server_url: str, alice: Any) -> None:
    def scenario(chromium: Any) -> dict[str, Any]:
        context, page = new_page(chromium, live_server_url)
        try:
            sign_in(page, live_server_url, "alice", "alice-password")
            page.click("nav >> text=Connections")
            page.click("text=Add connection")
            assert not page.is_visible("fieldset[data-auth-type=bearer]")  # auth type "none" shows no fields
            page.select_option("#id_auth_type", "bearer")
            assert page.is_visible("#id_token") and not page.is_visible("#id_access_key_id")
            page.fill("#id_product", "GitHub")
            page.fill("#id_base_url", "api.github.com")
            page.fill("#id_token", "ghp_browser_secret")
            page.click("button:has-text('Add')")
            error = page.locator(".field-error[data-field=base_url]").inner_text()
            assert page.input_value("#id_token") == ""  # a typed secret is never sent back
            page.fill("#id_base_url", "https://api.github.com")
            page.fill("#id_token", "ghp_browser_secret")
            with page.expect_navigation():
                page.click("button:has-text('Add')")
            return {"error": error, "list": page.inner_text("main"), "html": page.content()}
        finally:
            context.close()

    seen = browser.run(scenario)
    assert "(InvalidParam.BaseUrl)" in seen["error"]
    assert "Created connection to GitHub." in seen["list"] and "https://api.github.com" in seen["list"]
    assert "ghp_browser_secret" not in seen["html"]
    assert Connection.objects.get(product="GitHub").get_secrets() == {"token": "ghp_browser_secret"}
