"""Opaque, tamper-evident `nextToken`s for list operations (pure, no Django).

A token is `base64url(json state) "." base64url(HMAC-SHA256(key, state))`. The state says where the
next page starts and fingerprints the filters of the query that produced it, so a token replayed
with other filters is refused instead of silently returning a wrong page. The key comes from the
caller (SECRET_KEY-derived); changing it invalidates outstanding tokens, which is harmless.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

MAX_RESULTS_LIMIT = 100
DEFAULT_MAX_RESULTS = 20
_MAX_TOKEN_CHARS = 2048


class NextTokenError(ValueError):
    """The token was not issued by us, was altered, or belongs to another query."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64encode(hmac.new(key, b"nextToken:" + payload.encode("ascii"), hashlib.sha256).digest())


def fingerprint(filters: dict[str, Any]) -> str:
    """A short stable digest of a query's filters (None values ignored)."""
    canonical = json.dumps({k: v for k, v in filters.items() if v is not None}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_next_token(state: dict[str, Any], *, key: bytes) -> str:
    payload = _b64encode(json.dumps(state, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(key, payload)}"


def decode_next_token(token: str, *, key: bytes) -> dict[str, Any]:
    """The state inside a token; raises NextTokenError when it is malformed or its MAC is wrong."""
    if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1 or not token.isascii():
        raise NextTokenError("The specified nextToken is not valid.")
    payload, mac = token.split(".")
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise NextTokenError("The specified nextToken is not valid.")
    try:
        state = json.loads(_b64decode(payload))
    except (binascii.Error, ValueError):
        raise NextTokenError("The specified nextToken is not valid.") from None
    if not isinstance(state, dict):
        raise NextTokenError("The specified nextToken is not valid.")
    return state


def check_max_results(value: int | None) -> int:
    """maxResults: default 20, 0..100 (0 returns only totalCount)."""
    if value is None:
        return DEFAULT_MAX_RESULTS
    if value < 0 or value > MAX_RESULTS_LIMIT:
        raise ValueError(f"maxResults must be between 0 and {MAX_RESULTS_LIMIT}, got {value}.")
    return value
