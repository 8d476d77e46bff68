"""What every management API operation shares: request ids, the request gate, authorization, errors.

The gate (`ManagementAuth`, installed as the NinjaAPI's auth) runs before any parameter parsing:
body size limit and framing (query string, form encoding) → authentication → NUL and lone
surrogate checks of every query and form field → JSON parsing through `servers.json_input` (depth,
NaN/Infinity, NUL), so an anonymous caller learns nothing about the content of its input, and
malformed input gets a precise 400 naming the field rather than a framework default or a 500.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import Query
from ninja.errors import HttpError, ValidationError
from ninja.parser import Parser
from ninja.security.base import AuthBase

from oauth import access
from oauth.authentication import Principal, authenticate
from oauth.selectors import decide_for_user
from servers import json_input
from servers.api import audit
from servers.errors import ApiError
from servers.json_input import JsonInputError, check_name, check_text, shown
from servers.schemas import NO_NUL_RE, api_error_from_validation

logger = logging.getLogger("servers.api")

API_VERSION = "2024-11-30"
_BODY_METHODS = ("POST", "PUT", "PATCH")
INTERNAL_ERROR_MESSAGE = "The request has failed due to a temporary failure of the server."


# Query parameters in the OpenAPI document -----------------------------------------------------

_DOC_REQUIRED = "x-declared-required"


def query(description: str = "", *, default: Any = None, required: bool = False, **schema: Any) -> Any:
    """A query parameter with its limits declared in the OpenAPI document only (`minLength`,
    `maximum`, `enum`…, the same as the operation's own checks, which keep their error codes; a
    `None` keyword is left out). A string declares that it holds no NUL unless given a `pattern`.
    `required`: listed as required in the document while the operation itself answers its absence
    (`Missing.*`), as the management API does for every mandatory parameter.

    The keywords go into the `json_schema_extra` dict that ninja's `Query` hands to pydantic
    (tests/servers/test_field_validation.py fails loudly when they stop reaching the document).
    """
    param = Query(default, description=description)
    extra = cast(dict[str, Any], param.json_schema_extra)
    keywords = {"pattern": NO_NUL_RE, **schema} if "enum" not in schema else schema
    extra.update({k: v for k, v in keywords.items() if v is not None})
    if required:
        extra[_DOC_REQUIRED] = True
    return param


def declare_parameter(param: dict[str, Any]) -> None:
    """Finish one parameter of the document: `query(required=True)` lifted to the parameter, and an
    optional parameter's `anyOf [T, null]` made `T` (a query string has no null)."""
    schema = param["schema"]
    if schema.pop(_DOC_REQUIRED, False):
        param["required"] = True
    choices = schema.get("anyOf")
    if isinstance(choices, list) and len(choices) == 2 and {"type": "null"} in choices:
        del schema["anyOf"]
        schema.update(next(c for c in choices if c != {"type": "null"}))


def request_id(request: HttpRequest) -> str:
    """This request's id (upper-case UUID, as Alibaba Cloud's), made on first use."""
    rid = getattr(request, "_management_request_id", None)
    if rid is None:
        rid = str(uuid.uuid4()).upper()
        request._management_request_id = rid  # type: ignore[attr-defined]
    return cast(str, rid)


def _body_bytes(request: HttpRequest) -> bytes:
    limit = settings.MAX_API_BODY_BYTES
    too_large = ApiError(
        "InvalidParam.BodyTooLarge", f"The request body is larger than {limit} bytes; send a smaller request."
    )
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        raise ApiError("InvalidParam.ContentLength", "Content-Length must be a number of bytes.") from None
    if declared > limit:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > limit:
        raise too_large
    return body


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _read_query_and_form(request: HttpRequest) -> None:
    """Parse the query string and a form body now, so their framing faults are 400s and not 500s later."""
    fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    try:
        request.GET  # noqa: B018 - parsed (and counted) here
        if request.method in _BODY_METHODS and request.content_type in _FORM_TYPES:
            request.POST  # noqa: B018
    except TooManyFieldsSent:
        raise ApiError(
            "InvalidParam.Body", f"The request has more than {fields} query or form fields; send fewer."
        ) from None
    except TooManyFilesSent:
        raise ApiError("InvalidParam.Body", "The request has too many uploaded files; none are expected.") from None
    except RequestDataTooBig:
        limit = settings.MAX_API_BODY_BYTES
        raise ApiError(
            "InvalidParam.BodyTooLarge", f"The request body is larger than {limit} bytes; send a smaller request."
        ) from None
    except MultiPartParserError:
        if not (request.content_params or {}).get("boundary"):
            raise ApiError(
                "InvalidParam.Body",
                "A multipart/form-data body needs a boundary parameter in its Content-Type header.",
            ) from None
        raise ApiError("InvalidParam.Body", "The multipart/form-data body is malformed.") from None


def _refuse(exc: JsonInputError) -> ApiError:
    return ApiError("InvalidParameter", exc.message, field=exc.field)


def _check_query_and_form(request: HttpRequest) -> None:
    """NUL characters and lone surrogates are refused in every query and form field, names included."""
    sources = [("", request.GET)]
    if request.method in _BODY_METHODS and request.content_type in _FORM_TYPES:
        sources.append(("body.", request.POST))
    try:
        for prefix, fields in sources:
            for name in fields:
                check_name(name, prefix + shown(name), "parameter name")
                for value in fields.getlist(name):
                    check_text(value, prefix + shown(name))
    except JsonInputError as exc:
        raise _refuse(exc) from None


def _parse_json(request: HttpRequest, body: bytes) -> None:
    if request.method not in _BODY_METHODS or not body:
        return
    if request.content_type in _FORM_TYPES:
        return  # formData operations (GenerateCLICommand) read request.POST
    try:
        data = json_input.loads(body.decode("utf-8"), field="body")
    except UnicodeDecodeError:
        raise ApiError("InvalidParam.Body", "The request body is not UTF-8 encoded JSON.") from None
    except JsonInputError as exc:
        if exc.field == "body":  # the body as a whole: syntax or depth
            raise ApiError("InvalidParam.Body", f"The request body {exc.problem}.") from None
        raise _refuse(exc) from None
    if not isinstance(data, dict):
        raise ApiError("InvalidParam.Body", f"The request body must be a JSON object, not {type(data).__name__}.")
    request._management_json = data  # type: ignore[attr-defined]


class ManagementAuth(AuthBase):
    """Authenticates every management call (AccessKey signature, OAuth bearer token or console session)."""

    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = "Authorization"
    openapi_description = (
        "`ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=…,Signature=…` (Alibaba Cloud signature V3, "
        "as the official SDK sends it), or `Bearer <OAuth access token>` with scope openapiexplorer or "
        "/acs/mcp-server, or a console session cookie plus X-CSRFToken for unsafe methods."
    )

    def __call__(self, request: HttpRequest) -> Principal:
        request_id(request)
        audit.start(request)
        version = request.headers.get("x-acs-version")
        if version and version != API_VERSION:
            raise ApiError("InvalidVersion", f"Specified API version {version} is not supported; use {API_VERSION}.")
        body = _body_bytes(request)
        _read_query_and_form(request)
        principal = authenticate(request)
        request.auth = principal  # type: ignore[attr-defined]  # refusals from here on are audited
        _check_query_and_form(request)
        _parse_json(request, body)
        return principal


class ManagementParser(Parser):
    """Hands django-ninja the body the gate already parsed (and checked)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        parsed = getattr(request, "_management_json", None)
        if parsed is None:
            _parse_json(request, request.body)
            parsed = getattr(request, "_management_json", None)
        if parsed is None and request.body:  # a form body sent to an operation that takes JSON
            raise ApiError("InvalidParam.Body", "The request body must be a JSON object (application/json).")
        return cast(dict[str, Any], parsed or {})


def authorize(
    request: HttpRequest, operation: str, resource: str, *, product: str = access.MANAGEMENT_PRODUCT
) -> Principal:
    """The caller, if its policies allow `<product>:<operation>` on `resource`; else 403 Forbidden.RAM.

    The decision is `oauth.access.decide`, the one the console and the MCP runtime make too; a
    refusal names the action, the resource and the deciding statement.
    """
    principal = cast(Principal, request.auth)  # type: ignore[attr-defined]
    signed_action = request.headers.get("x-acs-action")
    if signed_action and signed_action != operation:
        raise ApiError(
            "InvalidAction.Mismatch",
            f"x-acs-action {signed_action} does not match {request.method} {request.path}, which is {operation}.",
        )
    decision = decide_for_user(
        principal.user,
        access.management_action(operation, product),
        resource,
        access.request_context(source_ip=principal.source_ip),
    )
    if not decision.allowed:
        raise ApiError("Forbidden.RAM", decision.message, 403)
    return principal


server_resource = access.server_resource
account_resource = access.account_resource


def principal_account(request: HttpRequest) -> str:
    """The account id of the caller the gate authenticated (`request.auth`)."""
    return str(cast(Principal, request.auth).account_id)  # type: ignore[attr-defined]


# Rendering errors ------------------------------------------------------------------------------


def error_response(request: HttpRequest, error: ApiError) -> HttpResponse:
    rid = request_id(request)
    response = HttpResponse(
        json.dumps(error.to_dict(rid)), status=error.status, content_type="application/json; charset=utf-8"
    )
    response["x-acs-request-id"] = rid
    for name, value in error.headers.items():
        response[name] = value
    return response


def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(request, exc)


def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0]
    loc = tuple(first.get("loc", ()))
    skip = 2 if loc[:1] == ("body",) and len(loc) >= 2 else 1
    return error_response(request, api_error_from_validation(exc.errors, skip=skip))


_GENERIC_CODES = {400: "InvalidParameter", 401: "MissingAuthorization", 403: "Forbidden", 404: "NotFound"}


def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, ApiError):
        return error_response(request, exc.__cause__)
    code = _GENERIC_CODES.get(exc.status_code, "InvalidRequest")
    return error_response(request, ApiError(code, str(exc), exc.status_code))


def on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(request, ApiError("NotFound", "The requested resource does not exist.", 404))


def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    rid = request_id(request)
    logger.exception("management API request %s %s %s failed", rid, request.method, request.path)
    return error_response(request, ApiError("InternalServerError", INTERNAL_ERROR_MESSAGE, 500))


def ok(request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
    """A success body with this request's id first."""
    return {"requestId": request_id(request), **body}
