"""Runtime settings: a Django setting of the same name wins, else the environment, else the default.

Read on first use and remembered (these are read several times per tool call); a change of any
Django setting (`setting_changed`, sent by `override_settings` and pytest-django's `settings`)
forgets the remembered values, so tests see changes without a restart.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from config.env import ImproperlyConfiguredEnv, envbool, envint

DEFAULTS: dict[str, int | bool] = {
    "MCP_STATELESS_HTTP": False,  # Streamable HTTP without sessions (for load balancers without affinity)
    "MCP_SESSION_IDLE_SECONDS": 10 * 60,  # a stateful session with no request in flight this long is closed
    # Caps per process (runtime.limits; 0 = no cap); one more is refused with 429.
    "MCP_MAX_SESSIONS_PER_USER": 50,  # open Streamable HTTP sessions of one user, all servers
    "MCP_MAX_SESSIONS_PER_SERVER": 1000,  # open Streamable HTTP sessions on one server, all users
    "MCP_MAX_STREAMS_PER_USER": 50,  # open GET / SSE / subscriptions/listen streams of one user
    "MCP_MAX_STREAMS_PER_SERVER": 1000,  # open streams on one server, all users
    "MCP_MAX_REQUEST_BYTES": 4 * 1024 * 1024,  # MCP request bodies above this get 413
    "MCP_PRINCIPAL_TTL_SECONDS": 60,  # cached token → principal lifetime (revocations apply at once)
    "MCP_SNAPSHOT_CHECK_SECONDS": 5,  # how often a cached server re-reads its version (60 with Redis)
    "MCP_CONNECTION_TTL_SECONDS": 30,  # cached connection lifetime
    "MCP_NETWORK_TTL_SECONDS": 30,  # cached networks of an account (changes apply at once with Redis)
    "MCP_UPSTREAM_CONNECT_TIMEOUT": 5,
    "MCP_UPSTREAM_READ_TIMEOUT": 30,
    "MCP_MAX_RESPONSE_BYTES": 1024 * 1024,  # upstream bodies are cut here (with a notice)
    "MCP_UPSTREAM_MAX_CONNECTIONS": 100,
    "MCP_UPSTREAM_MAX_KEEPALIVE": 20,
    "MCP_UPSTREAM_TRUST_ENV": False,  # honour HTTP(S)_PROXY for upstream calls
    "MCP_AUDIT_QUEUE_SIZE": 10_000,
    "MCP_AUDIT_FLUSH_MS": 200,  # a batch smaller than 200 events waits this long for more before it is written
    "MCP_DATA_THREADS": 8,  # threads for the runtime's database lookups (runtime.data), per process
    "MCP_FAST_PATH": True,  # stateless tools/list and tools/call without the SDK transport (runtime.fastpath.stateless)
}

# Settings that must be at least 1 (the rest of the integers must not be negative).
_POSITIVE = frozenset(
    {
        "MCP_SESSION_IDLE_SECONDS",
        "MCP_MAX_REQUEST_BYTES",
        "MCP_AUDIT_QUEUE_SIZE",
        "MCP_AUDIT_FLUSH_MS",
        "MCP_DATA_THREADS",
    }
)

_values: dict[str, int | bool] = {}


def get(name: str) -> int | bool:
    try:
        return _values[name]
    except KeyError:
        value = _values[name] = _read(name)
        return value


def _read(name: str) -> int | bool:
    if hasattr(settings, name):
        value = getattr(settings, name)
    else:
        default = DEFAULTS[name]
        if isinstance(default, bool):
            return envbool(name, default)
        if name == "MCP_SNAPSHOT_CHECK_SECONDS" and settings.REDIS_URL:
            default = 60
        value = envint(name, default)
    if type(value) is int and value < (1 if name in _POSITIVE else 0):
        raise ImproperlyConfiguredEnv(
            f"{name} must be {'at least 1' if name in _POSITIVE else 'at least 0'}, got {value}"
        )
    return value  # type: ignore[no-any-return]


def _forget(**kwargs: Any) -> None:
    _values.clear()


setting_changed.connect(_forget)
