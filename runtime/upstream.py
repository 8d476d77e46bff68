"""Sending upstream requests: one pooled client per process, credentials applied.

The client is one `httpx.AsyncClient` per process (connection pool limits from settings). It keeps
no cookies: it is shared by every caller of the process.

Bodies are streamed and cut at `MCP_MAX_RESPONSE_BYTES` (the result then says it was truncated);
connect and read timeouts come from the connection or settings. OAuth 2.0 client-credentials
tokens are cached until shortly before they expire.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import anyio
import httpx
from django.conf import settings

from runtime import conf, fastpath, signing
from runtime.data import ConnectionRecord
from runtime.fastpath import UpstreamClient, UpstreamTransport
from runtime.results import UpstreamResponse


class CredentialError(ValueError):
    """The connection's credentials are incomplete or the token endpoint refused them."""


@dataclass(frozen=True)
class Sent:
    response: UpstreamResponse
    duration_ms: int


def new_client() -> UpstreamClient:
    max_connections = int(conf.get("MCP_UPSTREAM_MAX_CONNECTIONS"))
    max_keepalive = int(conf.get("MCP_UPSTREAM_MAX_KEEPALIVE"))
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive)
    # No redirects: a signed request must not be replayed elsewhere; no proxy settings from the
    # environment unless asked for; no cookies kept between calls of different callers.
    return UpstreamClient(
        # Every connection is checked against the SSRF rule once its host is resolved (LoopBackend).
        transport=UpstreamTransport(limits=limits, allow_private=bool(settings.UPSTREAM_ALLOW_PRIVATE_URLS)),
        trust_env=bool(conf.get("MCP_UPSTREAM_TRUST_ENV")),
        limits=limits,
        follow_redirects=False,
        headers={"user-agent": "openapi-mcp-console/1.0"},
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
    )


class TokenCache:
    """OAuth 2.0 client-credentials access tokens by (token URL, client id, scope)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str, str], anyio.Lock] = {}

    async def get(self, client: httpx.AsyncClient, config: dict[str, Any], secrets: dict[str, Any]) -> str:
        token_url = str(config.get("token_url") or "")
        client_id = str(config.get("client_id") or "")
        scope = str(config.get("scope") or "")
        client_secret = str(secrets.get("client_secret") or "")
        if not token_url or not client_id or not client_secret:
            raise CredentialError("The connection's OAuth 2.0 client credentials are incomplete")
        key = (token_url, client_id, scope)
        cached = self._tokens.get(key)
        if cached and cached[1] > time.time():
            return cached[0]
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.time():
                return cached[0]
            form = {"grant_type": "client_credentials"}
            if scope:
                form["scope"] = scope
            auth: Any = None
            if config.get("client_auth") == "post":
                form.update(client_id=client_id, client_secret=client_secret)
            else:
                auth = (client_id, client_secret)
            try:
                response = await client.post(token_url, data=form, auth=auth, timeout=10)
            except httpx.HTTPError as exc:
                raise CredentialError(f"The token endpoint could not be reached: {type(exc).__name__}") from None
            if response.status_code != 200:
                raise CredentialError(
                    f"The token endpoint refused the client credentials (HTTP {response.status_code})"
                )
            try:
                payload = response.json()
                token = str(payload["access_token"])
            except (ValueError, KeyError):
                raise CredentialError("The token endpoint's answer has no access_token") from None
            lifetime = float(payload.get("expires_in") or 300)
            self._tokens[key] = (token, time.time() + max(lifetime - 30, lifetime / 2))
            return token

    def clear(self) -> None:
        self._tokens.clear()


async def apply_credentials(
    request: signing.HttpRequest,
    connection: ConnectionRecord | None,
    *,
    action: str,
    version: str,
    client: httpx.AsyncClient,
    tokens: TokenCache,
) -> None:
    """Authenticate `request` with the connection's credentials (in place)."""
    if connection is None or connection.auth_type == "none":
        return
    config, secrets = connection.auth_config, connection.secrets
    kind = connection.auth_type
    if kind == "alibaba_ak":
        key_id, secret = str(config.get("access_key_id") or ""), str(secrets.get("access_key_secret") or "")
        if not key_id or not secret:
            raise CredentialError("The connection's AccessKey is incomplete")
        signing.sign_acs3(
            request,
            action=action,
            version=version,
            access_key_id=key_id,
            access_key_secret=secret,
            security_token=str(secrets.get("security_token") or ""),
        )
    elif kind == "api_key":
        key = str(secrets.get("api_key") or "")
        if not key:
            raise CredentialError("The connection's API key is missing")
        signing.apply_api_key(
            request,
            key=key,
            name=str(config.get("name") or "X-Api-Key"),
            location=str(config.get("in") or "header"),
            prefix=str(config.get("prefix") or ""),
        )
    elif kind == "bearer":
        token = str(secrets.get("token") or "")
        if not token:
            raise CredentialError("The connection's bearer token is missing")
        signing.apply_bearer(request, token)
    elif kind == "basic":
        signing.apply_basic(request, str(config.get("username") or ""), str(secrets.get("password") or ""))
    elif kind == "oauth2_client_credentials":
        signing.apply_bearer(request, await tokens.get(client, config, secrets))
    else:
        raise CredentialError(f"Unknown authentication type {kind}")


@functools.lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> dict[str, float | None]:
    return httpx.Timeout(connect=connect, read=read, write=read, pool=connect).as_dict()


async def send(
    client: httpx.AsyncClient,
    request: signing.HttpRequest,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_bytes: int,
) -> Sent:
    """Send and read at most `max_bytes` of the body (streamed); raises httpx errors.

    Plain tool calls go straight to the client's httpcore pool (`runtime.fastpath.send_direct`)."""
    timeout = _timeout(connect_timeout, read_timeout)
    started = time.monotonic()
    direct = await fastpath.send_direct(client, request, timeout, max_bytes)
    if direct is not None:
        status, headers, body, truncated = direct
    else:
        outgoing = client.build_request(
            request.method, request.full_url(), headers=request.headers, content=request.body or None
        )
        outgoing.extensions["timeout"] = timeout
        response = await client.send(outgoing, stream=True)
        try:
            status, headers = response.status_code, response.headers
            body, truncated = await fastpath.read_capped(response.aiter_bytes(), max_bytes)
        finally:
            await response.aclose()
    return Sent(
        UpstreamResponse(
            status=status,
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            truncated=truncated,
            limit=max_bytes,
        ),
        int((time.monotonic() - started) * 1000),
    )
