"""Middleware of the whole site: response headers, debug pages, the database pool's refusal, and
the management API's error format where the framework answers first.

Each one works on the answer alone (no database, no I/O), so each serves both of Django's modes
(`ResponseMiddleware`): under ASGI the whole chain stays async and only the view, and the hooks of
Django's own middleware, run in the request's thread. A sync-only middleware would make Django wrap
the rest of the chain in `async_to_sync` inside that thread, for every request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from config import database
from config.debug import from_loopback
from servers.api.common import request_id

logger = logging.getLogger(__name__)

# The console loads its one script and its one stylesheet from /static/ and has no inline script or
# style; the management API's Swagger UI (ninja's bundled files) needs no more. No `form-action`:
# Chromium applies it to the redirect after a form post, which would block the OAuth consent form's
# redirect to the client's (loopback or custom-scheme) redirect URI.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)


class ResponseMiddleware:
    """A middleware that only looks at (or replaces) the answer, in Django's sync and async modes
    alike: subclasses implement `respond`, which must not block."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._respond_async(request)
        return self.respond(request, self.get_response(request))

    async def _respond_async(self, request: HttpRequest) -> HttpResponse:
        return self.respond(request, await self.get_response(request))

    def respond(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response


class SecurityHeaders(ResponseMiddleware):
    """Content-Security-Policy and Permissions-Policy on every answer, and `Cache-Control: no-store`
    on every answer to a signed-in browser (its request carries the session cookie, or the answer
    sets it), except static files and answers that set their own Cache-Control.

    Django's SecurityMiddleware adds nosniff, Referrer-Policy, Cross-Origin-Opener-Policy and (on
    https) HSTS; XFrameOptionsMiddleware adds `X-Frame-Options: DENY`.
    """

    def respond(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not _debug_page(request, response):  # Django's debug pages use inline styles and scripts
            response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        session_cookie = settings.SESSION_COOKIE_NAME
        signed_in = session_cookie in request.COOKIES or session_cookie in response.cookies
        if signed_in and "Cache-Control" not in response and not request.path.startswith(settings.STATIC_URL):
            response["Cache-Control"] = "no-store"
        return response


def _debug_page(request: HttpRequest, response: HttpResponse) -> bool:
    return (
        settings.DEBUG
        and response.status_code in (400, 404, 500)
        and response.get("Content-Type", "").startswith("text/")
        and from_loopback(request)
    )


class DebugPagesOnLoopback(ResponseMiddleware):
    """With DEBUG on, a client that is not on loopback gets the production 404 page, not Django's
    technical one listing the URL patterns (errors: `config.debug.LoopbackExceptionReporter`)."""

    def respond(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return defaults.page_not_found(request, Http404()) if _unmatched_debug_404(request, response) else response

    async def _respond_async(self, request: HttpRequest) -> HttpResponse:
        response = await self.get_response(request)
        if _unmatched_debug_404(request, response):  # the page names the signed-in user: a database read
            return await sync_to_async(defaults.page_not_found)(request, Http404())
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Http404) and _hide_debug(request):
            return defaults.page_not_found(request, exception)
        return None


def _unmatched_debug_404(request: HttpRequest, response: HttpResponse) -> bool:
    """No URL matched (Resolver404, answered by Django's technical 404 under DEBUG): no view ran."""
    return response.status_code == 404 and request.resolver_match is None and _hide_debug(request)


def _hide_debug(request: HttpRequest) -> bool:
    return settings.DEBUG and not from_loopback(request)


class DatabaseBusy(ResponseMiddleware):
    """No pooled database connection became free in time: a 503 JSON answer instead of an error page."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database.pool_exhausted(exception):
            return None
        rid = request_id(request)
        logger.warning("request %s %s %s: %s", rid, request.method, request.path, database.busy_message())
        response = JsonResponse(database.busy_body(rid), status=503)
        response["Retry-After"] = database.RETRY_AFTER_SECONDS
        response["x-acs-request-id"] = rid
        return response


class ManagementMethodNotAllowed(ResponseMiddleware):
    """A wrong HTTP method on a management API path gets `{requestId, code, message}`, not plain text."""

    def respond(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        match = getattr(request, "resolver_match", None)
        if response.status_code != 405 or match is None or "mgmt" not in match.namespaces:
            return response
        allowed = response.get("Allow", "")
        rid = request_id(request)
        answer = JsonResponse(
            {
                "requestId": rid,
                "code": "UnsupportedHTTPMethod",
                "message": f"{request.method} is not supported on {request.path}; use {allowed}",
            },
            status=405,
        )
        answer["Allow"] = allowed
        answer["x-acs-request-id"] = rid
        return answer
