"""Compiled servers, cached per process by server id and version.

A snapshot is what a server needs at call time: its record (account, name, instructions…), the
compiler's `CompiledServer` (tools payload, bindings, prompts) and a precompiled JSON Schema
validator per tool. It is built once per server version, off the event loop, on a cache miss.

Freshness: `server` events (Redis pub/sub across processes when configured) drop an entry at
once; besides, an entry older than `MCP_SNAPSHOT_CHECK_SECONDS` asks `compiled_for_server` again
(a cache hit there is two small queries) and rebuilds only when the server or the catalog
revisions it uses changed, so re-imports show up too. That periodic check runs in the background
(when the cache is given a `spawn`, as the runtime does): requests keep the current snapshot
meanwhile instead of all waiting for the database (which, on SQLite, may be busy writing audit
events). A load that raced with an invalidation is discarded rather than cached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

from runtime import conf, data

logger = logging.getLogger(__name__)


@dataclass
class ServerSnapshot:
    record: data.ServerRecord
    compiled: Any  # servers.compiler.types.CompiledServer
    tools: list[dict[str, Any]]
    tool_names: frozenset[str]
    prompts: list[dict[str, Any]]
    checked_at: float
    _validators: dict[str, Validator] = field(default_factory=dict)

    @property
    def server_id(self) -> str:
        return self.record.id

    @property
    def version(self) -> int:
        return self.record.version

    def binding(self, tool_name: str) -> Any | None:
        bindings = getattr(self.compiled, "bindings", None) or {}
        return bindings.get(tool_name)

    def validator(self, tool_name: str) -> Validator | None:
        """The tool's input validator, compiled on first use and kept with the snapshot."""
        found = self._validators.get(tool_name)
        if found is None:
            schema = next((t.get("inputSchema") for t in self.tools if t.get("name") == tool_name), None)
            if schema is None:
                return None
            found = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
            self._validators[tool_name] = found
        return found

    def prompt(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.prompts if p.get("name") == name), None)


def _build(record: data.ServerRecord, compiled: Any) -> ServerSnapshot:
    tools = [dict(t) for t in getattr(compiled, "tools", ()) or ()]
    prompts = [dict(p) for p in getattr(compiled, "prompts", ()) or ()]
    snap = ServerSnapshot(
        record=record,
        compiled=compiled,
        tools=tools,
        tool_names=frozenset(t["name"] for t in tools),
        prompts=prompts,
        checked_at=time.monotonic(),
    )
    for tool in tools:  # precompile now, off the hot path of the first call
        try:
            snap.validator(tool["name"])
        except Exception:  # a schema the validator refuses must not take the whole server down
            logger.exception("input schema of tool %s of server %s does not compile", tool["name"], record.id)
    return snap


class SnapshotCache:
    def __init__(self, spawn: Callable[..., Any] | None = None) -> None:
        self._items: dict[str, ServerSnapshot] = {}
        self._locks: dict[str, anyio.Lock] = {}
        self._generations: dict[str, int] = {}
        self._refreshing: set[str] = set()
        self._spawn = spawn  # runs a background refresh (a task group's start_soon)

    @staticmethod
    def check_interval() -> float:
        return float(conf.get("MCP_SNAPSHOT_CHECK_SECONDS"))

    def invalidate(self, server_id: str) -> None:
        self._items.pop(server_id, None)
        self._generations[server_id] = self._generations.get(server_id, 0) + 1

    def clear(self) -> None:
        for server_id in list(self._items):
            self.invalidate(server_id)

    def peek(self, server_id: str) -> ServerSnapshot | None:
        return self._items.get(server_id)

    async def get(self, server_id: str) -> ServerSnapshot | None:
        snap = self._items.get(server_id)
        if snap is not None and time.monotonic() - snap.checked_at < self.check_interval():
            return snap
        if snap is not None and self._spawn is not None:
            if server_id in self._refreshing:
                return snap
            self._refreshing.add(server_id)
            try:
                self._spawn(self._refresh, server_id)
                return snap  # the check runs in the background; this snapshot is still the current one
            except RuntimeError:  # no background tasks any more (shutting down): check inline
                self._refreshing.discard(server_id)
        return await self._load(server_id)

    async def _refresh(self, server_id: str) -> None:
        try:
            await self._load(server_id)
        except Exception:
            logger.exception("checking server %s for changes failed; will retry", server_id)
        finally:
            self._refreshing.discard(server_id)

    async def _load(self, server_id: str) -> ServerSnapshot | None:
        lock = self._locks.setdefault(server_id, anyio.Lock())
        async with lock:
            snap = self._items.get(server_id)
            if snap is not None and time.monotonic() - snap.checked_at < self.check_interval():
                return snap
            generation = self._generations.get(server_id, 0)
            loaded = await data.compiled_server(server_id)
            current = generation == self._generations.get(server_id, 0)  # no invalidation meanwhile
            if loaded is None:
                if current:
                    self._items.pop(server_id, None)
                return None
            record, compiled = loaded
            if snap is not None and compiled is snap.compiled and record == snap.record:
                if current:
                    snap.checked_at = time.monotonic()  # unchanged: keep the precompiled validators
                return snap
            snap = _build(*loaded)
            if current:
                self._items[server_id] = snap
            return snap
