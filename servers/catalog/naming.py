"""Names: product codes, versions, API names and tool argument names.

Everything here is deterministic: the same document always yields the same names, so servers'
selectors, overrides and policies keep pointing at the same APIs across re-imports.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from servers.catalog.types import CatalogImportError

# Identifier shapes. The `*_PATTERN` strings are unanchored so that one source serves both
# Python's `fullmatch` (never `match` with `$`, which lets a trailing newline through) and the
# OpenAPI document, where `^…$` means the whole string (ECMA-262 and Rust regex alike).
PRODUCT_CODE_PATTERN = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
VERSION_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
API_NAME_PATTERN = r"[A-Za-z0-9_.-]{1,128}"
PRODUCT_CODE_RE = re.compile(PRODUCT_CODE_PATTERN)
VERSION_RE = re.compile(VERSION_PATTERN)
API_NAME_RE = re.compile(API_NAME_PATTERN)
ARG_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

# Tool arguments the compiler adds itself; a parameter may never take these names.
RESERVED_ARGUMENTS = frozenset({"x_mcp_region_id", "x_assume_account_id"})

_TITLE_NOISE = {
    "api",
    "apis",
    "rest",
    "restful",
    "http",
    "https",
    "web",
    "documentation",
    "docs",
    "doc",
    "reference",
    "spec",
    "specification",
    "openapi",
    "swagger",
    "the",
    "public",
    "service",
    "v",
}
_VERSION_WORD = re.compile(r"v?\d+(\.\d+)*", re.IGNORECASE)
_INVALID = re.compile(r"[^A-Za-z0-9_.-]+")


def product_code_from_title(title: str) -> str:
    """`GitHub v3 REST API` → `GitHub`, `Netlify's API documentation` → `Netlify`."""
    text = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", title or "")
    words = []
    for raw in re.split(r"[^A-Za-z0-9']+", text):
        word = re.sub(r"'s$|'", "", raw)
        if not word or word.lower() in _TITLE_NOISE or _VERSION_WORD.fullmatch(word):
            continue
        words.append(word[0].upper() + word[1:])
    code = "".join(words)
    code = re.sub(r"^[^A-Za-z]+", "", code)[:64]
    return code or "Api"


def check_product_code(code: str) -> str:
    if not PRODUCT_CODE_RE.fullmatch(code or ""):
        raise CatalogImportError(
            "InvalidParam.Product",
            f"Invalid product code {code!r}: 1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter",
        )
    return code


def check_version(version: str) -> str:
    if not VERSION_RE.fullmatch(version or ""):
        raise CatalogImportError(
            "InvalidParam.ApiVersion",
            f"Invalid version {version!r}: 1-64 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit",
        )
    return version


def clean_version(raw: Any) -> str:
    """A document's `info.version` made usable as a catalog version (`v10 (beta)` → `v10_beta`)."""
    text = _INVALID.sub("_", str(raw or "").strip()).strip("_.-")
    return text[:64] or "1"


def api_name_from_operation_id(operation_id: str) -> str:
    """Keep an operationId when it is a valid name; replace other characters by `_`."""
    name = _INVALID.sub("_", operation_id.strip()).strip("_")
    return name[:128] or "operation"


def derived_api_name(method: str, path: str) -> str:
    """A stable name for an operation without operationId: `GET /users/{id}/repos` → `getUsersByIdRepos`."""
    parts = [method.lower()]
    for segment in path.strip("/").split("/"):
        if not segment:
            continue
        param = re.fullmatch(r"\{([^}]*)\}", segment)
        words = re.split(r"[^A-Za-z0-9]+", param.group(1) if param else segment)
        word = "".join(w[:1].upper() + w[1:] for w in words if w)
        parts.append(("By" + word) if param else word)
    return api_name_from_operation_id("".join(parts)) if len(parts) > 1 else method.lower() + "Root"


def unique(name: str, taken: set[str], limit: int = 128) -> str:
    """`name`, or `name_2`, `name_3`… (within `limit` characters) when taken."""
    if name not in taken:
        return name
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = name[: limit - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


_LOCATION_ORDER = {"path": 0, "host": 1, "query": 2, "header": 3, "cookie": 4, "formData": 5, "body": 6}


def assign_argument_names(parameters: Iterable[dict[str, Any]]) -> None:
    """Give every parameter a unique tool argument name; set `x-argName` only where it differs from `name`.

    Names must be usable as JSON Schema property names by every MCP client (`[A-Za-z0-9_.-]{1,64}`);
    on a clash (same name in two locations) the earlier location keeps the plain name.
    """
    params = sorted(parameters, key=lambda p: _LOCATION_ORDER.get(str(p.get("in")), 9))
    taken: set[str] = set(RESERVED_ARGUMENTS)
    for param in params:
        name = str(param.get("name", ""))
        candidate = name if ARG_NAME_RE.fullmatch(name) else (_INVALID.sub("_", name).strip("_")[:64] or "param")
        if candidate in taken:
            candidate = f"{candidate}_{param.get('in')}"[:64]
        candidate = unique(candidate, taken, 64)
        taken.add(candidate)
        if candidate != name:
            param["x-argName"] = candidate
        else:
            param.pop("x-argName", None)


def argument_name(param: dict[str, Any]) -> str:
    return str(param.get("x-argName") or param["name"])
