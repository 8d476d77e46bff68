"""A server's per-API customisations (`additionalApiDescriptions`): parsing and save-time checks.

`apiOverrideJson` is a JSON object with `summary` and/or `parameters` (the Alibaba api.json
format). `parameters` lists the parameters the tool keeps, each `{name, description?, schema?}`:
the description (top level or `schema.description`), `title` and `example` override the
catalog's; a parameter of the API that is not listed is deleted from the tool (optional ones only:
a required parameter cannot be removed). For an object body, `schema.properties` does the same one
level down (`body` properties). Other fields may be copied from the catalog but not changed.

`constParameters[{key, value}]` pin values: `key` is a top-level parameter, or `body.X` for a
property of an object body (`<bodyParameter>.X` in general).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from servers import json_input
from servers.compiler.schema import component_name
from servers.compiler.types import ValidationProblem

OVERRIDE_KEYS = frozenset({"summary", "parameters"})
_DESCRIPTIVE = frozenset({"name", "description", "title", "example", "examples", "schema", "properties"})
_PARAM_FIXED = ("in", "style", "required")
_SCHEMA_FIXED = ("type", "format", "items", "enum")
_CODE = "InvalidParam.AdditionalApiDescription"


def parse_override(value: Any) -> tuple[dict[str, Any], str | None]:
    """The override object and an error message (None when fine). Empty values mean no override."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}, None
    if isinstance(value, str):
        try:
            value = json_input.loads(value, field="apiOverrideJson")
        except json_input.JsonInputError as exc:
            inside = exc.field.removeprefix("apiOverrideJson").lstrip(".")
            return {}, f"{inside} {exc.problem}" if inside else exc.problem
    if not isinstance(value, dict):
        return {}, "must be a JSON object"
    return value, None


def is_required(param: Mapping[str, Any]) -> bool:
    schema = param.get("schema")
    schema = schema if isinstance(schema, dict) else {}
    return bool(param.get("required") or schema.get("required") is True)


def param_key(param: Mapping[str, Any]) -> str:
    return str(param.get("x-argName") or param.get("name"))


def body_schema(param: Mapping[str, Any], components: Mapping[str, Any]) -> dict[str, Any] | None:
    """The object schema of a body parameter (following one `$ref`), or None when it is not an object."""
    schema = param.get("schema")
    for _ in range(5):
        if not isinstance(schema, dict):
            return None
        ref = schema.get("$ref")
        name = component_name(ref) if isinstance(ref, str) else None
        if name is None:
            break
        schema = components.get(name)
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        return schema
    return None


def property_required(schema: Mapping[str, Any], name: str) -> bool:
    sub = (schema.get("properties") or {}).get(name)
    listed = schema.get("required")
    return (isinstance(listed, list) and name in listed) or (isinstance(sub, dict) and sub.get("required") is True)


def override_entries(override: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Override parameter entries by name, or None when the override does not list parameters."""
    params = override.get("parameters")
    if not isinstance(params, list):
        return None
    return {str(p["name"]): p for p in params if isinstance(p, dict) and p.get("name")}


def entry_description(entry: Mapping[str, Any]) -> str | None:
    schema = entry.get("schema")
    schema = schema if isinstance(schema, dict) else {}
    text = entry.get("description", schema.get("description"))
    return text if isinstance(text, str) else None


def entry_example(entry: Mapping[str, Any]) -> tuple[bool, Any]:
    schema = entry.get("schema")
    schema = schema if isinstance(schema, dict) else {}
    for src in (entry, schema):
        if "example" in src:
            return True, src["example"]
    return False, None


def validate_additional_descriptions(
    entries: Any, catalog: Mapping[tuple[str, str], Mapping[str, Any]]
) -> list[ValidationProblem]:
    """Save-time checks of `additionalApiDescriptions` against the catalog (messages name API and key)."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        return [ValidationProblem(_CODE, "additionalApiDescriptions must be a list", "additionalApiDescriptions")]
    problems: list[ValidationProblem] = []
    products = {p for p, _ in catalog}
    seen: set[tuple[str, str, str]] = set()
    for i, entry in enumerate(entries):
        where = f"additionalApiDescriptions[{i}]"
        if not isinstance(entry, dict):
            problems.append(ValidationProblem(_CODE, f"{where} must be an object", where))
            continue
        product, version, name = entry.get("product"), entry.get("apiVersion"), entry.get("apiName")
        if not product or not isinstance(product, str):
            problems.append(ValidationProblem(f"{_CODE}.PopCode", f"{where}.product is mandatory", f"{where}.product"))
            continue
        if (product, version) not in catalog:
            if product not in products:
                problems.append(
                    ValidationProblem(f"{_CODE}.PopCode", f"Unsupported product code: {product}.", f"{where}.product")
                )
            else:
                problems.append(
                    ValidationProblem(
                        f"{_CODE}.PopVersion",
                        f"Unsupported product version: {version} of product code: {product}.",
                        f"{where}.apiVersion",
                    )
                )
            continue
        document = catalog[(product, str(version))]
        label = f"{product} {version} {name}"
        api = (document.get("apis") or {}).get(name) if isinstance(name, str) else None
        if api is None:
            problems.append(
                ValidationProblem(
                    f"{_CODE}.ApiName", f"API {name!r} does not exist in {product} {version}.", f"{where}.apiName"
                )
            )
            continue
        if (product, str(version), str(name)) in seen:
            problems.append(ValidationProblem(_CODE, f"{label} is described more than once.", where))
        seen.add((product, str(version), str(name)))
        components = (document.get("components") or {}).get("schemas") or {}
        problems += check_override(entry.get("apiOverrideJson"), api, components, label, f"{where}.apiOverrideJson")
        problems += check_constants(entry.get("constParameters"), api, components, label, f"{where}.constParameters")
    return problems


def check_override(
    value: Any, api: Mapping[str, Any], components: Mapping[str, Any], label: str, where: str
) -> list[ValidationProblem]:
    code = f"{_CODE}.ApiOverrideJson"
    override, error = parse_override(value)
    if error:
        return [ValidationProblem(code, f"apiOverrideJson of {label} {error}.", where)]
    problems = []
    for key in sorted(set(override) - OVERRIDE_KEYS):
        problems.append(
            ValidationProblem(
                code, f"apiOverrideJson of {label} may only override summary and parameters, not {key!r}.", where
            )
        )
    if "summary" in override and not isinstance(override["summary"], str):
        problems.append(ValidationProblem(code, f"apiOverrideJson of {label}: summary must be a string.", where))
    if "parameters" not in override:
        return problems
    if not isinstance(override["parameters"], list):
        return [*problems, ValidationProblem(code, f"apiOverrideJson of {label}: parameters must be a list.", where)]
    params = {str(p["name"]): p for p in api.get("parameters") or []}
    listed: set[str] = set()
    for j, entry in enumerate(override["parameters"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.append(
                ValidationProblem(code, f"apiOverrideJson of {label}: parameters[{j}] needs a name.", where)
            )
            continue
        pname = entry["name"]
        listed.add(pname)
        param = params.get(pname)
        if param is None:
            problems.append(ValidationProblem(code, f"apiOverrideJson of {label}: no parameter {pname!r}.", where))
            continue
        problems += _check_entry(entry, param, components, f"apiOverrideJson of {label}", where)
    for pname, param in params.items():
        if pname not in listed and is_required(param):
            problems.append(
                ValidationProblem(
                    code,
                    f"apiOverrideJson of {label} removes required parameter {pname!r}; only optional "
                    "parameters can be deleted.",
                    where,
                )
            )
    return problems


def _check_entry(
    entry: Mapping[str, Any], param: Mapping[str, Any], components: Mapping[str, Any], label: str, where: str
) -> list[ValidationProblem]:
    code = f"{_CODE}.ApiOverrideJson"
    pname = param["name"]
    problems = []
    for key in _PARAM_FIXED:
        if key in entry and key in param and entry[key] != param[key]:
            problems.append(ValidationProblem(code, f"{label}: parameter {pname!r} {key} cannot be changed.", where))
    unknown = sorted(set(entry) - _DESCRIPTIVE - set(_PARAM_FIXED))
    for key in unknown:
        problems.append(ValidationProblem(code, f"{label}: parameter {pname!r} cannot override {key!r}.", where))
    schema = entry.get("schema")
    if schema is None:
        return problems
    if not isinstance(schema, dict):
        return [*problems, ValidationProblem(code, f"{label}: parameter {pname!r} schema must be an object.", where)]
    original = param.get("schema") or {}
    for key in _SCHEMA_FIXED:
        if key in schema and key in original and schema[key] != original[key]:
            problems.append(ValidationProblem(code, f"{label}: parameter {pname!r} {key} cannot be changed.", where))
    props = schema.get("properties")
    if props is None:
        return problems
    body = body_schema(param, components) if param.get("in") == "body" else None
    if body is None or not isinstance(props, dict):
        return [
            *problems,
            ValidationProblem(code, f"{label}: parameter {pname!r} has no body properties to override.", where),
        ]
    for prop in sorted(set(props) - set(body["properties"])):
        problems.append(ValidationProblem(code, f"{label}: body has no property {prop!r} (in {pname!r}).", where))
    for prop in body["properties"]:
        if prop not in props and property_required(body, prop):
            problems.append(
                ValidationProblem(
                    code,
                    f"{label} removes required body property {pname}.{prop}; only optional properties can be deleted.",
                    where,
                )
            )
    return problems


def check_constants(
    value: Any, api: Mapping[str, Any], components: Mapping[str, Any], label: str, where: str
) -> list[ValidationProblem]:
    code = f"{_CODE}.ConstParameters"
    if value is None:
        return []
    if not isinstance(value, list):
        return [ValidationProblem(code, f"constParameters of {label} must be a list.", where)]
    params = api.get("parameters") or []
    by_name = {str(p["name"]): p for p in params} | {param_key(p): p for p in params}
    problems = []
    seen: set[str] = set()
    for j, item in enumerate(value):
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key, str) or not key:
            problems.append(ValidationProblem(code, f"constParameters[{j}] of {label} needs a key.", f"{where}[{j}]"))
            continue
        if key in seen:
            problems.append(ValidationProblem(code, f"constant {key!r} of {label} is set twice.", f"{where}[{j}]"))
        seen.add(key)
        if "value" not in item:
            problems.append(ValidationProblem(code, f"constant {key!r} of {label} needs a value.", f"{where}[{j}]"))
        message = constant_problem(key, by_name, components)
        if message:
            problems.append(ValidationProblem(code, f"constant {key!r} of {label}: {message}.", f"{where}[{j}]"))
    return problems


def constant_problem(key: str, by_name: Mapping[str, Mapping[str, Any]], components: Mapping[str, Any]) -> str | None:
    if key in by_name:
        return None
    head, dot, prop = key.partition(".")
    if not dot:
        return "no such parameter"
    param = by_name.get(head)
    if param is None or param.get("in") != "body":
        return f"no such parameter (only top-level parameters, or {head if param else 'body'}.X for a body property)"
    if "." in prop:
        return "only one level below the body can be set"
    body = body_schema(param, components)
    if body is None:
        return f"{head} is not an object body"
    if prop not in body["properties"]:
        return f"the body has no property {prop!r}"
    return None
