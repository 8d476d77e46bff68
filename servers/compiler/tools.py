"""One catalog API + the server's customisation → one MCP tool and its binding."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from servers.compiler.overrides import (
    body_schema,
    entry_description,
    entry_example,
    is_required,
    override_entries,
    param_key,
    parse_override,
    property_required,
)
from servers.compiler.schema import Finaliser, clean_text, component_name
from servers.compiler.texts import assume_parameter, region_parameter, tool_description
from servers.compiler.types import ASSUME_ARG, REGION_ARG, ToolBinding

_READ = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True}
_CREATE = {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False}
_UPDATE = {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": False}
_DELETE = {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True}
_PUT = {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True}
_BY_OPERATION_TYPE = {
    "get": _READ,
    "list": _READ,
    "read": _READ,
    "create": _CREATE,
    "update": _UPDATE,
    "delete": _DELETE,
}
_BY_METHOD = {
    "get": _READ,
    "head": _READ,
    "options": _READ,
    "post": _CREATE,
    "put": _PUT,
    "patch": _UPDATE,
    "delete": _DELETE,
}
_READ_NAME = re.compile(r"^(Describe|List|Get|Query|Check|Search|Preview|Inquire|Verify|Validate)[A-Z0-9_]")
_DELETE_NAME = re.compile(r"^(Delete|Remove|Release|Destroy|Purge|Unassign|Detach|Revoke|Cancel)[A-Z0-9_]")
_CREATE_NAME = re.compile(r"^(Create|Add|Allocate|Import|Copy|Attach|Associate|Assign|Run|Start|Grant)[A-Z0-9_]")


@dataclass(frozen=True)
class ToolInput:
    """Everything `build_tool` needs about one API of one server."""

    tool_name: str
    product: str
    version: str
    api_name: str
    api: Mapping[str, Any]
    document: Mapping[str, Any]
    finaliser: Finaliser
    description: Mapping[str, Any]  # the server's additionalApiDescriptions entry, or {}
    texts: Mapping[str, str]
    language: str
    assume_role: bool
    assume_role_name: str


def regions_of(document: Mapping[str, Any]) -> dict[str, str]:
    """region id → endpoint, when the product has more than one distinct endpoint (else {})."""
    endpoints = {}
    for item in document.get("endpoints") or []:
        if isinstance(item, dict) and item.get("regionId") and item.get("endpoint"):
            endpoints[str(item["regionId"])] = str(item["endpoint"])
    return endpoints if len(set(endpoints.values())) > 1 else {}


def annotations_for(api: Mapping[str, Any], api_name: str, style: str) -> dict[str, bool]:
    operation_type = str((api.get("systemTags") or {}).get("operationType") or "")
    hints = _BY_OPERATION_TYPE.get(operation_type)
    if hints is None:
        methods = [str(m).lower() for m in api.get("methods") or []]
        if style != "RPC" and len(methods) == 1:
            hints = _BY_METHOD.get(methods[0])
        if hints is None:
            if _READ_NAME.match(api_name):
                hints = _READ
            elif _DELETE_NAME.match(api_name):
                hints = _DELETE
            elif _CREATE_NAME.match(api_name):
                hints = _CREATE
            else:
                hints = _UPDATE
    return dict(hints)


def build_tool(inp: ToolInput) -> tuple[dict[str, Any], ToolBinding, list[str]]:
    """The `tools/list` entry, the binding and warnings (customisations that did not apply)."""
    warnings: list[str] = []
    label = f"{inp.product} {inp.version} {inp.api_name}"
    override, error = parse_override(inp.description.get("apiOverrideJson"))
    if error:
        warnings.append(f"apiOverrideJson of {label} {error}; ignored")
    entries = override_entries(override)
    components = (inp.document.get("components") or {}).get("schemas") or {}
    params = [p for p in inp.api.get("parameters") or [] if isinstance(p, dict) and p.get("name")]
    constants = _constants(inp, params, components, warnings, label)

    refs: set[str] = set()
    properties: dict[str, Any] = {}
    required: list[str] = []
    arguments: dict[str, Mapping[str, Any]] = {}
    for param in params:
        arg = param_key(param)
        entry = entries.get(str(param["name"])) if entries is not None else None
        if entries is not None and entry is None:
            if is_required(param):
                warnings.append(f"{label}: required parameter {param['name']} cannot be deleted; kept")
            else:
                continue  # deleted by the override
        arguments[arg] = param
        if arg in constants:
            continue
        schema, needed = _parameter_schema(inp, param, entry or {}, constants, components, refs)
        if schema is None:
            continue  # an object body entirely made of constants
        properties[arg] = schema
        if needed:
            required.append(arg)

    regions = regions_of(inp.document)
    if regions:
        properties[REGION_ARG] = region_parameter(dict(inp.texts), sorted(regions))
    if inp.assume_role:
        properties[ASSUME_ARG] = assume_parameter(dict(inp.texts), inp.assume_role_name)
    input_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        input_schema["required"] = required
    input_schema["additionalProperties"] = False
    if refs:
        input_schema["$defs"] = inp.finaliser.definitions(refs)

    summary = override.get("summary")

    summary = summary if isinstance(summary, str) else None
    summary = summary or str(inp.api.get("summary") or inp.api.get("title") or "")
    api_description = clean_text(str(inp.api.get("description") or ""), inp.language)
    if not summary and not api_description:
        summary = inp.texts["default_summary"].format(api=inp.api_name, product=inp.product, version=inp.version)
    style = str((inp.document.get("info") or {}).get("style") or "")
    cli_mode = bool(inp.description.get("executeCliCommand"))
    description = tool_description(
        dict(inp.texts),
        summary=clean_text(summary, inp.language),
        description=api_description,
        deprecated=bool(inp.api.get("deprecated")),
        regional=bool(regions),
        assume_role=inp.assume_role_name if inp.assume_role else None,
        cli_mode=cli_mode,
        constants=sorted(constants),
    )
    tool: dict[str, Any] = {"name": inp.tool_name, "description": description, "inputSchema": input_schema}
    output_schema, wrapped = None, False
    if inp.description.get("enableOutputSchema"):
        output_schema, wrapped = _output_schema(inp)
        if output_schema is not None:
            tool["outputSchema"] = output_schema
        else:
            warnings.append(f"{label}: the API documents no response schema; no outputSchema")
    tool["annotations"] = annotations_for(inp.api, inp.api_name, style)
    binding = ToolBinding(
        tool_name=inp.tool_name,
        product=inp.product,
        version=inp.version,
        api_name=inp.api_name,
        action=f"{inp.product.lower()}:{inp.api_name}",
        style=style,
        api=inp.api,
        arguments=arguments,
        constants=constants,
        cli_mode=cli_mode,
        output_schema=output_schema is not None,
        output_wrapped=wrapped,
        regional=bool(regions),
        endpoints=regions or _all_endpoints(inp.document),
        assume_role=inp.assume_role,
        assume_role_name=inp.assume_role_name,
        servers=tuple(str(s) for s in inp.document.get("servers") or ()),
        security_schemes=(inp.document.get("components") or {}).get("securitySchemes") or {},
        input_schema=input_schema,
    )
    return tool, binding, warnings


def _all_endpoints(document: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(e["regionId"]): str(e["endpoint"])
        for e in document.get("endpoints") or []
        if isinstance(e, dict) and e.get("regionId") and e.get("endpoint")
    }


def _constants(
    inp: ToolInput, params: list[dict[str, Any]], components: Mapping[str, Any], warnings: list[str], label: str
) -> dict[str, Any]:
    by_name = {str(p["name"]): p for p in params} | {param_key(p): p for p in params}
    constants: dict[str, Any] = {}
    for item in inp.description.get("constParameters") or []:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            continue
        key = item["key"]
        if key in by_name:
            constants[param_key(by_name[key])] = item.get("value")
            continue
        head, _, prop = key.partition(".")
        param = by_name.get(head)
        body = body_schema(param, components) if param is not None and param.get("in") == "body" else None
        if body is not None and prop and "." not in prop and prop in body["properties"]:
            constants[f"{param_key(param or {})}.{prop}"] = item.get("value")
        else:
            warnings.append(f"{label}: constant {key} matches no parameter; ignored")
    return constants


def _parameter_schema(
    inp: ToolInput,
    param: Mapping[str, Any],
    entry: Mapping[str, Any],
    constants: Mapping[str, Any],
    components: Mapping[str, Any],
    refs: set[str],
) -> tuple[dict[str, Any] | None, bool]:
    arg = param_key(param)
    raw = param.get("schema")
    raw = raw if isinstance(raw, dict) else {}
    required = is_required(param)
    body = body_schema(param, components) if param.get("in") == "body" else None
    entry_schema = entry.get("schema")
    entry_props = entry_schema.get("properties") if isinstance(entry_schema, dict) else None
    fixed = {k.split(".", 1)[1] for k in constants if k.startswith(arg + ".")}
    if body is not None and (fixed or isinstance(entry_props, dict) or raw.get("$ref")):
        kept = {}
        for name, sub in body["properties"].items():
            if name in fixed:
                continue
            sub_entry = entry_props.get(name) if isinstance(entry_props, dict) else None
            if isinstance(entry_props, dict) and sub_entry is None and not property_required(body, name):
                continue  # deleted by the override
            kept[name] = _described(sub, sub_entry) if isinstance(sub_entry, dict) else sub
        if not kept and (fixed or entry_props is not None):
            return None, False
        listed = body.get("required")
        listed = listed if isinstance(listed, list) else []
        raw = {**body, "properties": kept, "required": [n for n in listed if n in kept]}
        if (fixed or isinstance(entry_props, dict)) and "additionalProperties" not in body:
            raw["additionalProperties"] = False  # deleted and constant fields may not come back
        for key in ("description", "title"):
            if key in (param.get("schema") or {}):
                raw[key] = param["schema"][key]
    schema = inp.finaliser.schema(raw, refs)
    if not isinstance(schema, dict):
        schema = {}
    if body is not None and schema.get("required") and inp.document.get("info", {}).get("style") != "OpenAPI":
        required = True  # an Alibaba body with required fields must be sent
    text = entry_description(entry)
    if text is not None:
        schema["description"] = clean_text(text, inp.language)
    has_example, example = entry_example(entry)
    if has_example:
        schema["examples"] = [example]
    return schema, required


def _described(sub: Any, entry: Mapping[str, Any]) -> Any:
    if not isinstance(sub, dict):
        return sub
    out = dict(sub)
    text = entry_description(entry)
    if text is not None:
        out["description"] = text
    has_example, example = entry_example(entry)
    if has_example:
        out["example"] = example
        out.pop("examples", None)
    return out


def _output_schema(inp: ToolInput) -> tuple[dict[str, Any] | None, bool]:
    responses = inp.api.get("responses") or {}
    chosen = None
    for status in sorted(responses, key=lambda s: (str(s) != "200", str(s))):
        response = responses[status]
        if str(status).startswith("2") and isinstance(response, dict) and isinstance(response.get("schema"), dict):
            chosen = response["schema"]
            break
    if chosen is None:
        return None, False
    refs: set[str] = set()
    schema = inp.finaliser.schema(chosen, refs)
    root = schema if isinstance(schema, dict) else {}
    is_object = root.get("type") == "object"
    ref_name = component_name(chosen["$ref"]) if isinstance(chosen.get("$ref"), str) else None
    if not is_object and ref_name and set(root) <= {"$ref", "description", "title"}:
        target = inp.finaliser.component(ref_name)
        if isinstance(target, dict) and target.get("type") == "object":
            root = {"type": "object", **root}
            is_object = True
    if not is_object:
        root = {
            "type": "object",
            "properties": {"result": {**root, "description": root.get("description") or inp.texts["result"]}},
            "required": ["result"],
        }
    if refs:
        root["$defs"] = inp.finaliser.definitions(refs)
    return root, not is_object
