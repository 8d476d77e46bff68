"""Django's debug pages (technical 404 and 500), for requests from this machine only.

With `DEBUG=1` Django answers an unmatched URL with the list of URL patterns and an error with a
traceback and the settings. Anyone who can reach the port would see them, so for a client whose
address is not loopback the production pages are rendered instead: here for errors (the
`DEFAULT_EXCEPTION_REPORTER` hook of `technical_500_response`, which also serves 400s such as a
disallowed Host) and in `config.middleware.DebugPagesOnLoopback` for 404s, which have no hook.
"""

from __future__ import annotations

import ipaddress

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString, mark_safe
from django.views import defaults
from django.views.debug import ExceptionReporter


def from_loopback(request: HttpRequest) -> bool:
    """True when the client (uvicorn's address after `--proxy-headers`) is this machine."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class LoopbackExceptionReporter(ExceptionReporter):
    """The traceback page for loopback clients and e-mail reports; the production page for others."""

    def _public(self) -> bool:
        return not self.is_email and self.request is not None and not from_loopback(self.request)

    def _bad_request(self) -> bool:
        return self.exc_type is not None and issubclass(self.exc_type, SuspiciousOperation | BadRequest)

    def get_traceback_html(self) -> SafeString:
        if not self._public():
            return super().get_traceback_html()
        assert self.request is not None
        if self._bad_request():
            exc = self.exc_value if isinstance(self.exc_value, Exception) else BadRequest()
            page: HttpResponse = defaults.bad_request(self.request, exc)
        else:
            page = defaults.server_error(self.request)
        return mark_safe(page.content.decode())  # the production page, rendered by Django's own view

    def get_traceback_text(self) -> SafeString:
        if not self._public():
            return super().get_traceback_text()
        return mark_safe("Bad Request (400)" if self._bad_request() else "Server Error (500)")
