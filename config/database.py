"""The database connection pool's one refusal, shared by Django views, the management API and the
MCP runtime: when no pooled connection becomes free within `DB_POOL_TIMEOUT`, the caller gets a
503 `ServiceUnavailable` with `Retry-After`, never a 500 or a traceback.
"""

from __future__ import annotations

from django.conf import settings
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
