"""Authentication of MCP requests (SPEC §6.2): bearer tokens → cached principals.

Tokens are django-oauth-toolkit access tokens or personal access tokens; both are looked up by
their SHA-256. Principals (user, account, client, scopes, expiry, resource binding, parsed
policies) are cached by that hash for `MCP_PRINCIPAL_TTL_SECONDS` and dropped at once when a
`token` or `user` event says they changed (revocation, policy edits), in every process.

Failures follow RFC 6750 / RFC 9728: 401 with `WWW-Authenticate: Bearer …, resource_metadata=…,
scope=…` for a missing, unknown, expired, revoked or wrongly-bound token; 403 when the scope is
insufficient or the user belongs to another account.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
from django.conf import settings
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import build_resource_metadata_url
from pydantic import AnyHttpUrl
from starlette.types import Scope, Send

from oauth import access
from oauth.authserver.issuer import issuer
from oauth.policy import Policies
from runtime import conf, data

MCP_SCOPE = "/acs/mcp-server"


@dataclass
class Principal:
    """A verified caller. `decide` memoises policy decisions per (action, resource, context)."""

    record: data.PrincipalRecord
    statements: Policies
    fetched_at: float
    _decisions: dict[tuple[str, str, tuple[tuple[str, str], ...]], access.Decision] = field(default_factory=dict)
    _sdk_token: AccessToken | None = None

    @property
    def user_id(self) -> int:
        return self.record.user_id

    @property
    def account_id(self) -> str:
        return self.record.account_id

    @property
    def client_id(self) -> str:
        return self.record.client_id

    def decide(self, action: str, resource: str, context: dict[str, str]) -> access.Decision:
        """`oauth.access.decide` with this caller's policies, remembered for the principal's lifetime."""
        key = (action, resource, tuple(sorted(context.items())))
        decision = self._decisions.get(key)
        if decision is None:
            decision = access.decide(self.statements, action, resource, context)
            if len(self._decisions) > 4096:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def sdk_token(self, token: str) -> AccessToken:
        """The MCP SDK's view of this credential; the SDK binds sessions to (client, issuer, subject).

        Built once per principal (a principal is the cached view of one token).
        """
        if self._sdk_token is not None and self._sdk_token.token == token:
            return self._sdk_token
        self._sdk_token = AccessToken(
            token=token,
            client_id=self.client_id or self.record.kind,
            scopes=list(self.record.scopes),
            expires_at=int(self.record.expires_at) if self.record.expires_at else None,
            resource=self.record.resources[0] if self.record.resources else None,
            subject=str(self.user_id),
            claims={"iss": "mcp-console"},
        )
        return self._sdk_token


class PrincipalCache:
    """token hash → Principal, bounded, with a TTL and event-driven invalidation.

    Concurrent misses for one token share a single lookup (a burst of calls after the TTL ran out
    would otherwise each query the database), and a lookup that raced with an invalidation is not
    cached, so a token revoked meanwhile is not remembered as valid.
    """

    def __init__(self, max_size: int = 10_000) -> None:
        self._items: OrderedDict[str, Principal] = OrderedDict()
        self._misses: OrderedDict[str, float] = OrderedDict()
        self._loading: dict[str, anyio.Lock] = {}
        self._epoch = 0  # bumped by every invalidation
        self.max_size = max_size

    @staticmethod
    def ttl() -> float:
        return float(conf.get("MCP_PRINCIPAL_TTL_SECONDS"))

    def drop_token(self, token_hash: str) -> None:
        self._epoch += 1
        self._items.pop(token_hash, None)
        self._misses.pop(token_hash, None)

    def drop_user(self, user_id: str) -> None:
        self._epoch += 1
        for key in [k for k, p in self._items.items() if str(p.user_id) == user_id]:
            self._items.pop(key, None)

    def clear(self) -> None:
        self._epoch += 1
        self._items.clear()
        self._misses.clear()

    async def get(self, token: str) -> Principal | None:
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._items.get(token_hash)
        if cached is not None and now - cached.fetched_at < self.ttl():
            return cached
        missed = self._misses.get(token_hash)
        if missed is not None and now - missed < 5:
            return None
        lock = self._loading.get(token_hash)
        if lock is None:
            lock = self._loading[token_hash] = anyio.Lock()
        try:
            async with lock:
                return await self._load(token_hash)
        finally:
            if not lock.statistics().tasks_waiting and self._loading.get(token_hash) is lock:
                del self._loading[token_hash]

    async def _load(self, token_hash: str) -> Principal | None:
        now = time.monotonic()
        cached = self._items.get(token_hash)
        if cached is not None and now - cached.fetched_at < self.ttl():
            return cached  # loaded by the caller this one waited for
        missed = self._misses.get(token_hash)
        if missed is not None and now - missed < 5:
            return None
        epoch = self._epoch
        record = await data.principal_for_token(token_hash)
        current = epoch == self._epoch
        if record is None:
            self._items.pop(token_hash, None)
            if current:
                self._misses[token_hash] = now
                while len(self._misses) > self.max_size:
                    self._misses.popitem(last=False)
            return None
        principal = Principal(record, access.parse_named(record.policies), now)
        if current:
            self._items[token_hash] = principal
            self._items.move_to_end(token_hash)
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)
        return principal


principals = PrincipalCache()


# Responses ---------------------------------------------------------------------------------------


class AuthFailure(Exception):
    def __init__(self, status: int, error: str, description: str, *, code: str = "", challenge: bool = True) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.code = code
        self.challenge = challenge


def request_origin(scope: Scope) -> str:
    """The origin the client used, which is also the issuer (`oauth.authserver.issuer`)."""
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
    if not host:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return issuer(scope.get("scheme", "http"), host)


def resource_url(scope: Scope, resource_path: str) -> str:
    return request_origin(scope) + resource_path


def metadata_url(scope: Scope, resource_path: str) -> str:
    return str(build_resource_metadata_url(AnyHttpUrl(resource_url(scope, resource_path))))


async def send_auth_failure(failure: AuthFailure, scope: Scope, send: Send, resource_path: str) -> None:
    body: dict[str, Any] = {"error": failure.error, "error_description": failure.description}
    if failure.code:
        body["code"] = failure.code
        body["message"] = failure.description
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if failure.challenge:
        parts = []
        if failure.error != "invalid_request":  # RFC 6750 §3.1: no error code when no token was sent
            parts.append(f'error="{failure.error}"')
            parts.append(f'error_description="{failure.description}"')
        parts.append(f'resource_metadata="{metadata_url(scope, resource_path)}"')
        parts.append(f'scope="{MCP_SCOPE}"')
        headers.append((b"www-authenticate", ("Bearer " + ", ".join(parts)).encode()))
    await send({"type": "http.response.start", "status": failure.status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


# Verification ------------------------------------------------------------------------------------


def bearer_token(scope: Scope) -> str | None:
    raw = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
    if raw[:7].lower() != "bearer ":
        return None
    token = raw[7:].strip()
    return token or None


def _norm(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def acceptable_resources(scope: Scope, base_path: str) -> set[str]:
    """The URLs a token may be bound to for this server: its base, /mcp and /sse, on every origin."""
    origins = {request_origin(scope), settings.PUBLIC_BASE_URL, settings.INTERNAL_BASE_URL}
    return {_norm(o + base_path + suffix) for o in origins for suffix in ("", "/mcp", "/sse")}


async def verify(scope: Scope) -> tuple[Principal, str]:
    """The caller behind the request's bearer token, or AuthFailure (401).

    Runs before the server is looked up, so that an unauthenticated request gets the same
    challenge whether or not the server exists (ids cannot be probed without credentials).
    """
    token = bearer_token(scope)
    if token is None:
        raise AuthFailure(401, "invalid_request", "Authentication required: send an OAuth bearer token")
    principal = await principals.get(token)
    if principal is None:
        raise AuthFailure(401, "invalid_token", "The access token is invalid, expired or revoked")
    record = principal.record
    if record.expires_at is not None and record.expires_at <= time.time():
        raise AuthFailure(401, "invalid_token", "The access token has expired")
    if not record.is_active:
        raise AuthFailure(401, "invalid_token", "The token's user is disabled")
    return principal, token


def check_access(
    principal: Principal, scope: Scope, *, server_id: str, account_id: str, oauth_client_id: str, base_path: str
) -> None:
    """Whether a verified caller may use this server at all (audience, client, scope, account)."""
    record = principal.record
    if record.kind == "pat":
        if record.server_id and record.server_id != server_id:
            raise AuthFailure(401, "invalid_token", "The access token is restricted to another MCP server")
    else:
        if record.resources:
            allowed = acceptable_resources(scope, base_path)
            if not any(_norm(r) in allowed for r in record.resources):
                raise AuthFailure(401, "invalid_token", "The access token was issued for another resource")
        if oauth_client_id and record.client_id != oauth_client_id:
            raise AuthFailure(
                401, "invalid_token", "This MCP server only accepts tokens issued to its own OAuth client"
            )
        if MCP_SCOPE not in record.scopes:
            raise AuthFailure(403, "insufficient_scope", f"The access token lacks the scope {MCP_SCOPE}")
    if record.account_id != account_id:
        raise AuthFailure(
            403,
            "access_denied",
            f"You are signed in as {record.username}, a user of account {record.account_id or '(none)'}, "
            f"but this MCP server belongs to account {account_id}: sign in as a user of that account",
            code="Forbidden.AccountMismatch",
            challenge=False,
        )


async def authenticate(
    scope: Scope, *, server_id: str, account_id: str, oauth_client_id: str, base_path: str
) -> tuple[Principal, str]:
    """The caller of an MCP request to one server, or AuthFailure."""
    principal, token = await verify(scope)
    check_access(
        principal,
        scope,
        server_id=server_id,
        account_id=account_id,
        oauth_client_id=oauth_client_id,
        base_path=base_path,
    )
    return principal, token


def resource_metadata(scope: Scope, resource_path: str, name: str, oauth_client_id: str) -> dict[str, Any]:
    """RFC 9728 protected-resource metadata; the authorization server is this origin (DOT).

    Answered for every well-formed MCP path, existing or not (see `verify`). A server with
    custom OAuth names the one client whose tokens it accepts in `oauth_client_id`.
    """
    origin = request_origin(scope)
    document: dict[str, Any] = {
        "resource": origin + resource_path,
        "authorization_servers": [origin],
        "scopes_supported": [MCP_SCOPE],
        "bearer_methods_supported": ["header"],
        "resource_name": name,
    }
    if oauth_client_id:
        document["oauth_client_id"] = oauth_client_id
    return document


def on_event(topic: str, key: str) -> None:
    if topic == "token":
        principals.drop_token(key)
    elif topic == "user":
        principals.drop_user(key)
