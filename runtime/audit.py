"""The audit trail of tool calls (SPEC §6.6), written off the call path.

`AuditWriter.emit` puts an event on a bounded in-process queue and returns at once; a background
task (started in the ASGI lifespan) drains it in batches with one `bulk_create` each. Shutdown
flushes what is queued. A full queue drops the event and says so loudly in the log, with a count.
Secrets in arguments are redacted before they are queued.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

import anyio

from runtime import data

logger = logging.getLogger(__name__)

SECRET_KEY_RE = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_]?key|access[-_]?key|credential|authorization|signature|private[-_]?key",
    re.IGNORECASE,
)
REDACTED = "***"
MAX_STRING = 2000


def redact(value: Any, *, secret_names: frozenset[str] = frozenset()) -> Any:
    """A copy of `value` with secret-looking keys (and `secret_names`) masked and long strings cut."""
    if isinstance(value, dict):
        return {
            k: REDACTED if (SECRET_KEY_RE.search(str(k)) or k in secret_names) else redact(v, secret_names=secret_names)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v, secret_names=secret_names) for v in value[:200]]
    if isinstance(value, str) and len(value) > MAX_STRING:
        return value[:MAX_STRING] + "…"
    return value


def redact_url(url: str) -> str:
    """Mask secret-looking query parameters of an upstream URL."""
    if "?" not in url:
        return url
    base, _, query = url.partition("?")
    parts = []
    for pair in query.split("&"):
        key, sep, val = pair.partition("=")
        parts.append(f"{key}{sep}{REDACTED}" if sep and SECRET_KEY_RE.search(key) else pair)
    return f"{base}?{'&'.join(parts)}"


def new_event(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"event_id": uuid.uuid4().hex, "time": datetime.now(UTC)}
    event.update(fields)
    return event


class AuditWriter:
    """Events queue in a plain bounded deque; the writer task is woken only when the queue was empty
    or a batch is full, not once per event (a wake-up per event cost more than the event itself)."""

    def __init__(self, *, max_queue: int = 10_000, batch_size: int = 200, flush_interval: float = 0.2) -> None:
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.dropped = 0
        self.written = 0
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
        for attempt in (1, 2):
            try:
                self.written += await data.write_audit_events(batch)
                return
            except Exception:
                logger.exception("writing %d audit events failed (attempt %d)", len(batch), attempt)
                await anyio.sleep(0.5)
        self.dropped += len(batch)
        logger.error("AUDIT EVENTS DROPPED: %d events could not be written", len(batch))

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
