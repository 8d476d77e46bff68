"""Networks of an account (SPEC §6.3): writes and reads for the console, the API and the commands.

A network is a name and a list of IP networks (CIDR). Whitelists name networks by id (`vpc-…`);
`named_networks(account_id)` is what the MCP runtime resolves those ids with (through
`runtime/data.py`), together with the installation-wide `MCP_NETWORKS` setting, which names
networks for every account (an account's own network of the same id wins).

Every write raises `servers.errors.ApiError` with a stable code and the wire name of the field at
fault and runs in one transaction. Any save or delete of a network (here or in the admin)
publishes the account's `network` event after commit (`runtime.signals`), on which every
process's runtime forgets the account's cached networks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from oauth.models import Account, Network
from servers.errors import ApiError

MAX_CIDRS = 100
MAX_NAME = 128
MAX_DESCRIPTION = 1024


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in text)


def validate_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError("Missing.Name", "name is required: 1 to 128 characters.", field="name")
    name = value.strip()
    if len(name) > MAX_NAME or _has_control(name):
        raise ApiError(
            "InvalidParam.Name",
            f"name {name[:80]!r} must be 1 to {MAX_NAME} characters without control characters.",
            field="name",
        )
    return name


def validate_description(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION or "\x00" in value:
        raise ApiError(
            "InvalidParam.Description",
            f"description must be text of at most {MAX_DESCRIPTION} characters.",
            field="description",
        )
    return value


def validate_cidrs(value: Any) -> list[str]:
    """IP networks (`10.0.0.0/8`) or addresses (`192.0.2.7`), normalised (`10.1.2.3/8` → `10.0.0.0/8`)."""
    if not isinstance(value, list | tuple) or not value:
        raise ApiError("Missing.Cidrs", "cidrs is required: a list of 1 to 100 IP networks.", field="cidrs")
    if len(value) > MAX_CIDRS:
        raise ApiError("InvalidParam.Cidrs", f"cidrs has {len(value)} entries; at most {MAX_CIDRS}.", field="cidrs")
    out: list[str] = []
    for index, item in enumerate(value):
        try:
            if not isinstance(item, str) or item != item.strip():
                raise ValueError
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ApiError(
                "InvalidParam.Cidrs",
                f"cidrs[{index}] {str(item)[:80]!r} is not an IP network (such as 10.0.0.0/8 or fd00::/8) or address.",
                field="cidrs",
            ) from None
    return list(dict.fromkeys(out))


def _save(network: Network) -> Network:
    try:
        with transaction.atomic():
            network.save()
    except IntegrityError:
        raise ApiError(
            "Exists.Name", f"The account already has a network named {network.name!r}.", 409, field="name"
        ) from None
    return network


@transaction.atomic
def network_create(*, account: Account, name: str, cidrs: Sequence[str], description: str = "") -> Network:
    """A new network of `account`, with a new `vpc-…` id."""
    network = Network(
        account=account,
        name=validate_name(name),
        cidrs=validate_cidrs(cidrs),
        description=validate_description(description),
    )
    return _save(network)


@transaction.atomic
def network_update(
    *, network: Network, name: str | None = None, cidrs: Sequence[str] | None = None, description: str | None = None
) -> Network:
    """Change what is given (None keeps the value); `cidrs` is replaced wholesale."""
    locked = Network.objects.select_for_update().get(pk=network.pk)
    if name is not None:
        locked.name = validate_name(name)
    if cidrs is not None:
        locked.cidrs = validate_cidrs(cidrs)
    if description is not None:
        locked.description = validate_description(description)
    return _save(locked)


def users_of(network: Network) -> list[str]:
    """What names the network in a whitelist: `account` and/or the names of the account's servers."""
    from servers.models import McpServer

    found = ["account"] if network.id in (network.account.vpc_whitelists or []) else []
    servers = McpServer.objects.filter(account_id=network.account_id).only("name", "vpc_whitelists")
    found += sorted(s.name for s in servers if network.id in (s.vpc_whitelists or []))
    return found


@transaction.atomic
def network_delete(*, network: Network) -> None:
    """Delete a network no whitelist names (else 409 InUse.Network, naming who uses it)."""
    used_by = users_of(network)
    if used_by:
        raise ApiError(
            "InUse.Network",
            f"Network {network.id} is named in the whitelist of {', '.join(used_by[:10])}; remove it there first.",
            409,
            field="id",
        )
    network.delete()


# Reads -------------------------------------------------------------------------------------------


def networks_for_account(account_id: str) -> QuerySet[Network]:
    return Network.objects.filter(account_id=account_id).order_by("name")


def network_get(account_id: str, network_id: Any) -> Network:
    """The account's network `network_id`; 400 Missing.Id without one, 404 NotFound.Network for any other."""
    if not isinstance(network_id, str) or not network_id:
        raise ApiError("Missing.Id", "id is required: the network id (vpc-…).", field="id")
    network = Network.objects.select_related("account").filter(account_id=account_id, pk=network_id).first()
    if network is None:
        raise ApiError("NotFound.Network", f"The network {network_id[:40]} does not exist.", 404, field="id")
    return network


def named_networks(account_id: str) -> dict[str, tuple[str, ...]]:
    """Network id → CIDRs for resolving whitelists: `MCP_NETWORKS`, then the account's own networks."""
    named = {str(k): tuple(str(c) for c in v) for k, v in (settings.MCP_NETWORKS or {}).items()}
    for network_id, cidrs in Network.objects.filter(account_id=account_id).values_list("id", "cidrs"):
        named[network_id] = tuple(str(c) for c in cidrs or ())
    return named


def network_to_dict(network: Network) -> dict[str, Any]:
    from servers.selectors import iso_utc

    return {
        "id": network.id,
        "name": network.name,
        "description": network.description,
        "cidrs": list(network.cidrs or []),
        "createTime": iso_utc(network.created_at),
        "updateTime": iso_utc(network.updated_at),
    }
