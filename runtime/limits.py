"""Caps on what one user, and one server, may hold open in this process: sessions and streams.

Streamable HTTP sessions and open streams live in the process that opened them (the SDK's
session manager keeps them in memory; `docs/runtime.md`), so they are counted where they live:
per process. With N web processes a user may hold up to N times a cap in all; with sticky routing
(which stateful sessions need anyway) a user's sessions land in one process.

- A **session** is a stateful Streamable HTTP session, counted from the `initialize` that opened
  it until it ends (DELETE, idle expiry after `MCP_SESSION_IDLE_SECONDS`, the server being
  deleted, shutdown).
- A **stream** is a long-lived response: a GET on `/mcp` (a session's notification stream, or a
  stateless one), a 2026-07-28 `subscriptions/listen` POST, or a legacy `/sse` connection; counted
  while the response is open.

One more than a cap is refused with HTTP 429 and a JSON-RPC error naming the setting.
A cap of 0 means no cap.
"""

from __future__ import annotations

from collections import Counter

from runtime import conf, edge

_PER_USER = {
    "sessions": (
        "Too many open sessions: you have {n} open MCP sessions in this server process, the most "
        "allowed per user ({setting}={max}). End sessions you no longer use (HTTP DELETE with their "
        "Mcp-Session-Id); idle ones expire after MCP_SESSION_IDLE_SECONDS={idle}s"
    ),
    "streams": (
        "Too many open streams: you have {n} open MCP streams (GET or SSE) in this server process, the "
        "most allowed per user ({setting}={max}). Close streams you no longer read"
    ),
}
_PER_SERVER = {
    "sessions": (
        "Too many open sessions: this MCP server has {n} open sessions in this server process, the most "
        "allowed ({setting}={max}). Try again later"
    ),
    "streams": (
        "Too many open streams: this MCP server has {n} open streams (GET or SSE) in this server "
        "process, the most allowed ({setting}={max}). Try again later"
    ),
}


class Slot:
    """One open session or stream, counted until `release` (which may be called more than once)."""

    __slots__ = ("_caps", "user_id", "server_id", "bound", "_released")

    def __init__(self, caps: Caps, user_id: int, server_id: str) -> None:
        self._caps = caps
        self.user_id = user_id
        self.server_id = server_id
        self.bound = False  # a session slot handed to the session it opened
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._caps._drop(self)


class Caps:
    """Open sessions (or streams) per user and per server in this process, with their caps."""

    def __init__(self, what: str, user_setting: str, server_setting: str) -> None:
        self.what = what
        self.user_setting = user_setting
        self.server_setting = server_setting
        self._open: Counter[tuple[str, int | str]] = Counter()  # ("user", id) and ("server", id)

    def open_for_user(self, user_id: int) -> int:
        return self._open[("user", user_id)]

    def open_for_server(self, server_id: str) -> int:
        return self._open[("server", server_id)]

    def take(self, user_id: int, server_id: str) -> Slot:
        """Count one more, or raise `edge.Rejected` (429) when the user or the server is at its cap."""
        user, server = ("user", user_id), ("server", server_id)
        for key, setting, message in (
            (user, self.user_setting, _PER_USER[self.what]),
            (server, self.server_setting, _PER_SERVER[self.what]),
        ):
            cap = int(conf.get(setting))
            if cap > 0 and self._open[key] >= cap:
                idle = int(conf.get("MCP_SESSION_IDLE_SECONDS"))
                text = message.format(n=self._open[key], setting=setting, max=cap, idle=idle)
                raise edge.Rejected(429, edge.LIMIT_REACHED, text, {"limit": setting, "max": cap, "scope": "process"})
        self._open[user] += 1
        self._open[server] += 1
        return Slot(self, user_id, server_id)

    def _drop(self, slot: Slot) -> None:
        for key in (("user", slot.user_id), ("server", slot.server_id)):
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]
