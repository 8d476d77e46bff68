"""System tools (SPEC §5.5): built-in tools a server enables in `systemTools`.

`tools/list` appends the enabled ones after the server's API tools; `tools/call` of one of them
comes here (`runtime.mcp`). Names and descriptions are `servers.system_tools.SYSTEM_TOOLS` (what
ListApiMcpServerSystemTools lists); the input schemas and behaviour are here:

- `FetchRamActionDetails`: for tools of this server (default: all) or `{product, apiName}` pairs,
  the action each needs, whether the caller's policies allow it, and the deciding policy and
  statement (`oauth.access.decide`, same resource and context as a real call).
- `SearchApis`: ranks the APIs of one of the server's product versions (the whole version, not only
  the selected APIs) by relevance to a query (`rank_apis`, token scoring, pure).
- `GetApiDefinition`: one API's catalog definition and the input schema CallApi takes for it.
- `CallApi`: calls any API of the server's product versions through `Executor.call`, so schema
  validation, policy, connection, signing, result mapping and the audit event are exactly a
  tool's. An API that is also a tool of the server runs as that tool (its constants apply).
- `GenerateCLICommand`: the `aliyun …`/`curl …` command of a call (`servers.cli`), nothing sent.
- `LookupEvents`: the caller's own audit events in this account, newest first, filtered by time,
  tool/action and outcome, paged with `nextToken`.

Each call of a system tool needs the caller's policies to allow action `mcp:<Name>` on
`acs:mcp::<accountId>:server/<serverId>` (`oauth.access`; else `Forbidden.RAM`), and is audited as
tool `<Name>`, action `mcp:<Name>` (CallApi's API call is also decided and audited by the executor
under the API's own tool name and action). Catalog reads go through
`runtime.data` and are cached here by catalog revision.
"""

from __future__ import annotations

import base64
import glob
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator

from oauth import access
from runtime import audit, conf, data
from runtime.auth import Principal
from runtime.executor import CallMeta, Executor, validation_message
from runtime.results import ToolError
from runtime.snapshot import ServerSnapshot
from servers import cli
from servers.system_tools import SYSTEM_TOOLS

logger = logging.getLogger(__name__)

_STR = {"type": "string"}
_PRODUCT = {"type": "string", "description": "Product code, one of this server's products (e.g. Ecs)"}
_VERSION = {"type": "string", "description": "Product version; defaults to the version this server uses"}
_API = {"type": "string", "description": "API name, e.g. DescribeInstances"}
_PARAMS = {"type": "object", "description": "The API's arguments, as GetApiDefinition's inputSchema describes them"}
_READ = {"readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}

INPUT_SCHEMAS: dict[str, dict[str, Any]] = {
    "FetchRamActionDetails": {
        "type": "object",
        "properties": {
            "toolNames": {"type": "array", "items": _STR, "description": "Tools of this server (default: all)"},
            "apis": {
                "type": "array",
                "description": "APIs by product and name (e.g. found with SearchApis)",
                "items": {
                    "type": "object",
                    "properties": {"product": _STR, "apiName": _STR},
                    "required": ["product", "apiName"],
                    "additionalProperties": False,
                },
            },
            "regionId": {"type": "string", "description": "Region the calls would run in (default: any)"},
        },
        "additionalProperties": False,
    },
    "SearchApis": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "description": "What the API should do, in a few words"},
            "product": _PRODUCT,
            "apiVersion": _VERSION,
            "maxResults": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    "GetApiDefinition": {
        "type": "object",
        "properties": {"product": _PRODUCT, "apiVersion": _VERSION, "apiName": _API},
        "required": ["product", "apiName"],
        "additionalProperties": False,
    },
    "CallApi": {
        "type": "object",
        "properties": {"product": _PRODUCT, "apiVersion": _VERSION, "apiName": _API, "parameters": _PARAMS},
        "required": ["product", "apiName"],
        "additionalProperties": False,
    },
    "GenerateCLICommand": {
        "type": "object",
        "properties": {
            "product": _PRODUCT,
            "apiVersion": _VERSION,
            "apiName": _API,
            "parameters": _PARAMS,
            "regionId": {"type": "string", "description": "Region (`--region` of the aliyun CLI)"},
        },
        "required": ["product", "apiName"],
        "additionalProperties": False,
    },
    "LookupEvents": {
        "type": "object",
        "properties": {
            "startTime": {"type": "string", "description": "Events at or after this time (ISO 8601)"},
            "endTime": {"type": "string", "description": "Events before this time (ISO 8601)"},
            "tool": {"type": "string", "description": "Only this tool name or policy action"},
            "outcome": {"type": "string", "enum": ["success", "error", "denied", "invalid"]},
            "maxResults": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            "nextToken": {"type": "string", "description": "From the previous page"},
        },
        "additionalProperties": False,
    },
}
IMPLEMENTED: tuple[str, ...] = tuple(t.name for t in SYSTEM_TOOLS if t.name in INPUT_SCHEMAS)
_DESCRIPTIONS = {t.name: t.description for t in SYSTEM_TOOLS}
_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in INPUT_SCHEMAS.items()}
_LISTED: dict[tuple[str, ...], list[dict[str, Any]]] = {}


def enabled(snap: ServerSnapshot) -> tuple[str, ...]:
    chosen = set(getattr(snap.record, "system_tools", ()) or ())
    return tuple(name for name in IMPLEMENTED if name in chosen)


def is_enabled(snap: ServerSnapshot, name: str) -> bool:
    return name in enabled(snap)


def listed(snap: ServerSnapshot) -> list[dict[str, Any]]:
    """The `tools/list` entries of the server's system tools (built once per combination)."""
    names = enabled(snap)
    if not names:
        return []
    found = _LISTED.get(names)
    if found is None:
        found = _LISTED[names] = [
            {
                "name": name,
                "description": _DESCRIPTIONS[name],
                "inputSchema": INPUT_SCHEMAS[name],
                "annotations": _READ if name != "CallApi" else {"readOnlyHint": False, "openWorldHint": True},
            }
            for name in names
        ]
    return found


# Calling -----------------------------------------------------------------------------------------


@dataclass
class Done:
    """A system tool's result; a failure is a raised `ToolError` instead."""

    result: dict[str, Any]
    audited: bool = False  # the executor already wrote the event


@dataclass
class Call:
    executor: Executor
    snap: ServerSnapshot
    principal: Principal
    meta: CallMeta
    arguments: dict[str, Any] = field(default_factory=dict)


def text_result(payload: Any) -> dict[str, Any]:
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return {"content": [{"type": "text", "text": text}], "isError": False}


async def call(
    executor: Executor,
    snap: ServerSnapshot,
    name: str,
    arguments: dict[str, Any] | None,
    principal: Principal,
    meta: CallMeta,
) -> dict[str, Any]:
    """Run one system tool; failures are `isError` results, never exceptions."""
    started = time.monotonic()
    args = dict(arguments or {})
    errors = sorted(_VALIDATORS[name].iter_errors(args), key=lambda e: list(e.absolute_path))
    error: ToolError | None = None
    try:
        if errors:
            raise ToolError("InvalidParameter", validation_message(errors), outcome="invalid")
        decision = principal.decide(
            access.system_tool_action(name),
            access.system_tool_resource(snap.record.account_id, snap.server_id),
            access.request_context(source_ip=meta.source_ip, server_id=snap.server_id, client_id=principal.client_id),
        )
        if not decision.allowed:
            raise ToolError("Forbidden.RAM", decision.message, outcome="denied")
        done = await HANDLERS[name](Call(executor, snap, principal, meta, args))
    except ToolError as failure:
        error = failure
    except Exception:
        logger.exception("system tool %s on server %s failed (request %s)", name, snap.server_id, meta.request_id)
        error = ToolError("InternalError", f"Internal error; request id {meta.request_id}")
    if error is not None:
        done = Done(error.result())
    if not done.audited:
        executor.audit_tool_call(
            snap,
            principal,
            meta,
            tool=name,
            action=f"mcp:{name}",
            arguments=audit.redact(args),
            outcome=error.outcome if error else "success",
            error_code=error.code if error else "",
            error_message=error.message if error else "",
            started=started,
        )
    return done.result


# Products and APIs of the server ---------------------------------------------------------------------


def server_products(snap: ServerSnapshot) -> list[tuple[str, str]]:
    """(product, version) pairs the server selects APIs from, in its order."""
    pairs: dict[tuple[str, str], None] = {}
    for info in getattr(snap.compiled, "api_infos", ()) or ():
        pairs[(str(info["product"]), str(info["apiVersion"]))] = None
    return list(pairs)


def pick_version(snap: ServerSnapshot, product: str | None, version: str | None) -> tuple[str, str]:
    pairs = server_products(snap)
    if not pairs:
        raise ToolError("NotFound.Product", "This MCP server exposes no product", outcome="invalid")
    if not product:
        if len({p for p, _ in pairs}) > 1:
            names = ", ".join(sorted({p for p, _ in pairs}))
            raise ToolError("Missing.Product", f"Name the product: this server exposes {names}", outcome="invalid")
        product = pairs[0][0]
    matches = [(p, v) for p, v in pairs if p.lower() == product.lower() and (not version or v == version)]
    if not matches:
        available = ", ".join(f"{p} {v}" for p, v in pairs)
        raise ToolError(
            "NotFound.Product",
            f"{product} {version or ''} is not exposed by this server; it exposes {available}",
            outcome="invalid",
        )
    return sorted(matches, key=lambda pv: pv[1], reverse=True)[0]


class _Lru(OrderedDict[Any, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value


_revisions: _Lru = _Lru(256)  # (product, version) → (revision key, fetched at)
_indexes: _Lru = _Lru(32)  # revision key → ranked-search entries
_compiled: _Lru = _Lru(512)  # (server, version, product, version, api, revision) → (binding, snapshot)


def on_event(topic: str, key: str) -> None:
    """A product version got a new current revision: its cached revision key is stale."""
    if topic == "catalog":
        product, _, version = key.partition("/")
        _revisions.pop((product, version), None)


async def revision_of(product: str, version: str) -> tuple[int, str]:
    hit = _revisions.get((product, version))
    if hit is not None and time.monotonic() - hit[1] < float(conf.get("MCP_SNAPSHOT_CHECK_SECONDS")):
        return hit[0]  # type: ignore[no-any-return]
    key = await data.current_revision_key(product, version)
    if key is None:
        raise ToolError("NotFound.ApiVersion", f"{product} {version} is not in the catalog", outcome="error")
    _revisions.put((product, version), (key, time.monotonic()))
    return key


async def binding_for(c: Call, product: str, version: str, api_name: str) -> tuple[Any, ServerSnapshot]:
    """The binding of one API and the snapshot to execute it with: the server's own tool when it is
    one, else a one-API compilation of it with the server's language (cached per catalog revision)."""
    for binding in (getattr(c.snap.compiled, "bindings", None) or {}).values():
        if (binding.product, binding.version, binding.api_name) == (product, version, api_name):
            return binding, c.snap
    revision = await revision_of(product, version)
    key = (c.snap.server_id, c.snap.version, product, version, api_name, revision)
    hit = _compiled.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    settings = {
        "id": c.snap.server_id,
        "name": c.snap.record.name,
        "language": c.snap.record.language,
        "apis": [{"product": product, "apiVersion": version, "selectors": [glob.escape(api_name)]}],
    }
    compiled = await data.compile_settings(settings)
    bindings = list((compiled.bindings or {}).values())
    if not bindings:
        raise ToolError("NotFound.Api", f"API {api_name} does not exist in {product} {version}", outcome="invalid")
    virtual = ServerSnapshot(
        record=c.snap.record,
        compiled=compiled,
        tools=[dict(t) for t in compiled.tools],
        tool_names=frozenset(t["name"] for t in compiled.tools),
        prompts=[],
        checked_at=time.monotonic(),
    )
    return _compiled.put(key, (bindings[0], virtual))  # type: ignore[no-any-return]


def tool_of(binding: Any, snap: ServerSnapshot) -> dict[str, Any]:
    return next((t for t in snap.tools if t.get("name") == binding.tool_name), {})


# Search ------------------------------------------------------------------------------------------

# Acronym plurals (VPCs), acronyms before a word (HTTPServer), words, acronyms, numbers, CJK characters.
_WORD = re.compile(r"[A-Z]{2,}s(?![a-z])|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[\u3400-\u9fff]")
_STOP = frozenset({"a", "an", "the", "of", "to", "for", "in", "on", "and", "or", "by", "with", "my", "me", "i"})


def tokens(text: str) -> list[str]:
    """Lower-case word tokens: camelCase split, plural `s` dropped, CJK characters one by one."""
    out = []
    for word in _WORD.findall(text or ""):
        word = word.lower()
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        if word not in _STOP:
            out.append(word)
    return out


@dataclass(frozen=True)
class IndexedApi:
    name: str
    summary: str
    method: str
    path: str
    name_tokens: frozenset[str]
    summary_tokens: frozenset[str]
    description_tokens: frozenset[str]


def index_entries(rows: Iterable[dict[str, str]]) -> list[IndexedApi]:
    return [
        IndexedApi(
            name=r["name"],
            summary=r.get("summary", ""),
            method=r.get("method", ""),
            path=r.get("path", ""),
            name_tokens=frozenset(tokens(r["name"])),
            summary_tokens=frozenset(tokens(r.get("summary", ""))),
            description_tokens=frozenset(tokens(r.get("description", "")[:2000])),
        )
        for r in rows
    ]


def _hit(query: str, words: frozenset[str]) -> bool:
    return query in words or (len(query) >= 3 and any(w.startswith(query) for w in words))


def rank_apis(entries: list[IndexedApi], query: str, limit: int) -> list[tuple[float, IndexedApi]]:
    """APIs by relevance to `query`: name words weigh most, then summary, then description; an
    exact or contained API name wins outright. Only APIs matching something are returned."""
    wanted = tokens(query)
    squashed = re.sub(r"[^0-9a-z]", "", query.lower())
    scored = []
    for entry in entries:
        score = 0.0
        for word in wanted:
            if word in entry.name_tokens:
                score += 5
            elif _hit(word, entry.name_tokens):
                score += 3
            if _hit(word, entry.summary_tokens):
                score += 2
            if _hit(word, entry.description_tokens):
                score += 1
        name = entry.name.lower()
        if squashed and squashed == name:
            score += 20
        elif len(squashed) >= 4 and squashed in name:
            score += 8
        if score > 0:
            scored.append((score, entry))
    scored.sort(key=lambda item: (-item[0], item[1].name))
    return scored[:limit]


# Handlers ----------------------------------------------------------------------------------------


async def fetch_ram_action_details(c: Call) -> Done:
    bindings = getattr(c.snap.compiled, "bindings", None) or {}
    names = c.arguments.get("toolNames")
    apis = c.arguments.get("apis") or []
    if names is None and not apis:
        names = list(bindings)
    region = str(c.arguments.get("regionId") or "")
    account_id = c.snap.record.account_id
    context = access.request_context(
        source_ip=c.meta.source_ip, server_id=c.snap.server_id, client_id=c.principal.client_id
    )
    targets: list[tuple[dict[str, Any], str, str]] = []
    for name in names or []:
        binding = bindings.get(name)
        if binding is None:
            raise ToolError(
                "NotFound.Tool",
                f"{name} is not an API tool of this server (system tools need the action mcp:<Name>)",
                outcome="invalid",
            )
        targets.append(({"tool": name}, binding.product, binding.api_name))
    for item in apis:
        targets.append(({}, str(item["product"]), str(item["apiName"])))
    details, missing = [], []
    for label, product, api_name in targets:
        action = access.tool_action(product, api_name)
        resource = access.tool_resource(product, region, account_id)
        decision = c.principal.decide(action, resource, context)
        if decision.reason == "implicit-deny":
            missing.append(action)
        details.append(
            {
                **label,
                "product": product,
                "apiName": api_name,
                "action": action,
                "resource": resource,
                "allowed": decision.allowed,
                "decision": decision.reason,
                "policyName": decision.policy_name,
                "statement": decision.statement,
            }
        )
    payload: dict[str, Any] = {
        "user": c.principal.record.username,
        "accountId": account_id,
        "allowed": all(d["allowed"] for d in details),
        "details": details,
    }
    if missing:
        statement = {"Effect": "Allow", "Action": sorted(set(missing)), "Resource": "*"}
        payload["policyToAllowMissing"] = {"Version": "1", "Statement": [statement]}
    return Done(text_result(payload))


async def search_apis(c: Call) -> Done:
    product, version = pick_version(c.snap, c.arguments.get("product"), c.arguments.get("apiVersion"))
    revision = await revision_of(product, version)
    entries = _indexes.get(revision)
    if entries is None:
        entries = _indexes.put(revision, index_entries(await data.api_index(revision)))
    limit = int(c.arguments.get("maxResults") or 10)
    tools = {
        b.api_name: name
        for name, b in (getattr(c.snap.compiled, "bindings", None) or {}).items()
        if (b.product, b.version) == (product, version)
    }
    ranked = rank_apis(entries, str(c.arguments["query"]), limit)
    items = []
    for score, entry in ranked:
        item: dict[str, Any] = {"apiName": entry.name, "summary": entry.summary, "method": entry.method}
        item.update(path=entry.path, score=score)
        if entry.name in tools:
            item["tool"] = tools[entry.name]
        items.append(item)
    payload = {"product": product, "apiVersion": version, "totalApis": len(entries), "apis": items}
    return Done(text_result(payload))


async def get_api_definition(c: Call) -> Done:
    product, version = pick_version(c.snap, c.arguments.get("product"), c.arguments.get("apiVersion"))
    binding, snap = await binding_for(c, product, version, str(c.arguments["apiName"]))
    payload = {
        "product": product,
        "apiVersion": version,
        "apiName": binding.api_name,
        "action": binding.action,
        "inputSchema": tool_of(binding, snap).get("inputSchema") or {},
        "definition": binding.api,
    }
    if snap is c.snap:
        payload["tool"] = binding.tool_name
    return Done(text_result(payload))


async def call_api(c: Call) -> Done:
    product, version = pick_version(c.snap, c.arguments.get("product"), c.arguments.get("apiVersion"))
    binding, snap = await binding_for(c, product, version, str(c.arguments["apiName"]))
    parameters = dict(c.arguments.get("parameters") or {})
    result = await c.executor.call(snap, binding.tool_name, parameters, c.principal, c.meta)
    return Done(result, audited=True)


async def generate_cli_command(c: Call) -> Done:
    product, version = pick_version(c.snap, c.arguments.get("product"), c.arguments.get("apiVersion"))
    binding, _ = await binding_for(c, product, version, str(c.arguments["apiName"]))
    parameters = {**dict(c.arguments.get("parameters") or {}), **dict(binding.constants or {})}
    try:
        command = cli.command_for(binding, parameters, region=c.arguments.get("regionId") or None)
    except cli.CliError as exc:  # arguments that make no request
        raise ToolError("InvalidParameter", str(exc), outcome="invalid") from None
    return Done(text_result(command))


def _time(value: Any, name: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ToolError(
            "InvalidParameter", f'Invalid argument "{name}": not an ISO 8601 time', outcome="invalid"
        ) from None
    if parsed.tzinfo is None:
        raise ToolError("InvalidParameter", f'Invalid argument "{name}": give a time zone (e.g. Z)', outcome="invalid")
    return parsed


def _before(token: Any) -> int | None:
    if not token:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(str(token).encode()).decode().partition(":")
        if kind != "events":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise ToolError(
            "InvalidParameter", 'Invalid argument "nextToken": use the one a previous page returned', outcome="invalid"
        ) from None


async def lookup_events(c: Call) -> Done:
    limit = int(c.arguments.get("maxResults") or 20)
    rows = await data.audit_events(
        account_id=c.principal.account_id,
        user_id=c.principal.user_id,
        start=_time(c.arguments.get("startTime"), "startTime"),
        end=_time(c.arguments.get("endTime"), "endTime"),
        tool=str(c.arguments.get("tool") or ""),
        outcome=str(c.arguments.get("outcome") or ""),
        limit=limit,
        before_id=_before(c.arguments.get("nextToken")),
    )
    more = len(rows) > limit
    rows = rows[:limit]
    payload: dict[str, Any] = {"events": [{k: v for k, v in r.items() if k != "id"} for r in rows]}
    if more:
        payload["nextToken"] = base64.urlsafe_b64encode(f"events:{rows[-1]['id']}".encode()).decode()
    return Done(text_result(payload))


HANDLERS: dict[str, Callable[[Call], Awaitable[Done]]] = {
    "FetchRamActionDetails": fetch_ram_action_details,
    "SearchApis": search_apis,
    "GetApiDefinition": get_api_definition,
    "CallApi": call_api,
    "GenerateCLICommand": generate_cli_command,
    "LookupEvents": lookup_events,
}
