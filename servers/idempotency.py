"""`clientToken` idempotency for writes.

The first successful answer to (account, operation, clientToken) is stored with a digest of the
request. Repeating the token with the same request replays that answer without doing the work
again; repeating it with a different request is refused (IdempotentParameterMismatch).

Concurrency: the record is inserted *before* the work, in the operation's transaction, and the
unique constraint (account, operation, client_token) decides. A twin's insert waits on the
constraint until the first request's transaction ends: if it committed, the twin's insert fails and
the twin replays the committed answer (or refuses a different body); if it rolled back (the work
failed), the twin goes ahead. So exactly one request with a token does the work. Failed requests
leave no record, so a corrected retry with the same token works. Records expire after three days.
The claim, the work and the stored answer are one transaction (nested in the operation's own,
see `servers.api.audit`).
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


def _fresh(lookup: dict[str, str]) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(**lookup, created_at__gte=timezone.now() - RETENTION).first()


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
    existing = _fresh(lookup)
    if existing is not None:
        return _replay(existing, digest)
    with transaction.atomic():  # the claim, the work and the answer commit together
        try:
            with transaction.atomic():  # a savepoint: a failed claim leaves the transaction usable
                # Claim the token before doing the work. Only an expired record of the token may go: a
                # fresh one is a twin's answer and stays. The insert waits for a twin that claimed the
                # token first, and fails with IntegrityError once that twin commits.
                IdempotencyRecord.objects.filter(**lookup, created_at__lt=timezone.now() - RETENTION).delete()
                record = IdempotencyRecord.objects.create(**lookup, request_sha256=digest, status_code=0, response={})
        except IntegrityError:
            winner = _fresh(lookup)  # READ COMMITTED: this new statement sees the twin's committed record
            if winner is None:
                raise
            return _replay(winner, digest)
        response = work()  # an error rolls the claim back with the work, so a corrected retry can succeed
        record.status_code, record.response = 200, response
        record.save(update_fields=["status_code", "response"])
    IdempotencyRecord.objects.filter(account_id=account_id, created_at__lt=timezone.now() - RETENTION).delete()
    return response
