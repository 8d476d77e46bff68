"""A process-wide cache of compiled servers.

The key is (server id, server version, catalog revision ids): a server change bumps its version,
a re-import creates a new revision, so a stale entry is never returned, only evicted (LRU).
A hit is one dictionary lookup under a lock, so the pre-serialised `tools/list` payload of a
cached server costs microseconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from servers.compiler.server import Catalog, compile_server
from servers.compiler.types import CompiledServer

CacheKey = tuple[str, int, tuple[int, ...]]


def cache_key(server_id: str, server_version: int, revision_ids: Iterable[int]) -> CacheKey:
    return (str(server_id), int(server_version), tuple(sorted(int(r) for r in revision_ids)))


class CompiledCache:
    def __init__(self, maxsize: int = 512) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[CacheKey, CompiledServer] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> CompiledServer | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: CacheKey, value: CompiledServer) -> None:
        with self._lock:
            # Older versions of the same server are useless from now on.
            for old in [k for k in self._items if k[0] == key[0] and k != key]:
                del self._items[old]
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def get_or_compile(self, key: CacheKey, build: Callable[[], CompiledServer]) -> CompiledServer:
        value = self.get(key)
        if value is None:
            value = build()
            self.put(key, value)
        return value

    def invalidate(self, server_id: str) -> None:
        with self._lock:
            for old in [k for k in self._items if k[0] == server_id]:
                del self._items[old]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


compiled_cache = CompiledCache()


def compile_server_cached(
    server: Mapping[str, Any],
    catalog: Catalog,
    *,
    revision_ids: Iterable[int],
    cache: CompiledCache = compiled_cache,
) -> CompiledServer:
    """`compile_server` through the cache; `server` must carry `id` and `version`."""
    key = cache_key(str(server.get("id") or ""), int(server.get("version") or 0), revision_ids)

    def build() -> CompiledServer:
        compiled = compile_server(server, catalog)
        object.__setattr__(compiled, "key", key)
        return compiled

    return cache.get_or_compile(key, build)
