"""Strict readers for settings that come from the environment.

Anything that is not understood is an error at start-up rather than a silent default.
"""

from __future__ import annotations

import os


class ImproperlyConfiguredEnv(ValueError):
    pass


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw in ("1", "true", "True", "yes"):
        return True
    if raw in ("0", "false", "False", "no"):
        return False
    raise ImproperlyConfiguredEnv(f"{name} must be true/false (1/0), got {raw!r}")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name} must be an integer, got {raw!r}") from None


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def envnetworks(name: str) -> dict[str, list[str]]:
    """A JSON object naming networks: `{"vpc-a": ["10.1.0.0/16", "10.2.0.0/16"], …}`."""
    import ipaddress
    import json

    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{name} must be a JSON object, got {raw!r} ({exc})") from None
    if not isinstance(value, dict):
        raise ImproperlyConfiguredEnv(f"{name} must be a JSON object of network id → list of IP networks")
    out: dict[str, list[str]] = {}
    for key, cidrs in value.items():
        if not isinstance(cidrs, list) or not all(isinstance(c, str) for c in cidrs):
            raise ImproperlyConfiguredEnv(f"{name}: {key!r} must map to a list of IP networks")
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ImproperlyConfiguredEnv(f"{name}: {key!r} lists {cidr!r}, which is not an IP network") from None
        out[str(key)] = list(cidrs)
    return out
