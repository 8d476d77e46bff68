"""The audit trail outside the MCP hot path (SPEC §6.6): console writes, request logs, export.

- `record_event` writes one event synchronously, redacted (`runtime.audit.redact`) and made
  storable (`servers.api.audit.storable`); called inside the caller's transaction it commits or
  rolls back with the change it describes. `record_console` is the console's door: one event per
  console write (server create, edit, delete; connections; AccessKeys), with the same actions as
  the management API operations that do the same thing.
- `find_request_log` / `log_info`: the event behind a request id, as GetRequestLog and
  GetOwnRequestLog answer it.
- `events_for_export`: the filtered, ordered events `manage.py export_audit` writes.

Tool calls are audited by the MCP runtime (`runtime.audit.AuditWriter`, off the call path) and
management API calls by `servers.api.audit`; all of them land in `runtime.models.AuditEvent`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest

KIND_CONSOLE = "console"
CONSOLE_CLIENT_ID = "console"


def record_event(
    *,
    kind: str,
    account_id: str,
    user: Any,
    action: str,
    outcome: str,
    arguments: Mapping[str, Any] | None = None,
    server_id: str = "",
    tool: str = "",
    client_id: str = "",
    source_ip: str = "",
    request_id: str = "",
    error_code: str = "",
    error_message: str = "",
    latency_ms: int = 0,
    target_account_id: str = "",
) -> Any:
    """Insert one audit event now (a savepoint inside the caller's transaction) and return it."""
    from runtime.audit import new_event, redact
    from runtime.models import AuditEvent
    from servers.api.audit import storable

    event = new_event(
        kind=kind,
        account_id=str(account_id or ""),
        target_account_id=str(target_account_id or account_id or ""),
        user_id=getattr(user, "pk", None),
        username=getattr(user, "username", "") or "",
        client_id=client_id,
        server_id=str(server_id or "")[:32],
        tool=tool[:200],
        action=action[:200],
        arguments=redact(dict(arguments or {})),
        outcome=outcome,
        error_code=error_code[:200],
        error_message=error_message[:2000],
        latency_ms=max(0, int(latency_ms)),
        source_ip=source_ip[:64],
        request_id=request_id or str(uuid.uuid4()).upper(),
    )
    with transaction.atomic():
        return AuditEvent.objects.create(**{name: storable(value) for name, value in event.items()})


def console_arguments(request: HttpRequest) -> dict[str, Any]:
    """What a console form sent: its fields (CSRF token left out), redacted later like any argument."""
    fields = {k: (v if len(v) > 1 else v[0]) for k, v in request.POST.lists() if k != "csrfmiddlewaretoken"}
    return {"form": fields} if fields else {}


def record_console(
    request: HttpRequest,
    *,
    action: str,
    outcome: str = "success",
    server_id: str = "",
    error_code: str = "",
    error_message: str = "",
    arguments: Mapping[str, Any] | None = None,
    started: float | None = None,
) -> Any:
    """The event of one console write by the signed-in user (`action` as the API names the operation)."""
    from oauth.throttle import client_address

    user: Any = request.user
    return record_event(
        kind=KIND_CONSOLE,
        account_id=str(user.account_id or ""),
        user=user,
        action=action,
        outcome=outcome,
        arguments=console_arguments(request) if arguments is None else arguments,
        server_id=server_id,
        client_id=CONSOLE_CLIENT_ID,
        source_ip=client_address(request),
        error_code=error_code,
        error_message=error_message,
        latency_ms=int((time.monotonic() - started) * 1000) if started is not None else 0,
    )


def outcome_for_status(status: int) -> str:
    """An HTTP status as an outcome: denied (401, 403), invalid (other 4xx), error (5xx), else success."""
    if status in (401, 403):
        return "denied"
    if 400 <= status < 500:
        return "invalid"
    return "error" if status >= 500 else "success"


@dataclass
class ConsoleWrite:
    """What a view tells `console_write` while it runs (the id of the server it touched)."""

    server_id: str = ""


@contextmanager
def console_write(
    request: HttpRequest, action: str, *, server_id: str = "", arguments: Mapping[str, Any] | None = None
) -> Iterator[ConsoleWrite]:
    """Run a console write and its audit event in one transaction (both or neither); a refusal
    (`ApiError`) rolls the write back, is audited on its own with its outcome, and propagates."""
    from servers.errors import ApiError

    started = time.monotonic()
    write = ConsoleWrite(server_id)
    try:
        with transaction.atomic():
            yield write
            record_console(request, action=action, server_id=write.server_id, arguments=arguments, started=started)
    except ApiError as exc:
        record_console(
            request,
            action=action,
            outcome=outcome_for_status(exc.status),
            server_id=write.server_id,
            error_code=exc.code,
            error_message=exc.message,
            arguments=arguments,
            started=started,
        )
        raise


# Request logs (GetRequestLog, GetOwnRequestLog) --------------------------------------------------


def find_request_log(*, account_id: str, log_request_id: str, user_id: int | None = None) -> Any:
    """The newest event with this request id (ours or the upstream's) visible in `account_id` (its
    own events and those run in it through an assumed role), or None; `user_id`: that user's only."""
    from runtime.models import AuditEvent

    rid = log_request_id.strip()
    qs = AuditEvent.objects.filter(Q(account_id=account_id) | Q(target_account_id=account_id)).filter(
        Q(request_id__iexact=rid) | Q(upstream_request_id__iexact=rid)
    )
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    return qs.order_by("-pk").first()


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _parameters(event: Any) -> list[dict[str, Any]]:
    arguments = event.arguments if isinstance(event.arguments, dict) else {}
    if event.kind == "management":  # {"query": {...}, "body": {...}}
        flat = {**(arguments.get("query") or {}), **(arguments.get("body") or {})}
    elif event.kind == KIND_CONSOLE:
        flat = dict(arguments.get("form") or {})
    else:
        flat = arguments
    return [{"name": str(k), "value": v, "required": False, "type": _json_type(v)} for k, v in flat.items()]


def _api_of(event: Any) -> tuple[str, str]:
    """(product, API) of the event: from the upstream log of a tool call, else its action."""
    upstream = event.upstream if isinstance(event.upstream, dict) else {}
    if upstream.get("product") or upstream.get("api"):
        return str(upstream.get("product", "")), str(upstream.get("api", ""))
    product, _, api = (event.action or "").partition(":")
    if event.kind == "management":
        product = "OpenAPIExplorer"
    return product, api or event.tool


def _auth_type(event: Any) -> str:
    """BEARERTOKEN for tokens (MCP clients, OAuth management calls), CONSOLE for the console, else
    empty: an event does not record whether a management call was signed or came from a session."""
    if event.kind == KIND_CONSOLE:
        return "CONSOLE"
    if event.kind == "management" and not event.client_id:
        return ""
    return "BEARERTOKEN"


def log_info(event: Any) -> dict[str, Any]:
    """The `logInfo` of GetRequestLog: the fields OpenAPIExplorer defines, filled from the event."""
    upstream = event.upstream if isinstance(event.upstream, dict) else {}
    product, api = _api_of(event)
    url = str(upstream.get("url", ""))
    denied = event.outcome == "denied"
    basic: dict[str, Any] = {
        "api": api,
        "apiVersion": str(upstream.get("version", "2024-11-30" if event.kind == "management" else "")),
        "product": product,
        "productName": {"cnName": product, "enName": product},
        "apiStyle": str(upstream.get("style", "roa" if event.kind == "management" else "")),
        "logRequestId": event.request_id,
        "httpStatusCode": str(upstream.get("status", "")),
        "errorCode": event.error_code,
        "errorMessage": event.error_message,
        "httpMethod": str(upstream.get("method", "")),
        "requestDuration": str(upstream.get("duration_ms", event.latency_ms)),
        "sdkRequestTime": _iso(event.time),
        "gatewayProcessTime": _iso(event.time),
        "regionId": str(upstream.get("region", "")),
        "endpoint": urlsplit(url).netloc if url else "",
        "throttlingResult": "FC.DENY" if event.error_code.startswith("Throttling") else "FC.PASS",
    }
    if denied:
        basic["accessDeniedDetail"] = {
            "policyType": "AccountLevelIdentityBasedPolicy",
            "authPrincipalOwnerId": event.account_id,
            "authPrincipalType": "SubUser",
            "authPrincipalDisplayName": event.username,
            "noPermissionType": "ExplicitDeny" if "explicitly denied" in event.error_message else "ImplicitDeny",
            "authAction": event.action,
            "encodedDiagnosticMessage": event.error_message,
        }
    return {
        "basicInfo": basic,
        "callerInfo": {
            "callerType": "sub",
            "callerIp": event.source_ip,
            "masterAccountId": event.account_id,
            "callerAccountId": str(event.user_id or ""),
            "userAgent": event.client_id,
        },
        "authenticationInfo": {
            "signatureVersion": "unknown",
            "signatureMethod": "",
            "authenticationType": _auth_type(event),
        },
        "parameters": _parameters(event),
        # Answers are not recorded (they may hold anything the upstream returned).
        "responses": {"responseBody": "-", "responseBodyFormat": "JSON"},
    }


# Export ------------------------------------------------------------------------------------------


def events_for_export(
    *,
    account_id: str = "",
    username: str = "",
    kind: str = "",
    outcome: str = "",
    server_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Any]:
    """Events matching every given filter, oldest first (`since` inclusive, `until` exclusive)."""
    from runtime.models import AuditEvent

    qs = AuditEvent.objects.all()
    if account_id:
        qs = qs.filter(Q(account_id=account_id) | Q(target_account_id=account_id))
    if username:
        qs = qs.filter(username=username)
    if kind:
        qs = qs.filter(kind=kind)
    if outcome:
        qs = qs.filter(outcome=outcome)
    if server_id:
        qs = qs.filter(server_id=server_id)
    if since is not None:
        qs = qs.filter(time__gte=since)
    if until is not None:
        qs = qs.filter(time__lt=until)
    return qs.order_by("time", "pk")


def export_record(event: Any) -> dict[str, Any]:
    """One event as a JSON-lines record (camelCase, as the API and LookupEvents name the fields)."""
    return {
        "eventId": event.event_id,
        "kind": event.kind,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "accountId": event.account_id,
        "targetAccountId": event.target_account_id,
        "userId": event.user_id,
        "userName": event.username,
        "clientId": event.client_id,
        "serverId": event.server_id,
        "tool": event.tool,
        "action": event.action,
        "arguments": event.arguments,
        "outcome": event.outcome,
        "errorCode": event.error_code,
        "errorMessage": event.error_message,
        "latencyMs": event.latency_ms,
        "sourceIp": event.source_ip,
        "requestId": event.request_id,
        "upstreamRequestId": event.upstream_request_id,
        "upstream": event.upstream,
    }


def iter_export(qs: QuerySet[Any], chunk_size: int = 1000) -> Iterator[dict[str, Any]]:
    for event in qs.iterator(chunk_size=chunk_size):
        yield export_record(event)
