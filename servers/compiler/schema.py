"""Catalog schemas → the JSON Schema 2020-12 that tools publish.

Catalog schemas come in two dialects: Alibaba metadata (`required: true` on a property, numbers
and examples written as strings, `type: any`, vendor keys such as `visibility`) and the 2020-12
schemas the OpenAPI importer wrote. `Finaliser` turns either into clean 2020-12:

- keeps the JSON Schema keywords (validation and annotations) and `discriminator`, drops vendor
  keys (`x-…`, `xml`, `externalDocs`, Alibaba's `visibility`, `itemNode`…);
- lifts boolean `required` into the parent's `required` list, coerces numeric strings, turns a
  boolean `exclusiveMinimum`/`exclusiveMaximum` into the numeric form, `example` into `examples`
  (typed like the schema when the text parses), drops `type: any`, and a `title` when there is a
  `description` (Alibaba titles are short Chinese labels of the same thing);
- rewrites `#/components/schemas/<Name>` into `#/$defs/<Name>` and records the names, so each
  tool carries exactly the definitions it reaches (circular ones stay circular);
- drops patterns Python's `re` cannot compile (the import reported them), and references to
  missing components (also reported at import) become unconstrained schemas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from servers import json_input

COMPONENT_PREFIX = "#/components/schemas/"
_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_MAP_KEYS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_ONE_KEYS = frozenset(
    {
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
    }
)
_LIST_KEYS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_NUMBER_KEYS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
_COUNT_KEYS = frozenset(
    {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "minContains", "maxContains"}
)
_BOOL_KEYS = frozenset({"uniqueItems", "deprecated", "readOnly", "writeOnly"})
_TEXT_KEYS = frozenset({"description", "title", "format", "contentMediaType", "contentEncoding"})
_ANY_KEYS = frozenset({"const", "default"})
_POINTER_SAFE = "!$&'()*+,;=:@/?-._~"


def def_ref(name: str) -> str:
    token = name.replace("~", "~0").replace("/", "~1")
    return "#/$defs/" + quote(token, safe=_POINTER_SAFE)


def component_name(ref: str) -> str | None:
    if not ref.startswith(COMPONENT_PREFIX):
        return None
    return unquote(ref[len(COMPONENT_PREFIX) :]).replace("~1", "/").replace("~0", "~")


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    return None


def _typed(value: Any, kind: Any) -> Any:
    """An example/default/enum value written as text, converted to the schema's type when it parses."""
    if not isinstance(value, str) or not isinstance(kind, str):
        return value
    text = value.strip()
    if kind == "integer":
        return int(text) if re.fullmatch(r"-?\d+", text) else value
    if kind == "number":
        number = _number(text)
        return value if number is None else number
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), value)
    if kind in ("array", "object") and text[:1] in "[{":
        try:
            parsed = json_input.loads(text, field="example")
        except ValueError:  # JsonInputError too: invalid, too deep, NaN, NUL…
            return value
        return parsed if isinstance(parsed, list if kind == "array" else dict) else value
    return value


def clean_text(text: str, language: str = "EN_US") -> str:
    """Alibaba documentation markup → plain text: `[Name](~~123~~)` → `Name`; keep the site's `<props>`."""
    if "](#" in text:
        text = re.sub(r"\[\]\(#[^)]*\)", "", text)
    if "~~" in text:
        text = re.sub(r"\[([^\]]*)\]\(~~[^)]*~~\)", r"\1", text)
    if "<props" in text:
        keep = "china" if language == "ZH_CN" else "intl"
        text = re.sub(
            r'<props="([^"]*)">(.*?)</props>', lambda m: m.group(2) if m.group(1) == keep else "", text, flags=re.S
        )
    return text.strip()


class Finaliser:
    """Finalises schemas of one catalog document for one server language (memoising components)."""

    def __init__(self, components: Mapping[str, Any], language: str = "EN_US") -> None:
        self.components = components
        self.language = language
        self._defs: dict[str, Any] = {}
        self._def_refs: dict[str, set[str]] = {}

    def schema(self, schema: Any, refs: set[str]) -> Any:
        """A finalised copy of `schema`; component names it references are added to `refs`."""
        return self._walk(schema, refs)

    def definitions(self, refs: set[str]) -> dict[str, Any]:
        """`$defs` for everything reachable from `refs` (sorted, so payloads are stable)."""
        seen: set[str] = set()
        stack = list(refs)
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            self._component(name)
            stack.extend(self._def_refs.get(name, ()))
        return {name: self._defs[name] for name in sorted(seen)}

    def component(self, name: str) -> Any:
        return self._component(name)

    def _component(self, name: str) -> Any:
        if name not in self._defs:
            refs: set[str] = set()
            self._defs[name] = {}  # placeholder while walking (circular definitions)
            self._defs[name] = self._walk(self.components.get(name, {}), refs)
            self._def_refs[name] = refs
        return self._defs[name]

    def _walk(self, schema: Any, refs: set[str]) -> Any:
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict):
            return {}
        out: dict[str, Any] = {}
        kind = schema.get("type")
        listed: list[str] = []
        lifted: list[str] = []
        for key, value in schema.items():
            if key == "$ref":
                name = component_name(value) if isinstance(value, str) else None
                if name is not None and name in self.components:
                    refs.add(name)
                    out["$ref"] = def_ref(name)
            elif key in _MAP_KEYS:
                if isinstance(value, dict):
                    out[key] = {k: self._walk(v, refs) for k, v in value.items()}
                    if key == "properties":
                        # Sorted: stored documents may not keep key order (PostgreSQL jsonb does not).
                        lifted = sorted(
                            k for k, v in value.items() if isinstance(v, dict) and v.get("required") is True
                        )
            elif key in _ONE_KEYS:
                if isinstance(value, dict | bool):
                    out[key] = self._walk(value, refs)
            elif key in _LIST_KEYS:
                if isinstance(value, list) and value:
                    out[key] = [self._walk(v, refs) for v in value]
            elif key == "type":
                if isinstance(value, str) and value in _TYPES:
                    out["type"] = value
                elif isinstance(value, list) and value and all(v in _TYPES for v in value):
                    out["type"] = list(dict.fromkeys(value))
            elif key in _TEXT_KEYS:
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    out[key] = clean_text(str(value), self.language) if key == "description" else str(value)
            elif key in _NUMBER_KEYS:
                number = _number(value)
                if number is not None and not (key == "multipleOf" and number <= 0):
                    out[key] = number
            elif key in _COUNT_KEYS:
                number = _number(value)
                if isinstance(number, int) and number >= 0:
                    out[key] = number
            elif key in _BOOL_KEYS:
                if isinstance(value, bool):
                    out[key] = value
            elif key == "required":
                if isinstance(value, list):
                    listed = [v for v in value if isinstance(v, str)]
            elif key == "enum":
                if isinstance(value, list):
                    out["enum"] = [_typed(v, kind) for v in value]
            elif key == "example":
                if "examples" not in schema:
                    out["examples"] = [_typed(value, kind)]
            elif key == "examples":
                if isinstance(value, list):
                    out["examples"] = value
            elif key == "pattern":
                if isinstance(value, str) and _compiles(value):
                    out["pattern"] = value
            elif key in _ANY_KEYS:
                out[key] = _typed(value, kind) if key == "default" else value
            elif key == "discriminator":
                if isinstance(value, dict) and isinstance(value.get("propertyName"), str):
                    out["discriminator"] = self._discriminator(value)
            elif key == "dependentRequired" and isinstance(value, dict):
                out[key] = value
        if listed or lifted:
            out["required"] = list(dict.fromkeys([*listed, *lifted]))
        for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            flag = schema.get(exclusive)
            if flag is True and bound in out:
                out[exclusive] = out.pop(bound)
        if "description" in out and "title" in out:
            del out["title"]
        return out

    @staticmethod
    def _discriminator(value: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"propertyName": value["propertyName"]}
        mapping = value.get("mapping")
        if isinstance(mapping, dict):
            out["mapping"] = {
                k: (def_ref(n) if isinstance(v, str) and (n := component_name(v)) else v) for k, v in mapping.items()
            }
        return out


_PATTERN_OK: dict[str, bool] = {}


def _compiles(pattern: str) -> bool:
    ok = _PATTERN_OK.get(pattern)
    if ok is None:
        try:
            re.compile(pattern)
            ok = True
        except re.error:
            ok = False
        _PATTERN_OK[pattern] = ok
    return ok
