"""The audit trail of tool calls (SPEC §6.6), written off the call path.

`AuditWriter.emit` puts an event on a bounded in-process queue and returns at once; a background
task (started in the ASGI lifespan) drains it in batches with one multi-row insert each. Shutdown
flushes what is queued. A full queue drops the event and says so loudly in the log, with a count.
Secrets in arguments are redacted before they are queued, and what PostgreSQL cannot store in
`jsonb` (NUL characters, NaN and infinities) is written as text.

A batch never fails as a whole because of one event: when its insert fails, its events are written
one by one, and an event that still cannot be stored is written in a minimal form (who, when,
which server and tool, the outcome) that records that its details were lost, with a loud log line
naming the event (never its arguments).
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import anyio

from runtime import data

logger = logging.getLogger(__name__)

SECRET_KEY_RE = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_]?key|access[-_]?key|credential|authorization|signature|private[-_]?key",
    re.IGNORECASE,
)
REDACTED = "***"
MAX_STRING = 2000
NUL = "\x00"
NUL_TEXT = "\\u0000"  # how a NUL character is written in the audit trail (PostgreSQL text cannot hold it)
DETAILS_LOST = "The details of this event could not be stored"


def redact(value: Any, *, secret_names: frozenset[str] = frozenset()) -> Any:
    """A copy of `value` with secret-looking keys (and `secret_names`) masked and long strings cut;
    NUL characters written as `\\u0000` and non-finite numbers as text (`jsonb` refuses both)."""
    if isinstance(value, dict):
        return {
            _text(k): REDACTED
            if (SECRET_KEY_RE.search(str(k)) or k in secret_names)
            else redact(v, secret_names=secret_names)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secret_names=secret_names) for v in value[:200]]
    if isinstance(value, str):
        return _text(value[:MAX_STRING] + "…" if len(value) > MAX_STRING else value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _text(value: Any) -> Any:
    return value.replace(NUL, NUL_TEXT) if isinstance(value, str) and NUL in value else value


def redact_url(url: str, *, secret_names: frozenset[str] = frozenset()) -> str:
    """Mask secret-looking query parameters of an upstream URL (and those named in `secret_names`)."""
    if "?" not in url:
        return url
    base, _, query = url.partition("?")
    parts = []
    for pair in query.split("&"):
        key, sep, val = pair.partition("=")
        secret = SECRET_KEY_RE.search(key) or unquote_plus(key) in secret_names
        parts.append(f"{key}{sep}{REDACTED}" if sep and secret else pair)
    return f"{base}?{'&'.join(parts)}"


def new_event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"event_id": uuid.uuid4().hex, "time": datetime.now(UTC)}
    event.update(fields)
    return event


_MINIMAL_FIELDS = (
    "event_id",
    "kind",
    "time",
    "account_id",
    "target_account_id",
    "user_id",
    "username",
    "client_id",
    "server_id",
    "tool",
    "action",
    "outcome",
    "error_code",
    "latency_ms",
    "source_ip",
    "request_id",
    "upstream_request_id",
)


def minimal(event: dict[str, Any]) -> dict[str, Any]:
    """What is left of an event that could not be stored: its plain fields as short clean text and
    a note in place of its arguments, error message and upstream request."""
    kept: dict[str, Any] = {}
    for name in _MINIMAL_FIELDS:
        value = event.get(name)
        if value is None:
            continue
        if name == "time":
            kept[name] = value if isinstance(value, datetime) else datetime.now(UTC)
        elif name in ("user_id", "latency_ms"):
            if type(value) is int and 0 <= value < 2**31:
                kept[name] = value
        else:
            kept[name] = _text(str(value))[:200]
    kept.setdefault("event_id", uuid.uuid4().hex)
    kept["event_id"] = str(kept["event_id"])[:40]
    kept["arguments"] = {"auditNote": DETAILS_LOST}
    kept["error_message"] = DETAILS_LOST
    kept["upstream"] = {}
    return kept


def _label(event: dict[str, Any]) -> str:
    """Names an event in the log without its arguments or messages."""
    fields = ("event_id", "kind", "account_id", "user_id", "server_id", "tool", "request_id")
    return " ".join(f"{name}={_text(str(event.get(name)))[:80]!r}" for name in fields if event.get(name) is not None)


def _why(exc: Exception) -> str:
    """The failure's type (and SQLSTATE), never its message: a database error message may quote the row."""
    cause = exc.__cause__ or exc
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return f"{type(exc).__name__}{f' SQLSTATE {state}' if state else ''}"


class AuditWriter:
    """Events queue in a plain bounded deque; the writer task is woken only when the queue was empty
    or a batch is full, not once per event (a wake-up per event cost more than the event itself)."""

    def __init__(self, *, max_queue: int = 10_000, batch_size: int = 200, flush_interval: float = 0.2) -> None:
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.dropped = 0
        self.written = 0
        self.details_lost = 0  # events written in minimal form (see `minimal`)
        self._last_drop_log = 0.0
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = anyio.Event()
        self._closed = False

    def emit(self, event: dict[str, Any]) -> None:
        queue = self._queue
        if self._closed or len(queue) >= self.max_queue:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log > 5:
                self._last_drop_log = now
                logger.error(
                    "AUDIT EVENTS DROPPED: the audit queue is full or closed (%d dropped so far)", self.dropped
                )
            return
        queue.append(event)
        if len(queue) == 1 or len(queue) >= self.batch_size:
            self._wake.set()

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        for _attempt in (1, 2):
            try:
                self.written += await data.write_audit_events(batch)
                return
            except Exception as exc:
                logger.warning(
                    "writing a batch of %d audit events failed (%s); writing them one by one", len(batch), _why(exc)
                )
            batch = await self._write_each(batch)
            if not batch:
                return
            await anyio.sleep(0.5)  # the database refused even a minimal event: wait, then try once more
        self.dropped += len(batch)
        logger.error("AUDIT EVENTS DROPPED: %d events could not be written", len(batch))

    async def _write_each(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write events one at a time, an unstorable one in minimal form; returns those left unwritten
        when the database refuses even a minimal event (it is not accepting writes at all)."""
        for index, event in enumerate(batch):
            try:
                self.written += await data.write_audit_events([event])
                continue
            except Exception as exc:
                reason = _why(exc)
            try:
                self.written += await data.write_audit_events([minimal(event)])
            except Exception as exc:
                logger.error("writing audit event %s failed, even in minimal form (%s)", _label(event), _why(exc))
                return batch[index:]
            self.details_lost += 1
            logger.error(
                "AUDIT EVENT DETAILS LOST: event %s could not be stored (%s); it was written without its details",
                _label(event),
                reason,
            )
        return []

    async def run(self) -> None:
        """Drain the queue until it is closed (by `close`), writing in batches."""
        queue = self._queue
        while True:
            if not queue:
                if self._closed:
                    return
                await self._wake.wait()
                self._wake = anyio.Event()
                continue
            if len(queue) < self.batch_size and not self._closed:
                # Let a batch gather (a wake-up from before now, e.g. during the last write, is stale).
                self._wake = anyio.Event()
                with anyio.move_on_after(self.flush_interval):
                    await self._wake.wait()
                self._wake = anyio.Event()
            batch = [queue.popleft() for _ in range(min(len(queue), self.batch_size))]
            await self._write(batch)

    def close(self) -> None:
        """No more events: `run` writes what is queued and returns."""
        self._closed = True
        self._wake.set()

    def pending(self) -> int:
        return len(self._queue)
