"""Catalog operations of the management API (OpenAPIExplorer 2024-11-30): ListApiDefinitions,
GetApiDefinition, GetProductEndpoints, GetErrorCodeSolutions.

The catalog is shared by every account, so there is no ownership check; each operation is still a
policy action `openapiexplorer:<Operation>` on `acs:openapiexplorer::<accountId>:product/<code>`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router
from pydantic import BaseModel, ConfigDict

from servers.api.common import account_resource, authorize, ok, principal_account, query
from servers.catalog.selectors import (
    api_definition,
    api_definitions,
    error_code_solutions,
    product_code_exists,
    product_endpoints,
    product_version_get,
)
from servers.errors import ApiError
from servers.schemas import NOT_BLANK_RE, ErrorResponse

router = Router(tags=["Catalog"])
ERRORS = {frozenset({400, 401, 403, 404}): ErrorResponse, 500: ErrorResponse}
LANGUAGES = ("zh-CN", "en-US")
PRODUCT = query("Product code, e.g. Ecs", default=..., pattern=NOT_BLANK_RE)
API_VERSION = query("Product version, e.g. 2014-05-26", default=..., pattern=NOT_BLANK_RE)


class OpenMetadata(BaseModel):
    """Free-form metadata (the contract declares an object without fixed properties)."""

    model_config = ConfigDict(extra="allow")
    requestId: str


class Solution(BaseModel):
    content: str
    solutionId: str
    product: str
    productName: str
    errorCode: str
    errorMessage: str


class ErrorCodeSolutionsResponse(BaseModel):
    requestId: str
    solutions: list[Solution]


def _authorize(request: HttpRequest, operation: str, product: str | None) -> None:
    authorize(request, operation, account_resource(principal_account(request), f"product/{product or '*'}"))


# The same codes the API gives when a parameter is absent (servers.schemas.api_error_from_validation).
_CODE_NAMES = {"product": "PopCode", "apiVersion": "PopVersion"}


def _mandatory(value: str | None, name: str) -> str:
    if value is None or not value.strip():
        code = _CODE_NAMES.get(name, name[:1].upper() + name[1:])
        raise ApiError(f"Missing.{code}", f"{name} is mandatory for this action.", field=name)
    return value


def _product_version(product: str, api_version: str) -> None:
    if product_version_get(product, api_version) is None:
        if not product_code_exists(product):
            raise ApiError("NotFound.Product", f"The provided product does not exist: {product}.", 404, field="product")
        raise ApiError(
            "NotFound.ApiVersion", f"Product {product} has no version {api_version}.", 404, field="apiVersion"
        )


@router.get(
    "/api/definitions",
    operation_id="ListApiDefinitions",
    summary="The metadata of a product version (all its APIs)",
    response={200: OpenMetadata, **ERRORS},
)
def list_api_definitions(request: HttpRequest, product: str = PRODUCT, apiVersion: str = API_VERSION) -> Any:
    product, version = _mandatory(product, "product"), _mandatory(apiVersion, "apiVersion")
    _authorize(request, "ListApiDefinitions", product)
    document = api_definitions(product, version)
    if document is None:
        _product_version(product, version)
        raise ApiError("NotFound.ApiVersion", f"Product {product} {version} has no imported revision.", 404)
    return ok(request, document)


@router.get(
    "/api/definition",
    operation_id="GetApiDefinition",
    summary="The metadata of one API",
    response={200: OpenMetadata, **ERRORS},
)
def get_api_definition(
    request: HttpRequest,
    product: str = PRODUCT,
    apiVersion: str = API_VERSION,
    api: str = query("API name, e.g. DescribeRegions", default=..., pattern=NOT_BLANK_RE),  # noqa: B008
) -> Any:
    product, version = _mandatory(product, "product"), _mandatory(apiVersion, "apiVersion")
    name = _mandatory(api, "api")
    _authorize(request, "GetApiDefinition", product)
    definition = api_definition(product, version, name)
    if definition is None:
        _product_version(product, version)
        raise ApiError("NotFound.Api", f"API {name} does not exist in {product} {version}.", 404, field="api")
    return ok(request, {"name": name, **definition})


@router.get(
    "/product/endpoints",
    operation_id="GetProductEndpoints",
    summary="The region endpoints of a product",
    response={200: OpenMetadata, **ERRORS},
)
def get_product_endpoints(request: HttpRequest, product: str = PRODUCT) -> Any:
    product = _mandatory(product, "product")
    _authorize(request, "GetProductEndpoints", product)
    endpoints = product_endpoints(product)
    if endpoints is None:
        raise ApiError("NotFound.Product", f"The provided product does not exist: {product}.", 404, field="product")
    return ok(request, endpoints)


@router.get(
    "/getErrorCodeSolutions",
    operation_id="GetErrorCodeSolutions",
    summary="The documented meaning of an error code",
    response={200: ErrorCodeSolutionsResponse, **ERRORS},
)
def get_error_code_solutions(
    request: HttpRequest,
    errorCode: str = query("The error code, e.g. InvalidParameter", default=..., pattern=NOT_BLANK_RE),  # noqa: B008
    errorMessage: str | None = query("The error's message, to narrow the solutions"),  # noqa: B008
    product: str | None = query("Product code"),  # noqa: B008
    acceptLanguage: str | None = query("zh-CN or en-US (default)", enum=list(LANGUAGES)),  # noqa: B008
) -> Any:
    if not errorCode.strip():
        raise ApiError(
            "InvalidParam.ErrorCode", "The errorCode should be a string and cannot be empty.", field="errorCode"
        )
    if acceptLanguage is not None and acceptLanguage not in LANGUAGES:
        raise ApiError(
            "InvalidParam.AcceptLanguage", "Accepted language should only be zh-CN or en-US.", field="acceptLanguage"
        )
    _authorize(request, "GetErrorCodeSolutions", product)
    if product and not product_code_exists(product):
        raise ApiError("NotFound.Product", "The provided product does not exist.", 404, field="product")
    solutions = error_code_solutions(
        error_code=errorCode.strip(),
        error_message=errorMessage or None,
        product=product or None,
        accept_language=acceptLanguage or "en-US",
    )
    return ok(request, {"solutions": solutions})
