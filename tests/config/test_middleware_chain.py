"""Under ASGI the middleware chain stays async (config.middleware.ResponseMiddleware).

A sync-only middleware makes Django run everything inside it through `async_to_sync`, in the
request's thread: the view's thread then waits on the event loop, which waits on that thread again,
for every request.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from django.core.handlers.asgi import ASGIHandler
from django.test import Client

from tests.conftest import serving

STRANGER = "203.0.113.9"


def test_no_middleware_adapts_the_asgi_chain(settings, caplog):
    settings.DEBUG = True  # Django logs each adaptation only with DEBUG on
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        ASGIHandler()
    assert [r.getMessage() for r in caplog.records if "handler adapted" in r.getMessage()] == []


def test_the_plain_404_page_for_a_signed_in_stranger_is_rendered_off_the_event_loop(
    settings, transactional_db: Any, alice: Any
):
    """The page names the signed-in user, which reads the session and the user from the database:
    under ASGI that read must not run on the event loop (Django would refuse it with a 500)."""
    settings.DEBUG = True
    signed_in = Client()
    signed_in.force_login(alice)
    session = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    with serving(forwarded_allow_ips="127.0.0.1") as url:  # the stranger comes through a proxy here
        answer = httpx.get(
            f"{url}/no-such-page/",
            headers={"x-forwarded-for": STRANGER},
            cookies={settings.SESSION_COOKIE_NAME: session},
            timeout=30,
        )
    assert answer.status_code == 404
    assert b"There is nothing here" in answer.content and b"URLconf" not in answer.content
    assert b"alice" in answer.content
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
