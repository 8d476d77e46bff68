"""Cookies and response headers: Secure cookies and HSTS under an https public URL, the CSP and the
other headers on every answer, `Cache-Control: no-store` on what a signed-in browser gets, and a
console that works in Chromium under that CSP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from config.middleware import CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY
from tests.conftest import fresh_settings

ROOT = Path(__file__).resolve().parents[2]
HTTPS_KEYS = (
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
)


def settings_for(**env: str) -> dict[str, Any]:
    """The cookie and https settings a fresh process derives from `env`."""
    code, err, value = fresh_settings(
        f"{{k: getattr(s, k) for k in {list(HTTPS_KEYS)!r}}}",
        env,
        drop=lambda k: k in ("PUBLIC_BASE_URL", "TRUSTED_PROXIES", "SECURE_COOKIES"),
    )
    assert code == 0, err
    return dict(value)


@pytest.fixture(scope="module")
def https_settings() -> dict[str, Any]:
    return settings_for(PUBLIC_BASE_URL="https://mcp.example.test")


def test_an_https_public_url_makes_cookies_secure_and_turns_hsts_on(https_settings):
    assert https_settings["SESSION_COOKIE_SECURE"] is True
    assert https_settings["CSRF_COOKIE_SECURE"] is True
    assert https_settings["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert https_settings["SECURE_PROXY_SSL_HEADER"] is None  # no TRUSTED_PROXIES: the ASGI scheme only


def test_plain_http_keeps_cookies_usable_and_sends_no_hsts():
    plain = settings_for(PUBLIC_BASE_URL="http://127.0.0.1:8000")
    assert plain["SESSION_COOKIE_SECURE"] is False and plain["CSRF_COOKIE_SECURE"] is False
    assert plain["SECURE_HSTS_SECONDS"] == 0
    assert plain["SESSION_COOKIE_HTTPONLY"] is True and plain["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert settings_for(PUBLIC_BASE_URL="http://10.0.0.5:8000", SECURE_COOKIES="1")["SESSION_COOKIE_SECURE"] is True


def test_x_forwarded_proto_is_believed_only_with_trusted_proxies():
    behind = settings_for(PUBLIC_BASE_URL="https://mcp.example.test", TRUSTED_PROXIES="10.0.0.1")
    assert behind["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.fixture
def https(settings: Any, https_settings: dict[str, Any]) -> dict[str, Any]:
    for key, value in https_settings.items():
        setattr(settings, key, tuple(value) if isinstance(value, list) else value)
    return https_settings


def cookie_flags(response: Any, name: str) -> dict[str, Any]:
    morsel = response.cookies[name]
    return {"secure": bool(morsel["secure"]), "httponly": bool(morsel["httponly"]), "samesite": morsel["samesite"]}


@pytest.mark.django_db
def test_signing_in_over_https_sets_secure_httponly_lax_cookies(https, alice):
    client = Client()
    client.get("/login/", secure=True)
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/login/",
        {"username": "alice", "password": "alice-password", "csrfmiddlewaretoken": token},
        secure=True,
        HTTP_REFERER="https://testserver/login/",
    )
    assert response.status_code == 302, response.content[:500]
    expected = {"secure": True, "httponly": True, "samesite": "Lax"}
    assert cookie_flags(response, "sessionid") == expected
    assert cookie_flags(client.get("/login/", secure=True), "csrftoken") == expected
    assert response["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.django_db
def test_hsts_follows_the_scheme_a_trusted_proxy_reports(https, settings, client):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/login/", HTTP_X_FORWARDED_PROTO="https")["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/login/", HTTP_X_FORWARDED_PROTO="http")


@pytest.mark.django_db
def test_every_answer_carries_the_security_headers(client, alice):
    anonymous = [client.get("/login/"), client.get("/apimcpservers"), client.get("/static/console.css")]
    client.force_login(alice)
    signed_in = [client.get("/"), client.get("/access-keys/")]
    for response in anonymous + signed_in:
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Permissions-Policy"] == PERMISSIONS_POLICY
        assert response["X-Frame-Options"] == "DENY"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_pages_of_a_signed_in_browser_are_not_stored(client, alice):
    assert "Cache-Control" not in client.get("/apimcpservers")  # an anonymous answer: left alone
    client.force_login(alice)
    for url in ["/", "/access-keys/", "/connections/", "/servers/new/", "/login/"]:
        assert "no-store" in client.get(url)["Cache-Control"], url
    static = client.get("/static/console.css")
    assert static["Cache-Control"] == "public, max-age=300"  # the stylesheet may be cached


@pytest.mark.django_db
def test_a_new_access_key_secret_is_not_stored(client, alice):
    client.force_login(alice)
    response = client.post("/access-keys/", {"description": "ci"})
    issued = response.context["issued"]
    assert issued is not None and issued.access_key_secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]


@pytest.mark.browser
def test_the_console_works_under_its_content_security_policy(browser, live_server_url, alice_server, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save()

    def scenario(chromium: Any) -> dict[str, Any]:
        context = chromium.new_context(base_url=live_server_url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        violations: list[str] = []
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        try:
            page.goto("/login/")
            title_size = page.eval_on_selector(".page-title", "e => getComputedStyle(e).fontSize")
            page.fill("#id_username", "alice")
            page.fill("#id_password", "alice-password")
            with page.expect_navigation():
                page.click("button[type=submit]")
            pages = ["/", f"/servers/{alice_server.id}/", "/connections/new/", "/access-keys/", "/admin/"]
            for url in pages:
                page.goto(url)
                page.wait_for_load_state("load")
            page.goto(f"/servers/{alice_server.id}/")
            page.click("a:has-text('SSE, internal')")  # a plain link; the copy buttons are tested elsewhere
            page.goto("/api/docs")
            page.wait_for_selector(".swagger-ui .info")
            swagger_title = page.inner_text(".swagger-ui .info .title")
            inline_ran = page.evaluate(
                """() => new Promise(done => {
                    const s = document.createElement('script');
                    s.textContent = 'window.__inline = 1';
                    document.body.appendChild(s);
                    setTimeout(() => done(window.__inline === 1), 100);
                })"""
            )
            return {
                "title_size": title_size,
                "swagger_title": swagger_title,
                "inline_ran": inline_ran,
                "violations": violations,
            }
        finally:
            context.close()

    seen = browser.run(scenario)
    assert seen["title_size"] == "20px"  # the class that replaced the style attribute applies
    assert "management API" in seen["swagger_title"]
    assert seen["inline_ran"] is False  # the policy is in force: an injected inline script does not run
    # Only the probe above may have been refused.
    assert all("inline" in text for text in seen["violations"]), seen["violations"]
    assert len(seen["violations"]) == 1, seen["violations"]
