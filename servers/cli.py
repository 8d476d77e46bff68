"""Command lines for API calls (SPEC §5.4), pure: no Django, no I/O.

`command_for(api, arguments, region=None)` renders one call as a shell command, every value
quoted with `shlex.quote`, so whatever a caller puts in a value (`$(…)`, backticks, quotes,
newlines) stays one literal argument:

- Alibaba Cloud RPC: `aliyun <product> <ApiName> --Param value …`. `repeatList`/`flat` values are
  flattened the way the aliyun CLI passes them through (`--InstanceId.1 a --InstanceId.2 b`,
  `--Tag.1.Key k`), `json` values become one JSON string, `simple` lists a comma list.
- Alibaba Cloud ROA (and OSS): `aliyun <product> <METHOD> <path> [--Query value] [--header K=V]
  [--body '<json or form>']`; path parameters are substituted (URL-encoded), unknown flags are
  query parameters for the CLI.
- OpenAPI: `curl -X <METHOD> '<url>' [-H 'Name: value'] [-b 'cookies'] [--data-raw '<body>']`,
  path, query, header and cookie parameters serialised per `style`/`explode`; credentials are
  never included, only environment-variable placeholders for the document's security schemes.

`x_mcp_region_id` (or `region=`) becomes `--region` for aliyun. Values that start with `-` use the
`--Name=value` form so the CLI cannot read them as options; curl values always sit inside the URL
or after an option that takes them literally (`--data-raw`, `--form-string`), never as `@file`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

# The same scalar, JSON and `Name.1.Key` forms the runtime sends, so a command and a call agree.
from runtime.build import (
    alibaba_pairs,
    flatten,
    openapi_header_value,
    openapi_path_value,
    openapi_query_pairs,
    scalar,
    split_arguments,
)

REGION_ARG = "x_mcp_region_id"
ASSUME_ARG = "x_assume_account_id"
ALIBABA_STYLES = frozenset({"RPC", "ROA", "OSS"})
PLACEHOLDER_BASE_URL = "https://API_HOST"
_TOKEN_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class CliError(ValueError):
    """The arguments cannot be rendered as a command; the message names the parameter."""


class ApiLike(Protocol):
    """What a command needs: a compiler `ToolBinding` has all of it, `ApiCall` too."""

    @property
    def product(self) -> str: ...
    @property
    def api_name(self) -> str: ...
    @property
    def style(self) -> str: ...
    @property
    def api(self) -> Mapping[str, Any]: ...
    @property
    def servers(self) -> tuple[str, ...]: ...
    @property
    def security_schemes(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class ApiCall:
    """One catalog API, for callers that have no tool binding (GenerateCLICommand)."""

    product: str
    version: str
    api_name: str
    style: str
    api: Mapping[str, Any]
    servers: tuple[str, ...] = ()
    security_schemes: Mapping[str, Any] = field(default_factory=dict)


class _Shell(str):
    """Text that is already safe shell syntax (a placeholder we wrote ourselves), not re-quoted."""


def command_for(
    api: ApiLike, arguments: Mapping[str, Any] | None, region: str | None = None, *, base_url: str | None = None
) -> str:
    """The shell command performing this call (see the module docstring)."""
    return join(argv_for(api, arguments, region, base_url=base_url))


def join(argv: list[str]) -> str:
    return " ".join(a if isinstance(a, _Shell) else shlex.quote(a) for a in argv)


def argv_for(
    api: ApiLike, arguments: Mapping[str, Any] | None, region: str | None = None, *, base_url: str | None = None
) -> list[str]:
    """The command as an argument vector (what the shell passes to the program)."""
    args = dict(arguments or {})
    given = args.pop(REGION_ARG, None)
    region = region or (str(given) if given else None)
    args.pop(ASSUME_ARG, None)
    style = api.style or "OpenAPI"
    if style == "RPC":
        return _aliyun_rpc(api, args, region)
    if style in ALIBABA_STYLES:
        return _aliyun_roa(api, args, region)
    return _curl(api, args, base_url)


# Values ------------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    """A JSON body (strings too are JSON-encoded, as the runtime sends them)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _one_line(value: str) -> str:
    """Header values cannot carry line breaks (they would start another header)."""
    return re.sub(r"[\r\n]+", " ", value)


def _flag(name: str, value: str) -> list[str]:
    # The aliyun CLI reads any argument starting with "-" as an option, even where a value is
    # expected; `--Name=value` binds the value to its option whatever it starts with.
    if value.startswith("-"):
        return [f"--{name}={value}"]
    return [f"--{name}", value]


# Arguments → parameters --------------------------------------------------------------------------


def _split(api: Mapping[str, Any], arguments: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """The runtime's split of arguments into parameters and body (`runtime.build`), accepting the
    API's parameter names too (`GenerateCLICommand` callers use them); unset (None) values are left
    out, as the runtime leaves them out of the request."""
    values, body = split_arguments(dict(api), dict(arguments), by_name=True)
    return {k: v for k, v in values.items() if v is not None}, body


def _ordered(api: Mapping[str, Any], values: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], Any]]:
    """(parameter, value) in the API's parameter order, for the parameters that have a value."""
    params = [p for p in api.get("parameters") or [] if isinstance(p, Mapping) and p.get("name")]
    return [(p, values[str(p["name"])]) for p in params if p.get("in") != "body" and str(p["name"]) in values]


def _path(api: Mapping[str, Any], rendered: Mapping[str, str]) -> str:
    path = str(api.get("path") or "/")
    for name, value in rendered.items():
        path = path.replace("{" + name + "}", value)
    missing = re.search(r"\{([^{}/]+)\}", path)
    if missing:
        raise CliError(f"Missing path parameter {missing.group(1)}")
    return path if path.startswith("/") else "/" + path


def _method(api: Mapping[str, Any], rpc: bool = False) -> str:
    methods = [str(m).upper() for m in api.get("methods") or ["get"]]
    if rpc:
        return "POST" if "POST" in methods else methods[0]
    return methods[0]


def _form(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


# aliyun ------------------------------------------------------------------------------------------


def _aliyun_rpc(api: ApiLike, args: dict[str, Any], region: str | None) -> list[str]:
    argv = ["aliyun", api.product.lower(), api.api_name]
    values, body = _split(api.api, args)
    for param, value in _ordered(api.api, values):
        if param.get("in") == "header":
            argv += ["--header", _one_line(f"{param['name']}={scalar(value)}")]
            continue
        for key, text in alibaba_pairs(dict(param), value):
            argv += _flag(key, text)
    if isinstance(body, Mapping):
        pairs: list[tuple[str, str]] = []
        flatten("", body, pairs)
        for key, text in pairs:
            argv += _flag(key, text)
    if region:
        argv += _flag("region", region)
    return argv


def _aliyun_roa(api: ApiLike, args: dict[str, Any], region: str | None) -> list[str]:
    values, body = _split(api.api, args)
    rendered: dict[str, str] = {}
    options: list[str] = []
    form: list[tuple[str, str]] = []
    for param, value in _ordered(api.api, values):
        location, name = param.get("in"), str(param["name"])
        if location == "path":
            rendered[name] = quote(scalar(value), safe="~")
        elif location == "header":
            options += ["--header", _one_line(f"{name}={scalar(value)}")]
        elif location == "formData":
            form.extend(alibaba_pairs(dict(param), value))
        else:
            for key, text in alibaba_pairs(dict(param), value):
                options += _flag(key, text)
    argv = ["aliyun", api.product.lower(), _method(api.api), _path(api.api, rendered), *options]
    if body is not None:
        text = _json(body)
        if not text.startswith("{"):  # the CLI infers JSON only for objects
            argv += ["--header", "Content-Type=application/json"]
        argv += _flag("body", text)
    elif form:
        argv += ["--header", "Content-Type=application/x-www-form-urlencoded", *_flag("body", _form(form))]
    if region:
        argv += _flag("region", region)
    return argv


# curl --------------------------------------------------------------------------------------------


def _base_url(api: ApiLike, base_url: str | None) -> str:
    candidates = [base_url, *(api.api.get("x-servers") or []), *(api.servers or ())]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip().rstrip("/")
    return PLACEHOLDER_BASE_URL


def _credential_placeholders(api: ApiLike) -> list[str]:
    """Placeholders for the first security requirement the document names (never real secrets)."""
    schemes = api.security_schemes or {}
    for requirement in api.api.get("x-security") or []:
        if not isinstance(requirement, Mapping) or not requirement:
            continue
        out: list[str] = []
        for scheme_name in requirement:
            scheme = schemes.get(scheme_name) or {}
            kind, name = scheme.get("type"), str(scheme.get("name") or "")
            if kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
                out += ["-u", _Shell('"$API_USER:$API_PASSWORD"')]
            elif kind in ("http", "oauth2", "openIdConnect"):
                out += ["-H", _Shell('"Authorization: Bearer $API_TOKEN"')]
            elif kind == "apiKey" and scheme.get("in") == "header" and _TOKEN_NAME.fullmatch(name):
                out += ["-H", _Shell(f'"{name}: $API_KEY"')]
        return out
    return []


def _curl(api: ApiLike, args: dict[str, Any], base_url: str | None) -> list[str]:
    values, body = _split(api.api, args)
    rendered: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    headers: list[str] = []
    cookies: list[str] = []
    form: list[tuple[str, str]] = []
    for param, value in _ordered(api.api, values):
        location, name = param.get("in"), str(param["name"])
        if location == "path":
            rendered[name] = openapi_path_value(dict(param), value)
        elif location == "query":
            query.extend(openapi_query_pairs(dict(param), value))
        elif location == "header":
            headers += ["-H", _one_line(f"{name}: {openapi_header_value(dict(param), value)}")]
        elif location == "cookie":
            cookies.append(f"{quote(name, safe='')}={quote(scalar(value), safe='')}")
        elif location == "formData":
            items = value if isinstance(value, (list, tuple)) else [value]
            form.extend((name, scalar(v)) for v in items)
    url = _base_url(api, base_url) + _path(api.api, rendered)
    if query:
        url += "?" + _form(query)
    argv = ["curl", "-X", _method(api.api)]
    if re.search(r"[\[\]{}]", url):
        argv.append("--globoff")  # curl would read brackets and braces as URL globs
    argv += [url, *_credential_placeholders(api), *headers]
    if cookies:
        argv += ["-b", "; ".join(cookies)]
    argv += _curl_body(api.api, body, form)
    return argv


def _curl_body(api: Mapping[str, Any], body: Any, form: list[tuple[str, str]]) -> list[str]:
    if body is None:
        if not form:
            return []
        return ["-H", "Content-Type: application/x-www-form-urlencoded", "--data-raw", _form(form)]
    body_param = next((p for p in api.get("parameters") or [] if isinstance(p, Mapping) and p.get("in") == "body"), {})
    media = str(body_param.get("x-mediaType") or (api.get("consumes") or ["application/json"])[0])
    if "x-www-form-urlencoded" in media and isinstance(body, Mapping):
        pairs: list[tuple[str, str]] = []
        for key, value in body.items():
            items = value if isinstance(value, (list, tuple)) else [value]
            pairs.extend((str(key), scalar(v)) for v in items)
        return ["-H", f"Content-Type: {media}", "--data-raw", _form(pairs)]
    if "multipart" in media and isinstance(body, Mapping):
        out: list[str] = []
        for key, value in body.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                out += ["--form-string", f"{key}={scalar(item)}"]
        return out
    if media.startswith("text/") and isinstance(body, str):
        return ["-H", f"Content-Type: {media}", "--data-raw", body]
    return ["-H", "Content-Type: application/json", "--data-raw", _json(body)]
