"""Which client addresses a server's internal URL accepts (SPEC §6.3).

A whitelist entry is an IP network (`10.0.0.0/8`, `192.168.1.7`, `fd00::/8`) or the id of a named
network (a VPC id such as `vpc-bp1xyz`): one of the account's networks (`oauth.models.Network`)
or one the `MCP_NETWORKS` setting names. `named` maps ids to IP networks. An empty whitelist
accepts any address; an id that `named` does not hold matches nothing. Pure: no Django.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def _networks(entries: tuple[str, ...], named: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[Network, ...]:
    names = dict(named)
    out: list[Network] = []
    for entry in entries:
        network = parse_network(entry)
        if network is not None:
            out.append(network)
            continue
        out.extend(n for n in (parse_network(cidr) for cidr in names.get(entry, ())) if n is not None)
    return tuple(out)


def freeze(named: Mapping[str, Iterable[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Named networks in a hashable form (for the cache above)."""
    return tuple(sorted((str(k), tuple(str(c) for c in v)) for k, v in named.items()))


def allowed(address: str, entries: Sequence[str], named: Mapping[str, Iterable[str]]) -> bool:
    """Whether `address` is in one of the whitelisted networks (any address when there are none)."""
    if not entries:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(tuple(entries), freeze(named)) if ip.version == network.version)


def unknown_entries(entries: Sequence[str], named: Mapping[str, Iterable[str]]) -> list[str]:
    """Entries that are neither IP networks nor named networks (they match nothing)."""
    return [e for e in entries if parse_network(e) is None and e not in named]
