"""Which addresses requests made on a user's behalf may reach (SSRF guard; pure, no Django).

One rule for every outbound request that a user chooses the target of: catalog import from a URL
(`servers.catalog.fetch`, setting `IMPORT_ALLOW_PRIVATE_URLS`) and connections' upstream URLs
(`oauth.services` at save time, setting `UPSTREAM_ALLOW_PRIVATE_URLS`).

- Never reachable, whatever the settings: link-local addresses (169.254.0.0/16, fe80::/10, which
  hold the cloud metadata services), the metadata services' other addresses and host names
  (Alibaba Cloud's 100.100.100.200, AWS's fd00:ec2::254, `metadata.google.internal`…), multicast,
  broadcast, unspecified (0.0.0.0, ::) and reserved addresses.
- Reachable only when the caller's setting allows private targets: loopback (127.0.0.0/8, ::1,
  `localhost`) and private networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7…).
- Everything else (public addresses) is reachable.

IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as the IPv4 address they carry. A host
name is judged by what it resolves to (`resolved_refusal`), except the names above, which are
refused as written.
"""

from __future__ import annotations

import ipaddress
import socket

METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud ECS metadata
        ipaddress.ip_address("fd00:ec2::254"),  # AWS EC2 metadata over IPv6
        ipaddress.ip_address("169.254.169.254"),  # AWS, Azure, GCP, OpenStack… (link-local anyway)
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata (link-local anyway)
    }
)
METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "metadata.azure.internal", "instance-data"}
)
# The setting that lets connections (and so tool calls) reach loopback and private addresses.
UPSTREAM_SETTING = "UPSTREAM_ALLOW_PRIVATE_URLS"
NEVER = "never"
PRIVATE = "private"
PUBLIC = "public"


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_kind(address: str) -> tuple[str, str]:
    """(NEVER | PRIVATE | PUBLIC, what the address is) for an IP address literal."""
    ip = _ip(address)
    if ip in METADATA_ADDRESSES:
        return NEVER, "a cloud metadata address"
    if ip.is_link_local:
        return NEVER, "a link-local address"
    if ip.is_multicast:
        return NEVER, "a multicast address"
    if ip.is_unspecified:
        return NEVER, "the unspecified address"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return NEVER, "the broadcast address"
    if ip.is_loopback:  # before is_reserved: ::1 lies in the reserved ::/8
        return PRIVATE, "a loopback address"
    if ip.is_reserved:
        return NEVER, "a reserved address"
    if ip.is_global:
        return PUBLIC, "a public address"
    return PRIVATE, "a private address"


def is_public_address(address: str) -> bool:
    return address_kind(address)[0] == PUBLIC


def _why(kind: str, setting: str) -> str:
    return "never allowed" if kind == NEVER else f"allowed only with {setting}=1"


def address_refusal(address: str, *, allow_private: bool, setting: str) -> str | None:
    """Why `address` may not be reached ("169.254.169.254 is a link-local address, never allowed"), or None.

    `setting` names the setting that allows private addresses, for the message.
    """
    kind, what = address_kind(address)
    if kind == PUBLIC or (kind == PRIVATE and allow_private):
        return None
    return f"{address} is {what}, {_why(kind, setting)}"


def _literal(host: str) -> str | None:
    """The address `host` spells, also in the shorthand forms the resolver accepts (`2852039166`, `0x7f.1`)."""
    host = host.strip("[]")
    try:
        _ip(host)
    except ValueError:
        pass
    else:
        return host
    if host and all(c in "0123456789abcdefx." for c in host) and any(c.isdigit() for c in host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    return None


def host_refusal(host: str, *, allow_private: bool, setting: str) -> str | None:
    """Why `host` (a URL's host: a name or an IP literal) may not be reached, judged as written, or None.

    A name other than `localhost` and the metadata names is not judged here: it must be checked
    again once resolved (`resolved_refusal`), since DNS may point it anywhere.
    """
    name = host.lower().rstrip(".")
    literal = _literal(name)
    if literal is not None:
        problem = address_refusal(literal, allow_private=allow_private, setting=setting)
        return problem if problem is None or literal == name.strip("[]") else f"{host} means {problem}"
    if name in METADATA_HOSTS:
        return f"{host} is a cloud metadata host name, {_why(NEVER, setting)}"
    if (name == "localhost" or name.endswith(".localhost")) and not allow_private:
        return f"{host} is a loopback host name, {_why(PRIVATE, setting)}"
    return None


def resolved_refusal(addresses: list[str], *, allow_private: bool, setting: str) -> str | None:
    """Why the addresses a host name resolved to may not be reached (the first refused one), or None."""
    for address in addresses:
        problem = address_refusal(address, allow_private=allow_private, setting=setting)
        if problem:
            return problem
    return None


def resolve(host: str, port: int) -> list[str]:
    """The distinct addresses `host` resolves to (blocking; raises OSError or UnicodeError)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
