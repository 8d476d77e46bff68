"""One audit event per authenticated management API call (SPEC §6.6), successes and refusals alike.

A success is never reported without its event: `in_transaction_with_audit` (installed on every
operation) runs the operation and inserts its event in one database transaction, so when the event
cannot be written the operation's writes roll back and the caller gets 500 InternalServerError.
A refusal or failure has already rolled back; its event is written afterwards on its own, and a
failure to write that one is logged and does not change the answer. Requests refused before the
caller is known (bad signature, no credentials) have no account to file the event under and are
only logged.

What the caller sent is stored redacted (`runtime.audit.redact`), and every field of the event is
made storable: a NUL in any string or key is written `\\u0000` (six characters), a lone surrogate
becomes U+FFFD and a non-finite number becomes text, so the event's own content can never make its
insert fail.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpRequest

logger = logging.getLogger("servers.api")

_SURROGATES = re.compile("[\ud800-\udfff]")
NUL_TEXT = "\\u0000"  # as runtime.audit writes a NUL: PostgreSQL text and jsonb cannot hold one


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


def storable(value: Any) -> Any:
    """A copy of `value` that PostgreSQL text and jsonb columns accept (see the module docstring)."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value.replace("\x00", NUL_TEXT))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def _event(request: HttpRequest, *, operation: str, status: int, code: str, message: str) -> dict[str, Any]:
    from runtime.audit import new_event, redact
    from runtime.models import AuditEvent

    principal: Any = request.auth  # type: ignore[attr-defined]
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
    return {name: storable(value) for name, value in event.items()}


def record(
    request: HttpRequest, *, operation: str, status: int, code: str = "", message: str = "", strict: bool = False
) -> None:
    """Write the audit event of this request once (no-op without an authenticated caller).

    strict: let a failure to write it propagate (the caller's transaction then rolls back);
    otherwise log it and carry on.
    """
    if getattr(request, "auth", None) is None or getattr(request, "_management_audited", False) or not operation:
        return
    try:
        from runtime.models import AuditEvent

        event = _event(request, operation=operation, status=status, code=code, message=message)
        with transaction.atomic():  # a savepoint when nested: a failed insert leaves the caller's transaction usable
            AuditEvent.objects.create(**event)
    except Exception:
        if strict:
            raise
        logger.exception("could not write the audit event of management request %s", operation)
        return
    request._management_audited = True  # type: ignore[attr-defined]


def in_transaction_with_audit(view: Callable[..., Any]) -> Callable[..., Any]:
    """An operation's view run in one transaction with the insert of its success event (see above).

    Installed with `NinjaAPI.add_decorator(mode="operation")`, so it wraps the view proper:
    authentication (and its nonce bookkeeping) has already run and stays committed either way.
    """
    operation = str(getattr(getattr(view, "_ninja_operation", None), "operation_id", "") or "")

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with transaction.atomic():
            result = view(request, *args, **kwargs)
            record(request, operation=operation, status=200, strict=True)
        return result

    return wrapper
