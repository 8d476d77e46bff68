"""Counting failed sign-ins on Django's cache, so guessing passwords, secrets and codes stays slow.

Failures are counted per *user* (a username, an OAuth client, an AccessKey id) and per client
*address* in fixed windows of `SIGNIN_LOCKOUT_SECONDS`. Once a counter reaches its limit, every
further attempt it covers is refused before any credential is checked (so the right password does
not work either) until its window ends. Refused attempts are not counted: they reveal nothing.

The counters live in the default cache: per process without Redis, shared by every process with
Redis. A counter is created with its expiry in one step (`add`, SET NX EX on Redis) and raised
with an atomic increment (INCR), so concurrent failures in several processes are all counted. Its
key names its window, so a key outliving its window is never read again, and it expires a little
after the window ends.

IPv6 addresses are counted per /64 network: one host commonly holds a whole /64.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

KEY_PREFIX = "throttle"
# Keys outlive their window by this much, so a process whose clock runs a little behind never
# increments a key that Redis has already expired (INCR would recreate it without an expiry).
_EXPIRY_MARGIN_SECONDS = 300

clock: Callable[[], float] = time.time  # the wall clock; tests replace it to move through windows

USER, ADDRESS = "user", "address"


@dataclass(frozen=True)
class Counter:
    """The failures of one user or one address at one door (`surface`: login, token, accesskey…)."""

    surface: str
    kind: str  # USER or ADDRESS
    ident: str
    noun: str = field(default="user", compare=False)  # what a USER counter counts, for messages

    @property
    def limit(self) -> int:
        """Failures allowed per window; 0 means this counter never refuses."""
        if self.kind == USER:
            return int(settings.SIGNIN_MAX_FAILURES)
        return int(settings.SIGNIN_MAX_FAILURES_PER_ADDRESS)


def for_user(surface: str, name: str, noun: str = "user") -> Counter:
    """Case and surrounding blanks do not make a new user: they would multiply the guesses."""
    return Counter(surface, USER, name.strip().casefold(), noun)


def for_address(surface: str, address: str) -> Counter:
    return Counter(surface, ADDRESS, address_key(address))


def address_key(address: str) -> str:
    """The unit an address is counted in: the IPv4 address, or the /64 of an IPv6 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Throttled(Exception):
    """Too many failures: the attempt was refused without looking at its credentials."""

    def __init__(self, counter: Counter, retry_after: int) -> None:
        self.counter = counter
        self.retry_after = retry_after
        who = f"this {counter.noun}" if counter.kind == USER else "your address"
        self.message = (
            f"Too many failed sign-in attempts for {who}; try again in {describe_seconds(retry_after)}. "
            "Attempts are refused until then, even with the right credentials."
        )
        super().__init__(self.message)

    @property
    def code(self) -> str:
        """The management API's code: Alibaba Cloud's `Throttling.User` or `Throttling`."""
        return "Throttling.User" if self.counter.kind == USER else "Throttling"


def describe_seconds(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def _window() -> tuple[int, int]:
    """This window's number and the whole seconds left in it."""
    length = max(1, int(settings.SIGNIN_LOCKOUT_SECONDS))
    now = clock()
    index = int(now // length)
    return index, max(1, math.ceil((index + 1) * length - now))


def _key(counter: Counter, window: int) -> str:
    digest = hashlib.sha256(counter.ident.encode("utf-8")).hexdigest()[:32]
    return f"{KEY_PREFIX}:{counter.surface}:{counter.kind}:{digest}:{window}"


def check(*counters: Counter) -> dict[Counter, int]:
    """This window's failures of each counter; raises `Throttled` for the first one at its limit."""
    window, left = _window()
    active = [c for c in counters if c.limit > 0]
    keys = {c: _key(c, window) for c in active}
    found = cache.get_many(list(keys.values())) if keys else {}
    counts = {c: int(found.get(keys[c], 0)) for c in active}
    for counter in active:
        if counts[counter] >= counter.limit:
            raise Throttled(counter, left)
    return counts


def fail(*counters: Counter) -> list[Counter]:
    """Count one failure on each counter; returns those that have just reached their limit."""
    window, left = _window()
    tripped = []
    for counter in counters:
        if counter.limit <= 0:
            continue
        key, count = _key(counter, window), 0
        for _ in range(3):  # incr fails only if the key vanished since add (evicted): add it again
            cache.add(key, 0, timeout=left + _EXPIRY_MARGIN_SECONDS)
            try:
                count = cache.incr(key)
                break
            except ValueError:
                continue
        if count == counter.limit:
            tripped.append(counter)
    return tripped


def reset(counter: Counter) -> None:
    """Forget a user's failures after it proved who it is. Address counters are never reset by a
    success: one account of its own would otherwise let an address guess others' passwords forever."""
    window, _ = _window()
    cache.delete(_key(counter, window))


def client_address(request: HttpRequest) -> str:
    """The caller's address as the MCP runtime sees it: `X-Forwarded-For` counts only from a peer in
    `TRUSTED_PROXIES` (runtime.asgi.client_ip, given the request's ASGI scope or one built from META)."""
    from runtime.asgi import client_ip

    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        scope = {
            "client": (request.META.get("REMOTE_ADDR", ""), 0),
            "headers": [(b"x-forwarded-for", forwarded.encode("latin-1"))] if forwarded else [],
        }
    return client_ip(scope)
