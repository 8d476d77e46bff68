"""Database connections under ASGI: the pool's one refusal, and threads that give connections back.

When no pooled connection becomes free within `DB_POOL_TIMEOUT`, the caller (a Django view, the
management API or the MCP runtime) gets a 503 `ServiceUnavailable` with `Retry-After`, never a 500
or a traceback.

Django keeps one connection per thread and gives a request's back at `request_finished`, in the
request's own thread. Every other thread the event loop lends to sync code is a
`ConnectionClosingExecutor`'s, whose tasks give their connections back when they end: the loop's
default executor (config.asgi), where Django logs 4xx/5xx answers and renders error pages, and the
runtime's lookup threads (runtime.data). The two are apart on purpose: a request that still holds
its connection waits for the default executor to log its 4xx, so threads waiting for a connection
(lookups under load) must never fill it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connections
from psycopg_pool import PoolTimeout

BUSY_CODE = "ServiceUnavailable"
RETRY_AFTER_SECONDS = "1"


def pool_exhausted(exc: BaseException) -> bool:
    """True when `exc` is psycopg_pool's timeout, or Django's `OperationalError` wrapping it."""
    seen: BaseException | None = exc
    for _ in range(5):  # Django wraps the driver's error once; a caller may have wrapped it again
        if seen is None:
            return False
        if isinstance(seen, PoolTimeout):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def busy_message() -> str:
    return f"The server is busy: no database connection became free within {settings.DB_POOL_TIMEOUT} s. Retry shortly."


def busy_body(request_id: str) -> dict[str, str]:
    return {"requestId": request_id, "code": BUSY_CODE, "message": busy_message()}


class ConnectionClosingExecutor(ThreadPoolExecutor):
    """A thread pool whose every task closes this thread's database connections when it ends
    (back to the pool), so none stays out of the pool for the thread's lifetime."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return super().submit(_closing_connections, fn, args, kwargs)


def _closing_connections(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return fn(*args, **kwargs)
    finally:
        connections.close_all()
