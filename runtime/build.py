"""Building upstream HTTP requests from a tool call (pure: no Django, no I/O).

Input is one API in the catalog's normalised (Alibaba metadata) shape: `parameters[{name, in, style,
explode, schema}]`, `path`, `methods`, `consumes`, and the style of its product:

- `RPC` (Alibaba): every `query` parameter is a query pair, `formData` ones a form body;
  `repeatList` / `flat` objects and arrays are flattened to `Name.1.Key=…`, map-typed values use
  `#len#key` keys (alibabacloud-openapi-util's `map_to_flat_style`), `json` becomes one JSON
  string, `simple` a comma list. The action and version travel in the V3 signature headers.
- `ROA` (Alibaba): path parameters substituted, query as above, the `body` parameter a JSON body.
- `OpenAPI`: OpenAPI 3 parameter serialisation (`style`/`explode` for path, query, header and
  cookie parameters) and JSON, form or multipart request bodies.

Arguments arrive as the tool's input: top-level parameters by name and, for an object body,
the body's properties by name (or `body.X` keys from constant parameters).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from runtime.signing import HttpRequest, encode


class BuildError(ValueError):
    """The arguments cannot be turned into a request; the message names the parameter."""


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return to_json(value)
    if value is None:
        return ""
    return str(value)


def to_json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# Alibaba flattening ------------------------------------------------------------------------------


def _is_map(schema: dict[str, Any] | None) -> bool:
    schema = schema or {}
    return bool(schema.get("additionalProperties")) and not schema.get("properties")


def flat_style(value: Any, schema: dict[str, Any] | None) -> Any:
    """Rewrite map keys to `#len#key` (map_to_flat_style), guided by the schema."""
    schema = schema or {}
    if isinstance(value, list):
        return [flat_style(v, schema.get("items")) for v in value]
    if isinstance(value, dict):
        if _is_map(schema):
            inner = schema.get("additionalProperties")
            return {
                f"#{len(k)}#{k}": flat_style(v, inner if isinstance(inner, dict) else None) for k, v in value.items()
            }
        props = schema.get("properties") or {}
        return {k: flat_style(v, props.get(k)) for k, v in value.items()}
    return value


def flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    """`Name.1.Key=value` flattening (alibabacloud-openapi-util `query`/`_object_handler`)."""
    if value is None:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value, start=1):
            flatten(f"{prefix}.{i}", v, out)
    else:
        out.append((prefix, scalar(value)))


def alibaba_pairs(param: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    """Query/form pairs for one Alibaba parameter according to its `style`."""
    name, style, schema = param["name"], param.get("style"), param.get("schema") or {}
    out: list[tuple[str, str]] = []
    if style in ("repeatList", "flat"):
        flatten(name, flat_style(value, schema), out)
    elif style == "json":
        out.append((name, to_json(value)))
    elif style == "simple" and isinstance(value, list):
        out.append((name, ",".join(scalar(v) for v in value)))
    elif style == "spaceDelimited" and isinstance(value, list):
        out.append((name, " ".join(scalar(v) for v in value)))
    elif style == "pipeDelimited" and isinstance(value, list):
        out.append((name, "|".join(scalar(v) for v in value)))
    elif isinstance(value, (dict, list)) and style is None:
        flatten(name, value, out)
    else:
        out.append((name, scalar(value)))
    return out


# OpenAPI serialisation ---------------------------------------------------------------------------


def openapi_query_pairs(param: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    name = param["name"]
    style, explode = _oas_style(param, "form")
    if style == "deepObject" and isinstance(value, dict):
        out: list[tuple[str, str]] = []

        def walk(prefix: str, v: Any) -> None:
            if isinstance(v, dict):
                for k, inner in v.items():
                    walk(f"{prefix}[{k}]", inner)
            elif isinstance(v, list):
                for inner in v:
                    walk(f"{prefix}[]", inner)
            else:
                out.append((prefix, scalar(v)))

        walk(name, value)
        return out
    if isinstance(value, list):
        if style == "form" and explode:
            return [(name, scalar(v)) for v in value]
        sep = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
        return [(name, sep.join(scalar(v) for v in value))]
    if isinstance(value, dict):
        if style == "form" and explode:
            return [(k, scalar(v)) for k, v in value.items()]
        return [(name, ",".join(f"{k},{scalar(v)}" for k, v in value.items()))]
    return [(name, scalar(value))]


def _path_value(value: Any, style: str, explode: bool, name: str) -> str:
    def enc(v: Any) -> str:
        return quote(scalar(v), safe="")

    if isinstance(value, list):
        items = [enc(v) for v in value]
        if style == "label":
            return "." + ("." if explode else ",").join(items)
        if style == "matrix":
            return "".join(f";{name}={i}" for i in items) if explode else f";{name}=" + ",".join(items)
        return ",".join(items)
    if isinstance(value, dict):
        if explode:
            items = [f"{quote(str(k), safe='')}={enc(v)}" for k, v in value.items()]
        else:
            items = [f"{quote(str(k), safe='')},{enc(v)}" for k, v in value.items()]
        joined = ("," if style != "label" or not explode else ".").join(items)
        if style == "label":
            return "." + joined
        if style == "matrix":
            return (";" + ";".join(items)) if explode else f";{name}=" + joined
        return joined
    if style == "label":
        return "." + enc(value)
    if style == "matrix":
        return f";{name}={enc(value)}"
    return enc(value)


def openapi_path_value(param: dict[str, Any], value: Any) -> str:
    """A path parameter's value, serialised by its OpenAPI style (`simple`, `label`, `matrix`)."""
    style, explode = _oas_style(param, "simple")
    return _path_value(value, style, explode, str(param["name"]))


def header_text(name: str, value: str) -> str:
    """A header parameter's value as sent: printable ASCII (HTTP carries header values as bytes),
    without leading or trailing spaces (HTTP strips them, so the value would not arrive as given)."""
    if not value.isascii() or any(ch < " " or ch == "\x7f" for ch in value):
        raise BuildError(f"Header parameter {name} must be printable ASCII text")
    if value != value.strip(" "):
        raise BuildError(f"Header parameter {name} must not start or end with spaces")
    return value


def openapi_header_value(param: dict[str, Any], value: Any) -> str:
    """A header parameter's value, serialised by its OpenAPI style (`simple`)."""
    return _header_value(value, _oas_style(param, "simple")[1])


def _header_value(value: Any, explode: bool) -> str:
    if isinstance(value, list):
        return ",".join(scalar(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={scalar(v)}" if explode else f"{k},{scalar(v)}" for k, v in value.items())
    return scalar(value)


# Bodies ------------------------------------------------------------------------------------------


def form_body(pairs: Iterable[tuple[str, str]]) -> bytes:
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs).encode()


def multipart_body(fields: Iterable[tuple[str, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields
    ]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _field_pairs(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """Form or multipart fields: a list value is one field per item."""
    return [(str(k), scalar(i)) for k, v in fields.items() for i in (v if isinstance(v, (list, tuple)) else [v])]


def _pick_content_type(consumes: list[str]) -> str:
    ranked = sorted(
        consumes or ["application/json"],
        key=lambda c: (
            0
            if c.split(";")[0].strip().endswith("json")
            else 1
            if "x-www-form-urlencoded" in c
            else 2
            if "multipart" in c
            else 3
        ),
    )
    return ranked[0]


# The builder -------------------------------------------------------------------------------------


def _body_param(params: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((p for p in params if p.get("in") == "body"), None)


def arg_name(param: dict[str, Any]) -> str:
    """The tool argument that carries a parameter (`x-argName` when the catalog renamed it)."""
    return str(param.get("x-argName") or param["name"])


def split_arguments(
    api: dict[str, Any], arguments: dict[str, Any], *, by_name: bool = False
) -> tuple[dict[str, Any], Any]:
    """(parameter name → value for non-body parameters, body value or None).

    An object body is assembled from its properties given at top level or as `body.X`; a body
    given whole under its argument name wins. With `by_name` (the CLI's `GenerateCLICommand`, whose
    callers name the API's parameters) a parameter's API name is accepted as well as its tool
    argument name, which wins when both are given.
    """
    params = api.get("parameters") or []
    fields = [p for p in params if p.get("in") != "body"]
    by_arg = {arg_name(p): str(p["name"]) for p in fields}
    known = set(by_arg)
    values: dict[str, Any] = {}
    if by_name:  # an API name counts unless it is some parameter's tool argument name
        names = {str(p["name"]) for p in fields}
        known |= names
        values.update((name, arguments[name]) for name in names if name in arguments and name not in by_arg)
    values.update((name, arguments[arg]) for arg, name in by_arg.items() if arg in arguments)
    body_param = _body_param(params)
    if body_param is None:
        return values, None
    body_arg = arg_name(body_param)
    keys = [body_arg, body_param["name"]] if by_name else [body_arg]
    whole = next((arguments[k] for k in keys if k in arguments), None)
    if whole is not None and not isinstance(whole, dict):
        return values, whole
    body: dict[str, Any] = dict(whole or {})
    props = (body_param.get("schema") or {}).get("properties") or {}
    for key, value in arguments.items():
        if key.startswith(body_arg + "."):
            body[key[len(body_arg) + 1 :]] = value
        elif key.startswith("body."):
            body[key[5:]] = value
        elif key in props and key not in known and key != body_arg:
            body[key] = value
    return values, (body if body or whole is not None else None)


def _oas_style(param: dict[str, Any], default: str) -> tuple[str, bool]:
    style = str(param.get("x-style") or default)
    explode = param.get("x-explode", param.get("explode", style == "form"))
    return style, bool(explode)


@dataclass
class RequestParts:
    """One call's request before it is encoded: what `build_request` sends and `servers.cli`
    renders as a command, so the two cannot disagree.

    Header parameter values are kept as given: `build_request` refuses what HTTP cannot carry
    (`header_text`), a command writes them on one line. A body is `form` (the fields of an
    `x-www-form-urlencoded` or, by `content_type`, multipart body) or `text` (JSON or text)."""

    method: str
    path: str  # path parameters substituted, URL-encoded; "/" for RPC
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    cookies: list[str] = field(default_factory=list)  # `name=value`, the value URL-encoded
    form: list[tuple[str, str]] | None = None
    text: str | None = None
    content_type: str = ""

    @property
    def multipart(self) -> bool:
        return self.form is not None and self.content_type.startswith("multipart/")


_FORM = "application/x-www-form-urlencoded"


def request_parts(*, style: str, api: dict[str, Any], arguments: dict[str, Any], by_name: bool = False) -> RequestParts:
    """Split and serialise validated arguments per parameter location (`by_name`: see `split_arguments`)."""
    params = api.get("parameters") or []
    values, body_value = split_arguments(api, arguments, by_name=by_name)
    methods = [m.upper() for m in (api.get("methods") or ["get"])]
    if style == "RPC":
        parts = RequestParts(method="POST" if "POST" in methods else methods[0], path="/")
        form: list[tuple[str, str]] = []
        for p in params:
            name = p["name"]
            if p.get("in") == "body" or values.get(name) is None:
                continue
            if p.get("in") == "header":
                parts.headers.append((name, scalar(values[name])))
            else:
                (form if p.get("in") == "formData" else parts.query).extend(alibaba_pairs(p, values[name]))
        if isinstance(body_value, dict):  # an RPC body is form fields, flattened like the query
            flatten("", body_value, form)
        elif body_value is not None:
            form.extend(alibaba_pairs(_body_param(params) or {"name": "body"}, body_value))
        if form:
            parts.form, parts.content_type = form, _FORM
        return parts
    if style not in ("ROA", "OpenAPI"):
        raise BuildError(f"APIs of style {style} cannot be called")
    parts = RequestParts(method=methods[0], path=str(api.get("path") or "/"))
    form_fields: list[tuple[str, str]] = []
    for p in params:
        name, location = p["name"], p.get("in")
        if location == "body" or values.get(name) is None:
            continue
        value = values[name]
        if location == "path":
            rendered = openapi_path_value(p, value) if style == "OpenAPI" else quote(scalar(value), safe="~")
            parts.path = parts.path.replace("{" + name + "}", rendered)
        elif location == "query":
            parts.query.extend(openapi_query_pairs(p, value) if style == "OpenAPI" else alibaba_pairs(p, value))
        elif location == "header":
            parts.headers.append((name, openapi_header_value(p, value)))
        elif location == "cookie":
            parts.cookies.append(f"{name}={quote(scalar(value), safe='')}")
        elif location == "formData":
            form_fields.extend(alibaba_pairs(p, value) if style == "ROA" else _field_pairs({name: value}))
    missing = [seg for seg in parts.path.split("/") if seg.startswith("{") and seg.endswith("}")]
    if missing:
        raise BuildError(f"Missing path parameter {missing[0][1:-1]}")
    if not parts.path.startswith("/"):
        parts.path = "/" + parts.path
    if body_value is not None:
        body_param = _body_param(params)
        media = body_param.get("x-mediaType") if body_param else None
        content_type = str(media) if media else _pick_content_type(api.get("consumes") or [])
        if "x-www-form-urlencoded" in content_type and isinstance(body_value, dict):
            parts.form, parts.content_type = _field_pairs(body_value), _FORM
        elif "multipart" in content_type and isinstance(body_value, dict):
            parts.form, parts.content_type = _field_pairs(body_value), "multipart/form-data"
        elif content_type.startswith("text/") and isinstance(body_value, str):
            parts.text, parts.content_type = body_value, content_type
        else:
            parts.text = to_json_body(body_value)
            parts.content_type = "application/json; charset=utf-8" if style == "ROA" else "application/json"
    elif form_fields:
        parts.form, parts.content_type = form_fields, _FORM
    return parts


def to_json_body(value: Any) -> str:
    """A JSON body: strings too are JSON-encoded."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def build_request(*, style: str, api: dict[str, Any], arguments: dict[str, Any], base_url: str) -> HttpRequest:
    """Turn validated arguments into an unsigned request against `base_url` (scheme://host[/prefix])."""
    parts = request_parts(style=style, api=api, arguments=arguments)
    request = HttpRequest(method=parts.method, url=base_url.rstrip("/") + parts.path, query=parts.query)
    for name, value in parts.headers:
        request.headers[name] = header_text(name, value)
    if parts.cookies:
        request.headers["Cookie"] = "; ".join(parts.cookies)
    if parts.multipart:
        request.body, request.headers["content-type"] = multipart_body(parts.form or [])
    elif parts.form is not None:
        request.body, request.headers["content-type"] = form_body(parts.form), parts.content_type
    elif parts.text is not None:
        request.body, request.headers["content-type"] = parts.text.encode(), parts.content_type
    return request
