"""Notifications that a server (or the catalog) changed, for every process's runtime caches.

`server_changed` is called by services after commit. The runtime subscribes through
`subscribe()`; with Redis configured the message crosses processes (pub/sub), otherwise it stays
in-process and other processes notice through the short-TTL version check.
"""

from __future__ import annotations

from collections.abc import Callable

_listeners: list[Callable[[str], None]] = []


def subscribe(listener: Callable[[str], None]) -> None:
    _listeners.append(listener)


def server_changed(server_id: str) -> None:
    for listener in list(_listeners):
        listener(server_id)
