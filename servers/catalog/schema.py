"""OpenAPI 3.0 / 3.1 and Swagger 2.0 schema objects → JSON Schema 2020-12.

Component schemas stay shared: a reference to one is written `{"$ref": "#/components/schemas/<Name>"}`
in the normalised document (Swagger's `#/definitions/<Name>` is rewritten), so circular structures
stay circular; the tool compiler turns those into `#/$defs/<Name>`. Other internal pointers are
resolved and inlined. What has no JSON Schema equivalent is kept when it is a harmless annotation
and reported otherwise.

Conversions: `nullable`/`x-nullable` → a `"null"` type (or `anyOf [..., {"type": "null"}]` when the
schema has no `type`), boolean `exclusiveMinimum`/`exclusiveMaximum` → the numeric 2020-12 form,
`example` → `examples`, Swagger `type: file` → `string`/`binary`, Swagger's string
`discriminator` → `{"propertyName": ...}`, tuple `items` → `prefixItems`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from servers.catalog.types import ProblemLog

COMPONENT_PREFIX = "#/components/schemas/"
_SWAGGER_PREFIX = "#/definitions/"

_MAP_KEYS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_ONE_KEYS = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)
_LIST_KEYS = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAX_DEPTH = 200


def escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape_pointer(token: str) -> str:
    return unquote(token).replace("~1", "/").replace("~0", "~")


def resolve_pointer(root: Any, ref: str) -> Any:
    """The value at a local JSON pointer (`#/a/b`); KeyError when absent."""
    if ref in ("#", "#/"):
        return root
    node = root
    for token in ref[2:].split("/"):
        key = unescape_pointer(token)
        if isinstance(node, list):
            node = node[int(key)]
        elif isinstance(node, dict):
            node = node[key]
        else:
            raise KeyError(ref)
    return node


class SchemaConverter:
    """Converts the schemas of one document; `problems` collects what it could not represent."""

    def __init__(self, root: dict[str, Any], *, swagger: bool, problems: ProblemLog) -> None:
        self.root = root
        self.swagger = swagger
        self.problems = problems
        self.components: dict[str, Any] = (
            root.get("definitions") if swagger else (root.get("components") or {}).get("schemas")
        ) or {}
        self._inlining: list[str] = []

    # Components ----------------------------------------------------------------------------

    def convert_components(self) -> dict[str, Any]:
        out = {}
        for name, schema in self.components.items():
            out[name] = self.convert(schema, f"components.schemas.{name}", api="")
        return out

    # Schemas -------------------------------------------------------------------------------

    def convert(self, schema: Any, where: str, *, api: str | None = None) -> Any:
        try:
            return self._convert(schema, where, api, 0)
        except RecursionError:
            self.problems.add(where, "schema is nested too deeply; replaced by an unconstrained schema", api=api)
            return {}

    def _convert(self, schema: Any, where: str, api: str | None, depth: int) -> Any:
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict):
            self.problems.add(where, f"schema must be an object, got {type(schema).__name__}; ignored", api=api)
            return {}
        if depth > _MAX_DEPTH:
            self.problems.add(where, "schema is nested too deeply; replaced by an unconstrained schema", api=api)
            return {}
        if "$ref" in schema:
            return self._ref(schema, where, api, depth)
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key in _MAP_KEYS and isinstance(value, dict):
                target = "$defs" if key == "definitions" else key
                out[target] = {k: self._convert(v, f"{where}.{key}.{k}", api, depth + 1) for k, v in value.items()}
            elif key in _ONE_KEYS:
                if key == "items" and isinstance(value, list):
                    out["prefixItems"] = [
                        self._convert(v, f"{where}.items[{i}]", api, depth + 1) for i, v in enumerate(value)
                    ]
                elif key == "additionalItems":
                    out["items"] = self._convert(value, f"{where}.{key}", api, depth + 1)
                else:
                    out[key] = self._convert(value, f"{where}.{key}", api, depth + 1)
            elif key in _LIST_KEYS and isinstance(value, list):
                out[key] = [self._convert(v, f"{where}.{key}[{i}]", api, depth + 1) for i, v in enumerate(value)]
            elif key in ("nullable", "x-nullable", "exclusiveMinimum", "exclusiveMaximum", "minimum", "maximum"):
                continue  # handled below, together
            elif key == "example":
                if "examples" not in schema:
                    out["examples"] = [value]
            elif key == "examples":
                out["examples"] = (
                    value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
                )
            elif key == "type":
                out["type"] = self._type(value, out, where, api)
            elif key == "discriminator":
                out["discriminator"] = self._discriminator(value)
            elif key == "pattern":
                out["pattern"] = value
                self._check_pattern(value, where, api)
            elif key == "required" and not isinstance(value, list):
                self.problems.add(where, "`required` must be a list of property names; ignored", api=api)
            else:
                out[key] = value
        self._bounds(schema, out, where, api)
        if schema.get("nullable") is True or schema.get("x-nullable") is True:
            out = self._nullable(out)
        return out

    def _ref(self, schema: dict[str, Any], where: str, api: str | None, depth: int) -> Any:
        ref = schema["$ref"]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        prefix = _SWAGGER_PREFIX if self.swagger else COMPONENT_PREFIX
        if not isinstance(ref, str) or not ref.startswith("#"):
            self.problems.add(
                where, f"external reference {ref!r} is not supported; replaced by an unconstrained schema", api=api
            )
            return {"x-unresolvedRef": ref}
        out: dict[str, Any]
        tail = ref[len(prefix) :] if ref.startswith(prefix) else None
        if tail is not None and "/" not in tail:
            name = unescape_pointer(tail)
            if name not in self.components:
                self.problems.add(
                    where, f"reference {ref!r} points to a missing schema; replaced by an unconstrained schema", api=api
                )
                return {"x-unresolvedRef": ref}
            out = {"$ref": COMPONENT_PREFIX + escape_pointer(name)}
        else:
            try:
                target = resolve_pointer(self.root, ref)
            except (KeyError, IndexError, ValueError):
                self.problems.add(
                    where, f"reference {ref!r} cannot be resolved; replaced by an unconstrained schema", api=api
                )
                return {"x-unresolvedRef": ref}
            if ref in self._inlining:
                self.problems.add(where, f"circular reference {ref!r} outside components.schemas; cut", api=api)
                return {"x-unresolvedRef": ref}
            self._inlining.append(ref)
            try:
                out = dict(self._convert(target, where, api, depth + 1) or {})
            finally:
                self._inlining.pop()
        if siblings:
            converted = self._convert(siblings, where, api, depth + 1)
            if (
                isinstance(converted, dict)
                and "anyOf" in converted
                and "$ref" not in converted
                and (siblings.get("nullable") or siblings.get("x-nullable"))
            ):
                # `{"$ref": X, "nullable": true}`: nullable applies to the reference.
                rest = {k: v for k, v in converted.items() if k != "anyOf"}
                return {**rest, "anyOf": [out, {"type": "null"}]}
            out = {**out, **converted}
        return out

    def _type(self, value: Any, out: dict[str, Any], where: str, api: str | None) -> Any:
        if value == "file":
            out.setdefault("format", "binary")
            return "string"
        valid = {"string", "number", "integer", "boolean", "object", "array", "null"}
        if isinstance(value, str) and value in valid:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) and v in valid for v in value):
            return list(dict.fromkeys(value))
        self.problems.add(where, f"unknown type {value!r}; the type constraint is dropped", api=api)
        return None

    def _bounds(self, schema: dict[str, Any], out: dict[str, Any], where: str, api: str | None) -> None:
        if out.get("type", 0) is None:
            del out["type"]
        for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
            value = schema.get(bound)
            flag = schema.get(exclusive)
            if isinstance(flag, bool):
                if flag and isinstance(value, int | float):
                    out[exclusive] = value
                elif value is not None:
                    out[bound] = value
            else:
                if flag is not None:
                    out[exclusive] = flag
                if value is not None:
                    out[bound] = value

    def _discriminator(self, value: Any) -> Any:
        if isinstance(value, str):
            return {"propertyName": value}
        if isinstance(value, dict) and isinstance(value.get("mapping"), dict):
            mapping = {}
            for key, target in value["mapping"].items():
                if isinstance(target, str) and target.startswith(_SWAGGER_PREFIX):
                    target = COMPONENT_PREFIX + target[len(_SWAGGER_PREFIX) :]
                mapping[key] = target
            return {**value, "mapping": mapping}
        return value

    def _check_pattern(self, value: Any, where: str, api: str | None) -> None:
        try:
            re.compile(value)
        except (re.error, TypeError):
            self.problems.add(where, f"pattern {value!r} is not a portable regular expression; tools omit it", api=api)

    @staticmethod
    def _nullable(out: dict[str, Any]) -> dict[str, Any]:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"] if kind != "null" else "null"
        elif isinstance(kind, list):
            if "null" not in kind:
                out["type"] = [*kind, "null"]
        else:
            annotations: dict[str, Any] = {
                k: out.pop(k) for k in ("description", "title", "examples", "default", "deprecated") if k in out
            }
            return {**annotations, "anyOf": [out, {"type": "null"}]}
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
