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

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# The request the runtime sends (`runtime.build`), rendered: a command and a call cannot disagree.
from runtime.build import BuildError, RequestParts, form_body, request_parts
from servers.compiler.types import ASSUME_ARG, REGION_ARG

ALIBABA_STYLES = frozenset({"RPC", "ROA", "OSS"})
PLACEHOLDER_BASE_URL = "https://API_HOST"
_TOKEN_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


# The arguments cannot be rendered as a command because they make no request (the message names
# the parameter): the builder's own error.
CliError = BuildError


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


def _one_line(value: str) -> str:
    """Header values cannot carry line breaks (they would start another header)."""
    return re.sub(r"[\r\n]+", " ", value)


def _flag(name: str, value: str) -> list[str]:
    # The aliyun CLI reads any argument starting with "-" as an option, even where a value is
    # expected; `--Name=value` binds the value to its option whatever it starts with.
    if value.startswith("-"):
        return [f"--{name}={value}"]
    return [f"--{name}", value]


def _parts(api: ApiLike, args: dict[str, Any], style: str) -> RequestParts:
    """The runtime's request, accepting the API's parameter names too (`GenerateCLICommand`
    callers use them)."""
    return request_parts(style=style, api=dict(api.api), arguments=args, by_name=True)


def _form_text(parts: RequestParts) -> str:
    return form_body(parts.form or []).decode()


# aliyun ------------------------------------------------------------------------------------------


def _aliyun_rpc(api: ApiLike, args: dict[str, Any], region: str | None) -> list[str]:
    parts = _parts(api, args, "RPC")
    argv = ["aliyun", api.product.lower(), api.api_name]
    for key, text in [*parts.query, *(parts.form or [])]:  # the CLI sends every flag as it must
        argv += _flag(key, text)
    for name, value in parts.headers:
        argv += ["--header", _one_line(f"{name}={value}")]
    if region:
        argv += _flag("region", region)
    return argv


def _aliyun_roa(api: ApiLike, args: dict[str, Any], region: str | None) -> list[str]:
    parts = _parts(api, args, "ROA")
    argv = ["aliyun", api.product.lower(), parts.method, parts.path]
    for key, text in parts.query:  # unknown flags of a ROA call are query parameters for the CLI
        argv += _flag(key, text)
    headers = [*parts.headers, *([("Cookie", "; ".join(parts.cookies))] if parts.cookies else [])]
    for name, value in headers:
        argv += ["--header", _one_line(f"{name}={value}")]
    if parts.form is not None:  # the aliyun CLI sends no multipart bodies: the fields as a form
        argv += ["--header", "Content-Type=application/x-www-form-urlencoded", *_flag("body", _form_text(parts))]
    elif parts.text is not None:
        if not (parts.text.startswith("{") and "json" in parts.content_type):  # the CLI infers JSON for objects only
            argv += ["--header", f"Content-Type={parts.content_type.split(';')[0]}"]
        argv += _flag("body", parts.text)
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
    parts = _parts(api, args, "OpenAPI")
    query = form_body(parts.query).decode()
    url = _base_url(api, base_url) + parts.path + (f"?{query}" if query else "")
    argv = ["curl", "-X", parts.method]
    if re.search(r"[\[\]{}]", url):
        argv.append("--globoff")  # curl would read brackets and braces as URL globs
    argv += [url, *_credential_placeholders(api)]
    for name, value in parts.headers:
        argv += ["-H", _one_line(f"{name}: {value}")]
    if parts.cookies:
        argv += ["-b", "; ".join(parts.cookies)]
    if parts.multipart:
        for key, value in parts.form or []:
            argv += ["--form-string", f"{key}={value}"]  # --form-string never reads files
    elif parts.form is not None:
        argv += ["-H", f"Content-Type: {parts.content_type}", "--data-raw", _form_text(parts)]
    elif parts.text is not None:
        argv += ["-H", f"Content-Type: {parts.content_type}", "--data-raw", parts.text]
    return argv
