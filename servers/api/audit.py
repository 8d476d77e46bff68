"""One audit event per authenticated management API call (SPEC §6.6), successes and refusals alike.

Management calls are rare next to tool calls, so the event is written synchronously after the
answer is decided. Writing it never changes the answer: a failure is logged and swallowed.
Requests refused before the caller is known (bad signature, no credentials) have no account to
file the event under and are only logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.http import HttpRequest

logger = logging.getLogger("servers.api")


def start(request: HttpRequest) -> None:
    request._management_started = time.monotonic()  # type: ignore[attr-defined]


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    if status < 500:
        return "invalid"
    return "error"


def record(request: HttpRequest, *, operation: str, status: int, code: str = "", message: str = "") -> None:
    """Write the audit event of this request once (no-op without an authenticated caller)."""
    principal: Any = getattr(request, "auth", None)
    if principal is None or getattr(request, "_management_audited", False) or not operation:
        return
    request._management_audited = True  # type: ignore[attr-defined]
    try:
        from runtime.audit import new_event, redact
        from runtime.models import AuditEvent

        started = getattr(request, "_management_started", time.monotonic())
        arguments = {
            "query": {k: request.GET.get(k) for k in request.GET},
            "body": getattr(request, "_management_json", None) or {},
        }
        event = new_event(
            kind=AuditEvent.KIND_MANAGEMENT,
            account_id=principal.account_id,
            user_id=principal.user.pk,
            username=principal.user.username,
            client_id=principal.credential if principal.method in ("oauth", "internal") else "",
            server_id=str(request.GET.get("id") or getattr(request, "_management_server_id", ""))[:32],
            action=f"openapiexplorer:{operation}",
            arguments=redact(arguments),
            outcome=_outcome(status),
            error_code=code,
            error_message=message[:2000],
            latency_ms=int((time.monotonic() - started) * 1000),
            source_ip=principal.source_ip,
            request_id=getattr(request, "_management_request_id", ""),
        )
        AuditEvent.objects.create(**event)
    except Exception:
        logger.exception("could not write the audit event of management request %s", operation)
