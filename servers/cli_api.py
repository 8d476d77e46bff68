"""GenerateCLICommand of the management API (OpenAPIExplorer 2024-11-30, SPEC §3 and §5.4).

`POST /api/cli/makeCode` takes formData fields (as the official SDK sends them: `product`,
`apiVersion`, `api`, `regionId`, `apiParams` as a JSON string, `jsonApiParams`); a JSON object body
with the same fields is accepted too. It answers `{requestId, cli}`: the `aliyun …` or `curl …`
command of `servers.cli` for that call of a catalog API. Nothing is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from ninja import Router
from pydantic import BaseModel

from servers import json_input
from servers.api.common import account_resource, authorize, ok
from servers.catalog.selectors import (
    api_definition,
    current_revision_keys,
    product_code_exists,
    product_version_get,
    revision_header,
)
from servers.cli import ApiCall, CliError, command_for
from servers.errors import ApiError
from servers.json_input import JsonInputError
from servers.schemas import NO_NUL_RE, NOT_BLANK_RE, ErrorResponse

router = Router(tags=["Catalog"])
OPERATION = "GenerateCLICommand"
_FIELDS = {
    "product": ("string", "The product code, e.g. Ecs."),
    "apiVersion": ("string", "The API version, e.g. 2014-05-26."),
    "api": ("string", "The API name, e.g. DescribeRegions."),
    "regionId": ("string", "The region ID (`--region` of the aliyun CLI)."),
    "apiParams": ("string", "The request parameters as a JSON object (style json)."),
    "jsonApiParams": ("string", "The request parameters as a JSON string; ignored when apiParams is set."),
}
_REQUIRED = ["product", "apiVersion", "api"]
_FORM_SCHEMA = {
    "type": "object",
    "properties": {
        name: {"type": kind, "description": text, "pattern": NOT_BLANK_RE if name in _REQUIRED else NO_NUL_RE}
        for name, (kind, text) in _FIELDS.items()
    },
    "required": _REQUIRED,
    "additionalProperties": False,  # other fields are ignored
}
_MANDATORY = {
    "product": ("InvalidParam.Product", "Product name is required and cannot be null or empty."),
    "apiVersion": ("InvalidParam.ApiVersion", "API version is required and cannot be null or empty."),
    "api": ("InvalidParam.ApiName", "API name is required and cannot be null or empty."),
}


class GenerateCLICommandResponse(BaseModel):
    requestId: str
    cli: str


def _fields(request: HttpRequest) -> dict[str, Any]:
    """The operation's fields from a form body (the SDK's formData) or a JSON object body."""
    parsed = getattr(request, "_management_json", None)
    if isinstance(parsed, dict):
        return parsed
    return {key: request.POST.get(key) for key in _FIELDS if key in request.POST}


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(f"InvalidParam.{name[:1].upper()}{name[1:]}", f"{name} must be a string.", field=name)
    return value.strip()


def _parameters(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`apiParams` (JSON object, or an object in a JSON body) wins over `jsonApiParams`."""
    for name in ("apiParams", "jsonApiParams"):
        value = fields.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            try:
                value = json_input.loads(value, field=name)
            except JsonInputError as exc:
                raise ApiError(f"InvalidParam.{name[:1].upper()}{name[1:]}", exc.message, field=name) from None
        if not isinstance(value, dict):
            raise ApiError(f"InvalidParam.{name[:1].upper()}{name[1:]}", f"{name} must be a JSON object.", field=name)
        return value
    return {}


def api_call(product: str, version: str, name: str) -> ApiCall:
    """The catalog API as `servers.cli` renders it; 404 NotFound.Product/ApiVersion/Api when absent."""
    pv = product_version_get(product, version)
    key = current_revision_keys([(product, version)]).get((product, version))
    if pv is None or key is None:
        if not product_code_exists(product):
            raise ApiError("NotFound.Product", f"The provided product does not exist: {product}.", 404, field="product")
        raise ApiError("NotFound.ApiVersion", f"Product {product} has no version {version}.", 404, field="apiVersion")
    definition = api_definition(product, version, name)
    if definition is None:
        raise ApiError("NotFound.Api", f"API {name} does not exist in {product} {version}.", 404, field="api")
    header = revision_header(key)
    return ApiCall(
        product=pv.product.code,
        version=version,
        api_name=name,
        style=pv.style,
        api=definition,
        servers=tuple(str(s) for s in header.get("servers") or ()),
        security_schemes=(header.get("components") or {}).get("securitySchemes") or {},
    )


@router.post(
    "/api/cli/makeCode",
    operation_id=OPERATION,
    summary="Generate the CLI command (aliyun or curl) of an API call",
    response={200: GenerateCLICommandResponse, frozenset({400, 401, 403, 404}): ErrorResponse, 500: ErrorResponse},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _FORM_SCHEMA},
                "application/json": {"schema": _FORM_SCHEMA},
            },
        }
    },
)
def generate_cli_command(request: HttpRequest) -> Any:
    fields = _fields(request)
    values = {}
    for name, (code, message) in _MANDATORY.items():
        values[name] = _text(fields, name)
        if not values[name]:
            raise ApiError(code, message, field=name)
    account_id = str(request.auth.account_id)  # type: ignore[attr-defined]
    authorize(request, OPERATION, account_resource(account_id, f"product/{values['product']}"))
    target = api_call(values["product"], values["apiVersion"], values["api"])
    try:
        command = command_for(target, _parameters(fields), region=_text(fields, "regionId") or None)
    except CliError as exc:
        raise ApiError("InvalidParam.ApiParams", str(exc), field="apiParams") from None
    return ok(request, {"cli": command})
