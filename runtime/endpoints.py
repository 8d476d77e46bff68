"""Choosing the upstream base URL for a call (pure).

Order: the connection's endpoint for the region, the connection's base URL, the catalog's region
endpoint, the first server URL of an OpenAPI description. Endpoints without a scheme are HTTPS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class EndpointError(ValueError):
    """No endpoint can be chosen; the message says why (and lists the valid regions)."""


@dataclass(frozen=True)
class EndpointOverrides:
    base_url: str = ""
    region_endpoints: dict[str, str] = field(default_factory=dict)
    default_region: str = ""


def with_scheme(endpoint: str) -> str:
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if "://" in endpoint else f"https://{endpoint}"


def catalog_endpoints(document_endpoints: list[dict[str, Any]] | None) -> dict[str, str]:
    return {
        e["regionId"]: e.get("endpoint") or e.get("public") or ""
        for e in document_endpoints or []
        if e.get("regionId") and (e.get("endpoint") or e.get("public"))
    }


def is_regional(style: str, document_endpoints: list[dict[str, Any]] | None) -> bool:
    return style in ("RPC", "ROA") and bool(catalog_endpoints(document_endpoints))


def choose_region(requested: str | None, overrides: EndpointOverrides, regions: list[str], fallback: str = "") -> str:
    region = requested or overrides.default_region or fallback
    if region:
        return region
    for preferred in ("cn-hangzhou", "us-east-1"):
        if preferred in regions:
            return preferred
    return regions[0] if regions else ""


def resolve_base_url(
    *,
    style: str,
    region: str,
    overrides: EndpointOverrides,
    document_endpoints: list[dict[str, Any]] | None,
    servers: list[str] | None,
) -> str:
    if region and region in overrides.region_endpoints:
        return with_scheme(overrides.region_endpoints[region])
    if overrides.base_url:
        return with_scheme(overrides.base_url)
    known = catalog_endpoints(document_endpoints)
    if style in ("RPC", "ROA"):
        if region and region in known:
            return with_scheme(known[region])
        if region and (known or overrides.region_endpoints):
            valid = sorted(set(known) | set(overrides.region_endpoints))
            raise EndpointError(f"Unknown region {region}; valid regions: {', '.join(valid)}")
        if len(set(known.values())) == 1:
            return with_scheme(next(iter(known.values())))
        raise EndpointError("No endpoint is known for this product; set a base URL on its connection")
    for url in servers or []:
        if url.startswith(("http://", "https://")):
            return url.rstrip("/")
    raise EndpointError("The API description names no absolute server URL; set a base URL on its connection")
