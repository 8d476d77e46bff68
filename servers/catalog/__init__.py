"""Importers: API descriptions → one normalised shape (pure, no Django).

Every format becomes the Alibaba Cloud metadata shape (documented in docs/catalog.md):

    {"info": {"style": "RPC"|"ROA"|"OSS"|"OpenAPI", "product", "version", "title", ...},
     "apis": {Name: {"summary", "description", "title", "path", "methods", "consumes", "produces",
                     "parameters": [{"name", "in", "style", "required", "schema", "x-…"}],
                     "responses": {"200": {"schema"}}, "errorCodes", "systemTags": {"operationType"},
                     "x-…"}},
     "endpoints": [{"regionId", "endpoint"}], "servers": [base URL, ...],
     "components": {"schemas": {...}, "securitySchemes": {...}}, "errorCodes": ...}

Entry points: `import_bytes` (any format, JSON or YAML), `import_document` (parsed), `read_source`
(a file path or an https URL, with limits).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from servers.catalog.alibaba import import_alibaba
from servers.catalog.fetch import FetchLimits, fetch_url
from servers.catalog.openapi import import_openapi
from servers.catalog.types import CatalogImportError, ImportResult

__all__ = [
    "CatalogImportError",
    "FetchLimits",
    "ImportResult",
    "detect_format",
    "import_bytes",
    "import_document",
    "parse_bytes",
    "read_source",
]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_expansion(doc: Any, limit: int) -> None:
    """Refuse YAML whose aliases expand it far beyond its size (a "billion laughs" document).

    Aliases load as shared references, but every later walk over the document (conversion,
    storage) would visit each use; without aliases a document cannot have more nodes than bytes.
    """
    seen = 0
    stack = [doc]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            raise CatalogImportError("InvalidParam.Document", "The YAML document expands too much (aliases)")
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


MAX_DEPTH = 256
"""Descriptions nested deeper than this are refused (the reference descriptions nest at most 29 deep)."""


def _check_yaml_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse YAML nested deeper than `limit` before it is composed into objects.

    libyaml composes nodes recursively in C without Python's recursion limit, so 100,000 nested
    brackets would crash the process; its event stream is produced iteratively and costs about a
    seventh of the load, so the depth is counted on the events first.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limit:
                raise CatalogImportError(
                    "InvalidParam.Document", f"The description is nested more than {limit} levels deep"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def parse_bytes(data: bytes | str) -> dict[str, Any]:
    """JSON or YAML text → a dict; CatalogImportError when neither."""
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    stripped = text.lstrip()
    try:
        is_json = stripped.startswith("{")
        if not is_json:
            _check_yaml_depth(text)
        doc = json.loads(stripped) if is_json else yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except json.JSONDecodeError as exc:
        raise CatalogImportError(
            "InvalidParam.Document", f"Invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise CatalogImportError("InvalidParam.Document", "The description is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise CatalogImportError(
            "InvalidParam.Document", f"Invalid YAML{where}: {getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(doc, dict):
        raise CatalogImportError("InvalidParam.Document", "The description must be a JSON or YAML object")
    if not is_json and ("&" in text or "*" in text):
        _check_expansion(doc, 2 * len(text) + 10_000)
    return doc


def detect_format(doc: dict[str, Any]) -> str:
    """`alibaba`, `openapi-3.0`, `openapi-3.1` or `swagger-2.0`."""
    if isinstance(doc.get("openapi"), str) and doc["openapi"].startswith("3."):
        return "openapi-3.1" if doc["openapi"].startswith("3.1") else "openapi-3.0"
    if str(doc.get("swagger", "")).startswith("2"):
        return "swagger-2.0"
    info = doc.get("info")
    if isinstance(info, dict) and "style" in info and isinstance(doc.get("apis"), dict):
        return "alibaba"
    raise CatalogImportError(
        "InvalidParam.Document",
        "Unrecognised description: expected OpenAPI 3.0/3.1, Swagger 2.0 or Alibaba Cloud API metadata (api-docs.json)",
    )


def import_document(
    doc: dict[str, Any], *, source: str = "", product: str | None = None, version: str | None = None
) -> ImportResult:
    """Normalise a parsed description (the dict may be modified and reused)."""
    fmt = detect_format(doc)
    try:
        if fmt == "alibaba":
            return import_alibaba(doc, source=source, product=product, version=version)
        return import_openapi(doc, source=source, product=product, version=version)
    except RecursionError:
        raise CatalogImportError("InvalidParam.Document", "The description is nested too deeply") from None


def import_bytes(
    data: bytes | str, *, source: str = "", product: str | None = None, version: str | None = None
) -> ImportResult:
    return import_document(parse_bytes(data), source=source, product=product, version=version)


def read_source(source: str, limits: FetchLimits) -> bytes:
    """The bytes of a file path or an http(s) URL (URLs within `limits`)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
        return fetch_url(source, limits)  # refuses anything but https (and http when private URLs are allowed)
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise CatalogImportError("InvalidParam.Document", f"{source} is larger than {limits.max_bytes} bytes")
        return path.read_bytes()
    except OSError as exc:
        raise CatalogImportError("InvalidParam.Source", f"Cannot read {source}: {exc.strerror or exc}") from None
