"""Reads for the catalog: product versions and selector resolution."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from servers.models import ApiDefinition, ProductVersion


@dataclass(frozen=True)
class ApiRef:
    product: str
    api_version: str
    api_name: str


def product_exists(product: str) -> bool:
    return ProductVersion.objects.filter(product__code=product).exists()


def product_version_get(product: str, version: str) -> ProductVersion | None:
    return (
        ProductVersion.objects.select_related("product", "current_revision")
        .filter(product__code=product, version=version)
        .first()
    )


def api_names(product: str, version: str) -> list[str]:
    """Names of the APIs in the current revision of a product version (sorted)."""
    pv = product_version_get(product, version)
    if pv is None or pv.current_revision_id is None:
        return []
    return sorted(ApiDefinition.objects.filter(revision_id=pv.current_revision_id).values_list("name", flat=True))


@lru_cache(maxsize=2048)
def _selector(pattern: str) -> re.Pattern[str]:
    # Case-sensitive glob: fnmatch.translate without normcase.
    return re.compile(fnmatch.translate(pattern))


def select(names: list[str], selectors: list[str]) -> list[str]:
    """Names matched by any selector (`*`, `?` globs, case-sensitive), in catalog order."""
    compiled = [_selector(s) for s in selectors]
    return [n for n in names if any(c.match(n) for c in compiled)]


def resolve_apis(apis: list[dict[str, Any]]) -> list[ApiRef]:
    """Resolve a server's `apis[{product, apiVersion, selectors}]` to concrete APIs (deduplicated)."""
    seen: dict[ApiRef, None] = {}
    for entry in apis:
        names = api_names(entry["product"], entry["apiVersion"])
        for name in select(names, entry.get("selectors") or []):
            seen[ApiRef(entry["product"], entry["apiVersion"], name)] = None
    return list(seen)
