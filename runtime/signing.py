"""Request signing for upstream calls (pure: no Django, no I/O).

`sign_acs3` is Alibaba Cloud's signature V3 (`ACS3-HMAC-SHA256`): the headers the official SDK
sends, signed with the one canonical form in `oauth.acs3` (which the management API also verifies
with; tests prove it byte-equal to the official `get_authorization`). The other helpers apply
API keys, bearer tokens and HTTP basic credentials.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from oauth import acs3
from oauth.acs3 import sha256_hex


@dataclass
class HttpRequest:
    """An upstream HTTP request before sending: query pairs and headers are kept unencoded."""

    method: str
    url: str  # scheme://host[:port]/encoded-path (no query)
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def query_string(self) -> str:
        """The query as sent: RFC 3986 percent-encoding, the same as the signature's canonical form."""
        return "&".join(f"{encode(k)}={encode(v)}" for k, v in self.query)

    def full_url(self) -> str:
        qs = self.query_string()
        return f"{self.url}?{qs}" if qs else self.url

    def set_header(self, name: str, value: str) -> None:
        for existing in list(self.headers):
            if existing.lower() == name.lower():
                del self.headers[existing]
        self.headers[name] = value


def encode(value: str) -> str:
    """RFC 3986 percent-encoding (only unreserved characters kept), as Alibaba Cloud signs it."""
    return quote(value, safe="~", encoding="utf-8")


def sign_acs3(
    request: HttpRequest,
    *,
    action: str,
    version: str,
    access_key_id: str,
    access_key_secret: str,
    security_token: str = "",
    now: datetime | None = None,
    nonce: str | None = None,
) -> None:
    """Add the V3 headers and `Authorization` to `request` (in place).

    Signed: `host`, every `x-acs-*` header, `accept`, `content-type` when there is a body, and
    `user-agent` if the caller set one: the same set the official SDK signs.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    request.set_header("host", request.host)
    request.set_header("x-acs-action", action)
    request.set_header("x-acs-version", version)
    request.set_header("x-acs-date", stamp)
    request.set_header("x-acs-signature-nonce", nonce or uuid.uuid4().hex)
    payload_hash = sha256_hex(request.body)
    request.set_header("x-acs-content-sha256", payload_hash)
    if not any(k.lower() == "accept" for k in request.headers):
        request.set_header("accept", "application/json")
    if security_token:
        request.set_header("x-acs-accesskey-id", access_key_id)
        request.set_header("x-acs-security-token", security_token)
    signed = [(k, v) for k, v in request.headers.items() if k.lower() != "authorization"]
    request.set_header(
        "Authorization",
        acs3.authorization(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=signed,
            hashed_payload=payload_hash,
            access_key_id=access_key_id,
            secret=access_key_secret,
        ),
    )


def apply_api_key(request: HttpRequest, *, key: str, name: str, location: str = "header", prefix: str = "") -> None:
    """An API key in a header (optionally with a prefix such as `Token `) or a query parameter."""
    if location == "query":
        request.query = [(k, v) for k, v in request.query if k != name] + [(name, key)]
    else:
        request.set_header(name, f"{prefix}{key}")


def apply_bearer(request: HttpRequest, token: str) -> None:
    request.set_header("Authorization", f"Bearer {token}")


def apply_basic(request: HttpRequest, username: str, password: str) -> None:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    request.set_header("Authorization", f"Basic {raw}")
