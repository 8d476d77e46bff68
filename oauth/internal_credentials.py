"""Short-lived internal credentials: the MCP runtime calling this product's own management API as the
user who called a tool (the `OpenAPIExplorer` system server and every server exposing that product).

Why not reuse the caller's token: MCP tokens may be personal access tokens (not accepted by the
management API) or bound to one MCP server URL (RFC 8707), and forwarding a bearer secret from one
audience to another is what resource binding exists to prevent. Instead the runtime mints, per
call, a credential that says exactly "user U of account A, through MCP server S and client C, from
source address IP":

    mcpi.<Django-signed, timestamped payload>

- signed with `SECRET_KEY` under its own salt (no other signed value of the site can stand in for
  it), valid for `INTERNAL_CREDENTIAL_SECONDS` (default 60) — it cannot outlive the call by much;
- sent only to this process's own listening socket (never to an upstream), and accepted by the
  management API only from a peer on the same host (loopback, or the server's own address);
- it grants nothing the user does not have: the management API authenticates it as that user and
  evaluates the user's own policies (with the MCP caller's source address for `acs:SourceIp`);
  a disabled user is refused. Revoking the MCP token stops new credentials at once; one already
  minted stays valid for at most its lifetime.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing

PREFIX = "mcpi."
SALT = "mcp-console.internal-credential.v1"
DEFAULT_SECONDS = 60


@dataclass(frozen=True)
class InternalClaims:
    user_id: int
    account_id: str
    server_id: str
    client_id: str
    source_ip: str


def lifetime() -> int:
    return int(getattr(settings, "INTERNAL_CREDENTIAL_SECONDS", DEFAULT_SECONDS))


def mint(*, user_id: int, account_id: str, server_id: str, client_id: str, source_ip: str) -> str:
    payload = {"u": user_id, "a": account_id, "s": server_id, "c": client_id, "ip": source_ip}
    return PREFIX + signing.dumps(payload, salt=SALT, compress=False)


def is_internal(token: str) -> bool:
    return token.startswith(PREFIX)


def verify(token: str) -> InternalClaims | None:
    """The claims of a valid, unexpired credential; None for anything else."""
    if not is_internal(token):
        return None
    try:
        payload: Any = signing.loads(token[len(PREFIX) :], salt=SALT, max_age=lifetime())
        return InternalClaims(
            user_id=int(payload["u"]),
            account_id=str(payload["a"]),
            server_id=str(payload["s"]),
            client_id=str(payload["c"]),
            source_ip=str(payload["ip"]),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def same_host(peer: str, server_address: str) -> bool:
    """True when the connection comes from this host: a loopback peer, or the server's own address."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    try:
        return address == ipaddress.ip_address(server_address)
    except ValueError:
        return False
