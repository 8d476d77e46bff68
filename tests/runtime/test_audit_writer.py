"""The audit writer never loses a batch because of one event (runtime.audit, runtime.data).

Against the test database (PostgreSQL in CI): a batch with poisoned events writes every other
event in full, and each poisoned one in minimal form that says its details were lost.
"""

from __future__ import annotations

import logging
import math
import uuid

import anyio
import pytest
from django.db import connection

from runtime import audit
from runtime.audit import AuditWriter
from runtime.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cr3t-value-never-logged"


def event(tool: str, **fields) -> dict:
    values = {
        "kind": "tool_call",
        "account_id": "1001",
        "user_id": 7,
        "username": "alice",
        "server_id": "srv1",
        "tool": tool,
        "action": "ecs:DescribeInstances",
        "arguments": {"RegionId": "cn-hangzhou", "Note": SECRET},
        "outcome": "success",
        "latency_ms": 12,
        "request_id": uuid.uuid4().hex,
    }
    return audit.new_event(**{**values, **fields})


def write(batch: list[dict]) -> AuditWriter:
    writer = AuditWriter(batch_size=len(batch) + 1, flush_interval=0.01)

    async def main() -> None:
        for e in batch:
            writer.emit(e)
        writer.close()
        await writer.run()

    anyio.run(main)
    return writer


def assert_full_and_minimal(writer: AuditWriter, good: list[dict], poisoned: list[dict], caplog) -> None:
    rows = {e.event_id: e for e in AuditEvent.objects.all()}
    assert len(rows) == len(good) + len(poisoned)
    for e in good:
        row = rows[e["event_id"]]
        assert row.arguments == e["arguments"] and row.tool == e["tool"][:200] and row.latency_ms == 12
    for e in poisoned:
        row = rows[e["event_id"]]
        assert row.arguments == {"auditNote": audit.DETAILS_LOST}
        assert row.error_message == audit.DETAILS_LOST
        assert (row.account_id, row.user_id, row.server_id, row.outcome) == ("1001", 7, "srv1", "success")
    assert writer.details_lost == len(poisoned) and writer.dropped == 0
    assert writer.written == len(good) + len(poisoned)
    lost = [r.getMessage() for r in caplog.records if "AUDIT EVENT DETAILS LOST" in r.getMessage()]
    assert len(lost) == len(poisoned)
    assert all(e["event_id"] in " ".join(lost) for e in poisoned)
    assert SECRET not in caplog.text


def test_one_unstorable_event_does_not_lose_the_batch(caplog):
    caplog.set_level(logging.WARNING, logger="runtime.audit")
    good = [event(f"tool-{i}") for i in range(5)]
    poisoned = [
        event("not-json", arguments={"Value": object()}),  # not serialisable on any backend
        event("not-a-time", time="yesterday"),  # not a date: refused before any SQL is sent
    ]
    batch = good[:2] + poisoned[:1] + good[2:4] + poisoned[1:] + good[4:]
    writer = write(batch)
    assert_full_and_minimal(writer, good, poisoned, caplog)


def test_on_postgresql_nul_nan_and_huge_values_do_not_lose_the_batch(caplog):
    if connection.vendor != "postgresql":
        from tests.conftest import service_unavailable

        service_unavailable("PostgreSQL", "DATABASE_URL is not PostgreSQL")
    caplog.set_level(logging.WARNING, logger="runtime.audit")
    good = [event(f"tool-{i}") for i in range(4)]
    # Events as a caller might build them without `redact`: jsonb refuses NUL and NaN.
    poisoned = [
        event("nul-in-arguments", arguments={"Name": "a\x00b"}),
        event("nan-in-arguments", arguments={"Size": math.nan}),
        event("infinite-upstream", upstream={"duration_ms": math.inf}),
        event("huge-latency", latency_ms=10**12),  # beyond PostgreSQL's integer
    ]
    # Text is made storable on the way in: NUL written as \u0000, cut to the column's length.
    cleaned = event("x" * 500, error_message="bad\x00byte", username="bob\x00")
    batch = poisoned[:2] + good[:2] + [cleaned] + poisoned[2:] + good[2:]
    writer = write(batch)
    assert_full_and_minimal(writer, [*good, cleaned], poisoned, caplog)
    row = AuditEvent.objects.get(event_id=cleaned["event_id"])
    assert row.tool == "x" * 200 and row.error_message == "bad\\u0000byte" and row.username == "bob\\u0000"


def test_redact_makes_arguments_storable():
    redacted = audit.redact({"a\x00": ["x\x00y", math.nan, -math.inf, 1.5], "password": "p"})
    assert redacted == {"a\\u0000": ["x\\u0000y", "nan", "-inf", 1.5], "password": audit.REDACTED}
