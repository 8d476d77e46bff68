"""`clientToken` idempotency for writes.

The first successful answer to (account, operation, clientToken) is stored with a digest of the
request. Repeating the token with the same request replays that answer without doing the work
again; repeating it with a different request is refused (IdempotentParameterMismatch). The write
and its record commit together, so two concurrent requests with one token cannot both do the work:
the loser's record insert fails, its transaction (work included) rolls back, and it replays the
winner's answer. Failed requests are not recorded, so a corrected retry with the same token works.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from servers.errors import ApiError
from servers.models import IdempotencyRecord

MAX_TOKEN_LENGTH = 64
RETENTION = timedelta(days=3)  # Alibaba: "The token expires in three days."


def check_client_token(token: str | None) -> str | None:
    """The token, or None when absent; InvalidParam.ClientToken unless 1-64 printable ASCII chars."""
    if token is None or token == "":
        return None
    if len(token) > MAX_TOKEN_LENGTH or not all(" " < c <= "~" for c in token):
        raise ApiError(
            "InvalidParam.ClientToken",
            f"The specified client token is not valid: it must be 1 to {MAX_TOKEN_LENGTH} printable ASCII "
            "characters without spaces.",
            field="clientToken",
        )
    return token


def request_digest(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: IdempotencyRecord, digest: str) -> dict[str, Any]:
    if record.request_sha256 != digest:
        raise ApiError(
            "IdempotentParameterMismatch",
            "The request uses the same client token as a previous request but with different parameters. "
            "Client tokens should not be reused across non-identical requests.",
            field="clientToken",
        )
    return dict(record.response)


def run_idempotent(
    *,
    account_id: str,
    operation: str,
    client_token: str | None,
    payload: Any,
    work: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run `work` (which returns the response body) at most once per token; replay otherwise."""
    if client_token is None:
        return work()
    digest = request_digest(payload)
    lookup = {"account_id": account_id, "operation": operation, "client_token": client_token}
    existing = IdempotencyRecord.objects.filter(**lookup, created_at__gte=timezone.now() - RETENTION).first()
    if existing is not None:
        return _replay(existing, digest)
    try:
        with transaction.atomic():
            # Look again inside the write transaction: a concurrent twin may have committed meanwhile.
            existing = IdempotencyRecord.objects.filter(**lookup, created_at__gte=timezone.now() - RETENTION).first()
            if existing is not None:
                return _replay(existing, digest)
            response = work()
            IdempotencyRecord.objects.filter(**lookup).delete()  # an expired record of the same token
            IdempotencyRecord.objects.create(**lookup, request_sha256=digest, status_code=200, response=response)
    except (IntegrityError, ApiError):
        # A twin won the race (its record, or e.g. its server name, committed first): answer as it did.
        winner = IdempotencyRecord.objects.filter(**lookup).first()
        if winner is None:
            raise
        return _replay(winner, digest)
    IdempotencyRecord.objects.filter(account_id=account_id, created_at__lt=timezone.now() - RETENTION).delete()
    return response
