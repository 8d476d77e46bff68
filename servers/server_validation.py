"""Meaning checks of a server's fields (SPEC §3.1), pure: no Django, the catalog comes in as a protocol.

Input: the wire dict of set fields, already type-checked by `servers.schemas` (strings are strings,
lists are lists). Output: the model's field values, normalised (defaults filled in, duplicates of
set-like lists dropped). The first problem raises an `ApiError` with the OpenAPIExplorer code and a
message naming the field, e.g. `apis[1].apiVersion`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from oauth.policy import PolicyError, parse_policy
from servers import json_input
from servers.catalog.naming import API_NAME_RE, PRODUCT_CODE_RE, VERSION_RE
from servers.compiler.prompts import prompt_variables
from servers.compiler.server import select
from servers.errors import ApiError, missing
from servers.schemas import (
    DESTROY_POLICIES,
    LANGUAGES,
    MAX_DESCRIPTION,
    MAX_INSTRUCTIONS,
    MAX_LIST,
    MAX_TEXT_ITEM,
    NAME_PATTERN,
    PUBLIC_ACCESS,
    ROLE_NAME_PATTERN,
)
from servers.system_tools import SYSTEM_TOOL_NAMES
from terraform.syntax import HclCheckError, checked_syntax_error

# Always `fullmatch`: `re.match` with a `$` anchor accepts a trailing newline ("abc\n").
NAME_RE = re.compile(NAME_PATTERN)
ROLE_NAME_RE = re.compile(ROLE_NAME_PATTERN)
NAME_RULE = (
    "Name must be 3 to 64 characters long, can only contain lowercase letters, numbers, underscores "
    "and hyphens, and cannot start with a digit."
)
OVERRIDE_KEYS = frozenset({"summary", "parameters"})


@dataclass(frozen=True)
class FieldLimits:
    """Limits from settings (see `servers.services.field_limits` and docs/configuration.md)."""

    max_selectors_per_api: int = 100  # SERVER_MAX_SELECTORS_PER_API
    max_apis: int = 1000  # SERVER_MAX_APIS: resolved APIs (tools from `apis`) of one server
    terraform_code_max_bytes: int = 64 * 1024  # TERRAFORM_CODE_MAX_BYTES, per tool
    terraform_check_seconds: float = 3.0  # TERRAFORM_CHECK_TIMEOUT_SECONDS, all tools of one request


class Catalog(Protocol):
    """What validation needs to know about the catalog."""

    def product_exists(self, product: str) -> bool: ...

    def version_exists(self, product: str, version: str) -> bool: ...

    def api_names(self, product: str, version: str) -> list[str]: ...

    def api_definition(self, product: str, version: str, api_name: str) -> Mapping[str, Any] | None: ...


def has_control(value: str) -> bool:
    """True when `value` holds a C0 control character or DEL (NUL, newline, escape…)."""
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def _free_text_control(value: str) -> bool:
    """Control characters other than tab, newline and carriage return (which text may hold)."""
    return any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in value)


def validate_name(value: str) -> str:
    if not value:
        raise missing("Name", "name")
    if not NAME_RE.fullmatch(value):
        raise ApiError("InvalidParam.Name", f"{NAME_RULE} Got {value[:80]!r}.", field="name")
    return value


def _text(value: str, field: str, limit: int) -> str:
    code = f"InvalidParam.{field[:1].upper()}{field[1:]}"
    if len(value) > limit:
        raise ApiError(code, f"{field} is longer than {limit} characters.", field=field)
    if _free_text_control(value):
        raise ApiError(code, f"{field} must not contain control characters other than tab and newline.", field=field)
    return value


def _one_line(value: str, field: str, limit: int) -> str:
    """A short identifier-like text: at most `limit` characters, no control characters at all."""
    code = f"InvalidParam.{field[:1].upper()}{field[1:]}"
    if len(value) > limit or has_control(value):
        raise ApiError(
            code, f"{field} must be one line of at most {limit} characters without control characters.", field=field
        )
    return value


def _choice(value: str, field: str, allowed: Sequence[str], template: str) -> str:
    if value not in allowed:
        raise ApiError(f"InvalidParam.{field[:1].upper()}{field[1:]}", template % value, field=field)
    return value


def _short_list(items: Sequence[Any], where: str, code: str, limit: int = MAX_LIST) -> None:
    if len(items) > limit:
        raise ApiError(code, f"{where} has {len(items)} entries; at most {limit} are allowed.", field=where)


def _shown(value: str) -> str:
    """`value` as it is when it is short and printable, else quoted and cut (a message stays one line)."""
    return value if len(value) <= 80 and value.isprintable() and value.strip() == value else repr(value[:80])


def _product_version(catalog: Catalog, product: str, version: str, code: str, field: str) -> None:
    # The catalog only holds well-formed codes: anything else is unsupported without a lookup
    # (which also keeps NUL and other control characters away from the database).
    if not PRODUCT_CODE_RE.fullmatch(product) or not catalog.product_exists(product):
        raise ApiError(f"{code}.PopCode", f"Unsupported product code: {_shown(product)}.", field=field)
    if not VERSION_RE.fullmatch(version) or not catalog.version_exists(product, version):
        raise ApiError(
            f"{code}.PopVersion",
            f"Unsupported product version: {_shown(version)} of product code: {product}.",
            field=field,
        )


def validate_apis(
    apis: Sequence[Mapping[str, Any]], catalog: Catalog, limits: FieldLimits = FieldLimits()
) -> list[dict[str, Any]]:
    if not apis:
        raise missing("Apis", "apis")
    _short_list(apis, "apis", "InvalidParam.Apis")
    out: list[dict[str, Any]] = []
    resolved = 0
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(apis):
        where = f"apis[{i}]"
        product, version = entry.get("product") or "", entry.get("apiVersion") or ""
        selectors = entry.get("selectors") or []
        if not product:
            raise ApiError("Missing.Apis.PopCode", f"{where}.product is mandatory for this action.", field="apis")
        if not version:
            raise ApiError("Missing.Apis.PopVersion", f"{where}.apiVersion is mandatory for this action.", field="apis")
        if not selectors or not all(selectors):
            raise ApiError(
                "Missing.Apis.Selectors", f"{where}.selectors must list at least one non-empty glob.", field="apis"
            )
        if len(selectors) > limits.max_selectors_per_api:
            raise ApiError(
                "InvalidParam.Apis.Selectors",
                f"{where}.selectors has {len(selectors)} entries; at most {limits.max_selectors_per_api} are allowed "
                "(SERVER_MAX_SELECTORS_PER_API). Use globs such as Describe* to select many APIs.",
                field="apis",
            )
        for selector in selectors:
            if len(selector) > MAX_TEXT_ITEM or any(c.isspace() for c in selector) or has_control(selector):
                raise ApiError(
                    "InvalidParam.Apis.Selectors",
                    f"{where}.selectors: {selector[:80]!r} must be a glob of at most {MAX_TEXT_ITEM} characters "
                    "without spaces or control characters.",
                    field="apis",
                )
        _product_version(catalog, product, version, "InvalidParam.Apis", "apis")
        if (product, version) in seen:
            raise ApiError(
                "InvalidParam.Apis",
                f"{where} repeats {product} {version}; put all selectors of one product version in one entry.",
                field="apis",
            )
        seen.add((product, version))
        unique = list(dict.fromkeys(selectors))
        resolved += len(select(catalog.api_names(product, version), unique))
        if resolved > limits.max_apis:
            raise ApiError(
                "InvalidParam.Apis",
                f"The selectors resolve to more than {limits.max_apis} APIs (by {where}); narrow them "
                "(SERVER_MAX_APIS), or enable the SearchApis, GetApiDefinition and CallApi system tools.",
                field="apis",
            )
        out.append({"product": product, "apiVersion": version, "selectors": unique})
    return out


def _check_override(raw: str, definition: Mapping[str, Any], where: str) -> None:
    code = "InvalidParam.AdditionalApiDescription.ApiOverrideJson"
    try:
        override = json_input.loads(raw, field=f"{where}.apiOverrideJson")
    except json_input.JsonInputError as exc:
        raise ApiError(code, exc.message, field="additionalApiDescriptions") from None
    if not isinstance(override, dict):
        raise ApiError(code, f"{where}.apiOverrideJson must be a JSON object.", field="additionalApiDescriptions")
    unknown = sorted(set(override) - OVERRIDE_KEYS)
    if unknown:
        raise ApiError(
            code,
            f"{where}.apiOverrideJson may only override summary and parameters, not {unknown[0]}.",
            field="additionalApiDescriptions",
        )
    if "summary" in override and not isinstance(override["summary"], str):
        raise ApiError(code, f"{where}.apiOverrideJson summary must be a string.", field="additionalApiDescriptions")
    if "parameters" not in override:
        return
    params = override["parameters"]
    if not isinstance(params, list) or not all(isinstance(p, dict) and isinstance(p.get("name"), str) for p in params):
        raise ApiError(
            code,
            f"{where}.apiOverrideJson parameters must be a list of objects with a name.",
            field="additionalApiDescriptions",
        )
    kept = {p["name"] for p in params}
    for param in definition.get("parameters") or []:
        if (param.get("schema") or {}).get("required") is True and param.get("name") not in kept:
            raise ApiError(
                code,
                f"{where}.apiOverrideJson removes the required parameter {param.get('name')}; "
                "only optional parameters can be removed.",
                field="additionalApiDescriptions",
            )


def validate_additional_descriptions(items: Sequence[Mapping[str, Any]], catalog: Catalog) -> list[dict[str, Any]]:
    _short_list(items, "additionalApiDescriptions", "InvalidParam.AdditionalApiDescription", 500)
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for i, item in enumerate(items):
        where = f"additionalApiDescriptions[{i}]"
        product, version, name = item.get("product") or "", item.get("apiVersion") or "", item.get("apiName") or ""
        for value, label, code in ((product, "product", "PopCode"), (version, "apiVersion", "PopVersion")):
            if not value:
                raise ApiError(
                    f"Missing.AdditionalApiDescription.{code}",
                    f"{where}.{label} is mandatory for this action.",
                    field="additionalApiDescriptions",
                )
        if not name:
            raise ApiError(
                "Missing.AdditionalApiDescription.ApiName",
                f"{where}.apiName is mandatory for this action.",
                field="additionalApiDescriptions",
            )
        _product_version(
            catalog, product, version, "InvalidParam.AdditionalApiDescription", "additionalApiDescriptions"
        )
        definition = catalog.api_definition(product, version, name) if API_NAME_RE.fullmatch(name) else None
        if definition is None:
            raise ApiError(
                "InvalidParam.AdditionalApiDescription.ApiName",
                f"{where}: API {_shown(name)} does not exist in {product} {version}.",
                field="additionalApiDescriptions",
            )
        if (product, version, name) in seen:
            raise ApiError(
                "InvalidParam.AdditionalApiDescription",
                f"{where} describes {product} {version} {name} a second time.",
                field="additionalApiDescriptions",
            )
        seen.add((product, version, name))
        override = item.get("apiOverrideJson") or ""
        if override:
            _check_override(override, definition, where)
        consts: list[dict[str, Any]] = []
        keys: set[str] = set()
        for j, const in enumerate(item.get("constParameters") or []):
            key = const.get("key") or ""
            if not key:
                raise ApiError(
                    "Missing.AdditionalApiDescription.ConstParameters.Key",
                    f"{where}.constParameters[{j}].key is mandatory for this action.",
                    field="additionalApiDescriptions",
                )
            if len(key) > MAX_TEXT_ITEM or has_control(key):
                raise ApiError(
                    "InvalidParam.AdditionalApiDescription.ConstParameters.Key",
                    f"{where}.constParameters[{j}].key must be a parameter name of at most {MAX_TEXT_ITEM} "
                    "characters without control characters.",
                    field="additionalApiDescriptions",
                )
            if key in keys:
                raise ApiError(
                    "InvalidParam.AdditionalApiDescription.ConstParameters",
                    f"{where}.constParameters sets {key} twice.",
                    field="additionalApiDescriptions",
                )
            keys.add(key)
            consts.append({"key": key, "value": const.get("value")})
        out.append(
            {
                "product": product,
                "apiVersion": version,
                "apiName": name,
                "apiOverrideJson": override,
                "executeCliCommand": bool(item.get("executeCliCommand", False)),
                "enableOutputSchema": bool(item.get("enableOutputSchema", False)),
                "constParameters": consts,
            }
        )
    return out


def validate_prompts(prompts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    _short_list(prompts, "prompts", "InvalidParam.Prompts")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, prompt in enumerate(prompts):
        where = f"prompts[{i}]"
        name = prompt.get("name") or ""
        if not name:
            raise ApiError("Missing.Prompts.Name", f"{where}.name is mandatory for this action.", field="prompts")
        if len(name) > MAX_TEXT_ITEM or has_control(name) or name in names:
            problem = (
                "is used by another prompt"
                if name in names
                else f"must be one line of at most {MAX_TEXT_ITEM} characters without control characters"
            )
            raise ApiError("InvalidParam.Prompts.Name", f"{where}.name {name[:80]!r} {problem}.", field="prompts")
        names.add(name)
        arguments: list[dict[str, Any]] = []
        declared: set[str] = set()
        for j, arg in enumerate(prompt.get("arguments") or []):
            arg_name = arg.get("name") or ""
            if not arg_name:
                raise ApiError(
                    "Missing.Prompts.Arguments.Name",
                    f"{where}.arguments[{j}].name is mandatory for this action.",
                    field="prompts",
                )
            if len(arg_name) > MAX_TEXT_ITEM or has_control(arg_name):
                raise ApiError(
                    "InvalidParam.Prompts.Arguments.Name",
                    f"{where}.arguments[{j}].name must be one line of at most {MAX_TEXT_ITEM} characters without "
                    "control characters.",
                    field="prompts",
                )
            if arg_name in declared:
                raise ApiError(
                    "InvalidParam.Prompts.Arguments", f"{where}.arguments declares {arg_name} twice.", field="prompts"
                )
            declared.add(arg_name)
            arguments.append(
                {"name": arg_name, "description": arg.get("description") or "", "required": bool(arg.get("required"))}
            )
        content = prompt.get("content") or ""
        for variable in prompt_variables(content):
            if variable not in declared:
                raise ApiError(
                    "InvalidParam.Prompts.Content",
                    f"{where}.content uses {{{{{variable}}}}}, which is not declared in {where}.arguments.",
                    field="prompts",
                )
        out.append(
            {"name": name, "description": prompt.get("description") or "", "content": content, "arguments": arguments}
        )
    return out


def validate_system_tools(names: Sequence[str]) -> list[str]:
    for name in names:
        if name not in SYSTEM_TOOL_NAMES:
            raise ApiError("InvalidParam.SystemTools", f"System tool {name} is not supported.", field="systemTools")
    return list(dict.fromkeys(names))


def validate_terraform_tools(
    tools: Sequence[Mapping[str, Any]], limits: FieldLimits = FieldLimits()
) -> list[dict[str, Any]]:
    _short_list(tools, "terraformTools", "InvalidParam.TerraformTools", 50)
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    deadline = time.monotonic() + limits.terraform_check_seconds  # one budget for the whole request
    for i, tool in enumerate(tools):
        where = f"terraformTools[{i}]"
        name, code, description = tool.get("name") or "", tool.get("code") or "", tool.get("description") or ""
        for value, label in ((name, "Name"), (code, "Code"), (description, "Description")):
            if not value:
                raise ApiError(
                    f"Missing.TerraformTools.{label}",
                    f"TerraformTools.{label} is mandatory for this action ({where}.{label.lower()}).",
                    field="terraformTools",
                )
        if not NAME_RE.fullmatch(name):
            raise ApiError(
                "InvalidParam.TerraformTools.Name",
                f"TerraformTools.Name: {_shown(name)} must be 3 to 64 characters long and can only contain lowercase "
                "letters, numbers, underscores, and hyphens, and cannot start with a digit.",
                field="terraformTools",
            )
        if name in names:
            raise ApiError(
                "Exists.TerraformTools.Name",
                f"The Terraform tool name already exists: {name} ({where}).",
                409,
                field="terraformTools",
            )
        names.add(name)
        size = len(code.encode())
        if size > limits.terraform_code_max_bytes:
            raise ApiError(
                "InvalidParam.TerraformTools.Code",
                f"{where}.code is {size} bytes; at most {limits.terraform_code_max_bytes} bytes are allowed "
                "(TERRAFORM_CODE_MAX_BYTES).",
                field="terraformTools",
            )
        if "\x00" in code:
            raise ApiError(
                "InvalidParam.TerraformTools.Code",
                f"{where}.code must not contain NUL characters.",
                field="terraformTools",
            )
        try:
            problem = checked_syntax_error(code, timeout_seconds=max(0.0, deadline - time.monotonic()))
        except HclCheckError as exc:
            why = (
                f"could not be checked within {limits.terraform_check_seconds:g} s (TERRAFORM_CHECK_TIMEOUT_SECONDS, "
                "for all Terraform tools of one request together)"
                if exc.timed_out
                else f"could not be checked: {exc}"
            )
            raise ApiError(
                "InvalidParam.TerraformTools.Code",
                f"The Terraform tool code {where}.code {why}; simplify or split it.",
                field="terraformTools",
            ) from None
        if problem:
            raise ApiError(
                "InvalidParam.TerraformTools.Code",
                f"The Terraform tool code is not valid: {where} {problem}. Please check the syntax and try again.",
                field="terraformTools",
            )
        policy = tool.get("destroyPolicy") or "NEVER"
        if policy not in DESTROY_POLICIES:
            raise ApiError(
                "InvalidParam.TerraformTools.DestroyPolicy",
                f"{where}.destroyPolicy must be one of NEVER, ALWAYS, ON_FAILURE; got {policy!r}.",
                field="terraformTools",
            )
        out.append(
            {
                "name": name,
                "description": description,
                "code": code,
                "async": bool(tool.get("async", False)),
                "destroyPolicy": policy,
            }
        )
    return out


def validate_vpc_whitelists(items: Sequence[str], field: str = "vpcWhitelists") -> list[str]:
    _short_list(items, field, "InvalidParam.VpcWhitelists")
    for item in items:
        if not item or len(item) > MAX_TEXT_ITEM or any(c.isspace() for c in item) or has_control(item):
            raise ApiError(
                "InvalidParam.VpcWhitelists",
                f"{field}: {item[:80]!r} must be a network id, IP network or address of 1 to {MAX_TEXT_ITEM} "
                "characters without spaces or control characters.",
                field=field,
            )
    return list(dict.fromkeys(items))


def validate_assume_role_name(value: str) -> str:
    if value and not ROLE_NAME_RE.fullmatch(value):
        raise ApiError(
            "InvalidParam.AssumeRoleName",
            f"assumeRoleName {value[:80]!r} must be 1 to 64 letters, digits, periods or hyphens.",
            field="assumeRoleName",
        )
    return value


def validate_extra_policy(value: str) -> str:
    if not value:
        return value
    try:
        parse_policy(json_input.loads(value, field="assumeRoleExtraPolicy"))
    except json_input.JsonInputError as exc:
        raise ApiError("InvalidParam.AssumeRoleExtraPolicy", exc.message, field="assumeRoleExtraPolicy") from None
    except (ValueError, PolicyError) as exc:
        raise ApiError(
            "InvalidParam.AssumeRoleExtraPolicy",
            f"assumeRoleExtraPolicy is not a valid policy document: {exc}",
            field="assumeRoleExtraPolicy",
        ) from None
    return value


def validate_server_fields(
    data: Mapping[str, Any], catalog: Catalog, limits: FieldLimits = FieldLimits()
) -> dict[str, Any]:
    """Model field values for every wire field present in `data` (name excluded)."""
    checks: list[tuple[str, str, Callable[[Any], Any]]] = [
        ("description", "description", lambda v: _text(v, "description", MAX_DESCRIPTION)),
        ("language", "language", lambda v: _choice(v, "language", LANGUAGES, "Unsupported language: %s.")),
        ("apis", "apis", lambda v: validate_apis(v, catalog, limits)),
        (
            "additionalApiDescriptions",
            "additional_api_descriptions",
            lambda v: validate_additional_descriptions(v, catalog),
        ),
        ("prompts", "prompts", validate_prompts),
        ("systemTools", "system_tools", validate_system_tools),
        ("oauthClientId", "oauth_client_id", lambda v: _one_line(v, "oauthClientId", 200)),
        ("instructions", "instructions", lambda v: _text(v, "instructions", MAX_INSTRUCTIONS)),
        ("enableAssumeRole", "enable_assume_role", bool),
        ("assumeRoleName", "assume_role_name", validate_assume_role_name),
        ("assumeRoleExtraPolicy", "assume_role_extra_policy", validate_extra_policy),
        (
            "publicAccess",
            "public_access",
            lambda v: _choice(v, "publicAccess", PUBLIC_ACCESS, "Unsupported publicAccess: %s (on, off or follow)."),
        ),
        ("enableCustomVpcWhitelist", "enable_custom_vpc_whitelist", bool),
        ("terraformTools", "terraform_tools", lambda v: validate_terraform_tools(v, limits)),
        ("vpcWhitelists", "vpc_whitelists", validate_vpc_whitelists),
    ]
    out: dict[str, Any] = {}
    for wire, model_field, check in checks:
        if wire in data:
            out[model_field] = check(data[wire])
    return out


def check_consistency(fields: Mapping[str, Any]) -> None:
    """Rules between fields, on the merged (stored + changed) values."""
    if fields.get("enable_assume_role") and not fields.get("assume_role_name"):
        raise ApiError(
            "Missing.AssumeRoleName",
            "assumeRoleName is mandatory when enableAssumeRole is true.",
            field="assumeRoleName",
        )
