"""Change notifications for every process's runtime caches.

Topics: `server` (a server's configuration changed; the key is its id), `token` (a credential was
revoked or changed; the key is the token's SHA-256), `user` (a user's policies or account
changed; the key is the user id), `connection` (a connection was saved or deleted; the key is
its id) and `network` (one of an account's networks changed; the key is the account id).

Writers call `server_changed` / `token_changed` / `user_changed` / `connection_changed` /
`network_changed` after commit. With `settings.REDIS_URL` the message is published on a Redis
channel and every process (this one included) hears it through its subscriber (`listen_redis`,
run by the MCP runtime's lifespan); without Redis it is delivered to this process's listeners
directly, and other processes notice through the runtime's short-TTL version checks.

The `role` topic (an account's roles, their trusted accounts or policies changed; the key is the
account id) is published by `role_changed`, and the `catalog` topic (a product version has a new
current revision; the key is `product/version`) by `catalog_changed`.

Listeners are called on the publishing thread (or the subscriber's event loop) and must be quick
and thread-safe; the runtime's listener only hands the key to its event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL = "mcp-console:events"
TOPICS = ("server", "token", "user", "connection", "network", "role", "catalog")

_listeners: list[Callable[[str], None]] = []  # server topic, kept for the original API
_topic_listeners: list[Callable[[str, str], None]] = []
_redis_client: Any = None


def subscribe(listener: Callable[[str], None]) -> None:
    """Call `listener(server_id)` whenever a server changes."""
    _listeners.append(listener)


def unsubscribe(listener: Callable[[str], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def subscribe_all(listener: Callable[[str, str], None]) -> None:
    """Call `listener(topic, key)` for every event."""
    _topic_listeners.append(listener)


def unsubscribe_all(listener: Callable[[str, str], None]) -> None:
    if listener in _topic_listeners:
        _topic_listeners.remove(listener)


def dispatch(topic: str, key: str) -> None:
    """Deliver an event to this process's listeners (a listener that raises is logged and skipped)."""
    targets: list[Callable[..., None]] = list(_topic_listeners)
    for listener in targets:
        try:
            listener(topic, key)
        except Exception:
            logger.exception("event listener failed for %s %s", topic, key)
    if topic == "server":
        for server_listener in list(_listeners):
            try:
                server_listener(key)
            except Exception:
                logger.exception("server_changed listener failed for %s", key)


def _redis() -> Any:
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    return _redis_client


def publish(topic: str, key: str) -> None:
    if topic not in TOPICS:
        raise ValueError(f"unknown event topic {topic!r}")
    if settings.REDIS_URL:
        try:
            _redis().publish(CHANNEL, json.dumps({"topic": topic, "key": key}))
            return
        except Exception:
            # Never fail the write that caused the event; this process at least hears it.
            logger.exception("could not publish %s %s to Redis; delivering in-process only", topic, key)
    dispatch(topic, key)


def server_changed(server_id: str) -> None:
    publish("server", server_id)


def token_changed(token_hash: str) -> None:
    publish("token", token_hash)


def user_changed(user_id: str | int) -> None:
    publish("user", str(user_id))


def connection_changed(connection_id: str | int) -> None:
    publish("connection", str(connection_id))


def network_changed(account_id: str) -> None:
    publish("network", account_id)


def role_changed(account_id: str) -> None:
    """One of an account's roles (its trusted accounts or policies) changed; the key is the account id."""
    publish("role", account_id)


async def listen_redis(url: str, ready: Callable[[], None] | None = None) -> None:
    """Receive events published by any process and dispatch them here; runs until cancelled.

    Reconnects after a lost connection; `ready` is called once the first subscription is active.
    """
    import anyio
    import redis.asyncio as aioredis

    delay = 0.5
    while True:
        client = aioredis.Redis.from_url(url)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(CHANNEL)
                if ready is not None:
                    ready()
                    ready = None
                delay = 0.5
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        event = json.loads(message["data"])
                        dispatch(str(event["topic"]), str(event["key"]))
                    except (ValueError, KeyError, TypeError):
                        logger.warning("ignoring malformed event %r", message.get("data"))
        except Exception:
            logger.warning("Redis event subscription lost; retrying in %.1fs", delay, exc_info=True)
            await anyio.sleep(delay)
            delay = min(delay * 2, 10)
        finally:
            await client.aclose()


def catalog_changed(product: str, version: str) -> None:
    publish("catalog", f"{product}/{version}")
