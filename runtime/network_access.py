"""Which URL and which client address may reach a server (SPEC §6.3), checked on every MCP request.

- The public URL (`PUBLIC_BASE_URL`): refused with 403 `Forbidden.PublicAccess` when the server's
  `publicAccess` is `off`, or `follow` while the account's `enablePublicAccess` is false.
- The internal URL (`INTERNAL_BASE_URL`): refused with 403 `Forbidden.Network` unless the client
  address (`runtime.asgi.client_ip`: `X-Forwarded-For` counts only from `TRUSTED_PROXIES`) is in
  the server's whitelist (`enableCustomVpcWhitelist`) or else the account's; an empty list accepts
  any address. Entries are IP networks or network ids, resolved with the account's networks
  (`oauth.networks.named_networks`, read through `runtime.data` and cached per account).

Every refusal is audited (outcome `denied`, the refusal's code) for the token's user.
The cache forgets an account on its `network` event (`servers.events`, hooked up in
`runtime.signals`) and after `MCP_NETWORK_TTL_SECONDS` otherwise (other processes without Redis).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.signals import setting_changed

from runtime import audit, conf, data, networks
from runtime.data import ServerRecord


class NetworkCache:
    """Account id → its named networks (id → CIDRs), for `MCP_NETWORK_TTL_SECONDS`."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[dict[str, tuple[str, ...]], float]] = {}

    async def get(self, account_id: str) -> dict[str, tuple[str, ...]]:
        hit = self._items.get(account_id)
        if hit is not None and time.monotonic() - hit[1] < float(conf.get("MCP_NETWORK_TTL_SECONDS")):
            return hit[0]
        named = await data.account_networks(account_id)
        self._items[account_id] = (named, time.monotonic())
        return named

    def drop(self, account_id: str) -> None:
        self._items.pop(account_id, None)

    def clear(self) -> None:
        self._items.clear()


cache = NetworkCache()


def on_event(topic: str, key: str) -> None:
    """A `network` event: forget that account's networks (any thread; popping a key is atomic)."""
    if topic == "network":
        cache.drop(key)


def _forget(**kwargs: Any) -> None:  # MCP_NETWORKS changed (tests): resolve again
    cache.clear()


setting_changed.connect(_forget)


def public_access_allowed(record: ServerRecord) -> bool:
    if record.public_access == "on":
        return True
    if record.public_access == "off":
        return False
    return record.account_public_access


async def refusal(record: ServerRecord, *, internal: bool, source_ip: str) -> tuple[str, str] | None:
    """(code, message) when this request may not reach the server, else None."""
    if not internal:
        if public_access_allowed(record):
            return None
        return "Forbidden.PublicAccess", "Public access to this MCP server is off; use its internal URL"
    entries = record.internal_networks
    if not entries:
        return None
    named = await cache.get(record.account_id)
    if networks.allowed(source_ip, entries, named):
        return None
    message = f"Your address {source_ip} is not in a network allowed on this server's internal URL"
    unknown = networks.unknown_entries(entries, named)
    if unknown:  # say so: an id that names no network matches no address at all
        message += f" (its whitelist names {', '.join(unknown)}, which are not networks of this account)"
    return "Forbidden.Network", message


def audit_refusal(
    writer: audit.AuditWriter,
    record: ServerRecord,
    principal: Any,
    *,
    code: str,
    message: str,
    source_ip: str,
    request_id: str,
    method: str,
    endpoint: str,
) -> None:
    """Queue the `denied` event of a refused MCP request (kind `access`, action `mcp:Connect`)."""
    writer.emit(
        audit.new_event(
            kind="access",
            account_id=record.account_id,
            target_account_id=record.account_id,
            user_id=principal.user_id,
            username=principal.record.username,
            client_id=principal.client_id,
            server_id=record.id,
            action="mcp:Connect",
            arguments={"method": method, "endpoint": endpoint},
            outcome="denied",
            error_code=code,
            error_message=message,
            source_ip=source_ip,
            request_id=request_id,
        )
    )
