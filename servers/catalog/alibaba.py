"""Alibaba Cloud API metadata (`api-docs.json`) → the normalised catalog shape.

The metadata already is the normalised shape, so the document is kept as published (the
management API serves it back through ListApiDefinitions / GetApiDefinition). The import only
checks it, lets `--product` / `--version` override `info`, and adds what the other formats also
carry: a parameter-level `required` (copied from `schema.required`, always true for path
parameters) and `x-argName` where a parameter's name cannot be a tool argument name as is.
"""

from __future__ import annotations

import re
from typing import Any

from servers.catalog.naming import assign_argument_names, check_product_code, check_version
from servers.catalog.schema import COMPONENT_PREFIX, unescape_pointer
from servers.catalog.types import CatalogImportError, ImportResult, ProblemLog

STYLES = {"RPC", "ROA", "OSS"}
LOCATIONS = {"query", "formData", "path", "body", "header", "host"}
PARAM_STYLES = {None, "repeatList", "flat", "json", "simple", "xml"}
METHODS = {"get", "post", "put", "delete", "patch", "head", "options"}


def import_alibaba(
    raw: dict[str, Any], *, source: str = "", product: str | None = None, version: str | None = None
) -> ImportResult:
    """Check and complete a parsed `api-docs.json` (modified in place and returned as the document)."""
    info = raw.get("info")
    apis = raw.get("apis")
    if not isinstance(info, dict) or not isinstance(apis, dict):
        raise CatalogImportError("InvalidParam.Document", "Alibaba Cloud metadata needs `info` and `apis` objects")
    problems = ProblemLog()
    style = str(info.get("style") or "")
    if style not in STYLES:
        raise CatalogImportError("InvalidParam.Document", f"Unsupported API style {style!r} (expected RPC, ROA or OSS)")
    info["product"] = check_product_code(product or str(info.get("product") or ""))
    info["version"] = check_version(version or str(info.get("version") or ""))
    info.setdefault("title", "")
    components = raw.setdefault("components", {})
    schemas = components.setdefault("schemas", {}) if isinstance(components, dict) else {}
    raw.setdefault("endpoints", [])
    raw.setdefault("errorCodes", [])
    raw.setdefault("servers", [])
    checker = _SchemaChecker(schemas, problems)
    for name, schema in schemas.items():
        checker.check(schema, f"components.schemas.{name}", api="")
    for name, api in apis.items():
        problems.api = name
        if not isinstance(api, dict):
            raise CatalogImportError("InvalidParam.Document", f"API {name} is not an object")
        _check_api(name, api, style, checker, problems)
    problems.api = ""
    return ImportResult(document=raw, source_format="alibaba", problems=problems.items)


def _check_api(name: str, api: dict[str, Any], style: str, checker: _SchemaChecker, problems: ProblemLog) -> None:
    methods = [str(m).lower() for m in api.get("methods") or []]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        problems.add("methods", f"unknown HTTP method(s) {unknown}")
    api["methods"] = methods or (["post"] if style == "RPC" else ["get"])
    if style != "RPC" and not api.get("path"):
        problems.add("path", f"{style} API without a path")
    params = api.get("parameters")
    if not isinstance(params, list):
        params = []
    kept = []
    for i, param in enumerate(params):
        if not isinstance(param, dict) or not param.get("name"):
            problems.add(f"parameters[{i}]", "parameter without a name; ignored")
            continue
        where = f"parameter {param['name']}"
        if param.get("in") not in LOCATIONS:
            problems.add(where, f"unknown location {param.get('in')!r}")
        if param.get("style") not in PARAM_STYLES:
            problems.add(where, f"unknown style {param.get('style')!r}; sent as a plain value")
        schema = param.get("schema")
        if not isinstance(schema, dict):
            problems.add(where, "parameter without a schema; accepts any value")
            schema = param["schema"] = {}
        # A path parameter is needed to build the URL, whatever its schema says.
        param["required"] = bool(param.get("required") or schema.get("required") is True or param.get("in") == "path")
        checker.check(schema, where, api=name)
        kept.append(param)
    api["parameters"] = kept
    for status, response in (api.get("responses") or {}).items():
        if isinstance(response, dict) and isinstance(response.get("schema"), dict):
            checker.check(response["schema"], f"response {status}", api=name)
    assign_argument_names(kept)
    tags = api.setdefault("systemTags", {})
    if isinstance(tags, dict) and not tags.get("operationType") and api.get("operationType"):
        tags["operationType"] = api["operationType"]


class _SchemaChecker:
    """Reports references to missing components and patterns that tools cannot carry."""

    def __init__(self, schemas: dict[str, Any], problems: ProblemLog) -> None:
        self.schemas = schemas
        self.problems = problems

    def check(self, schema: Any, where: str, *, api: str) -> None:
        stack = [schema]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str):
                    name = unescape_pointer(ref[len(COMPONENT_PREFIX) :]) if ref.startswith(COMPONENT_PREFIX) else None
                    if name is None or name not in self.schemas:
                        self.problems.add(where, f"reference {ref!r} cannot be resolved; accepts any value", api=api)
                pattern = node.get("pattern")
                if isinstance(pattern, str):
                    try:
                        re.compile(pattern)
                    except re.error:
                        self.problems.add(where, f"pattern {pattern!r} is not portable; tools omit it", api=api)
                stack.extend(v for v in node.values() if isinstance(v, dict | list))
            elif isinstance(node, list):
                stack.extend(v for v in node if isinstance(v, dict | list))
