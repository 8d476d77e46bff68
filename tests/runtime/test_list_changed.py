"""Connected sessions hear about configuration changes (tools/prompts list_changed)."""

from __future__ import annotations

import anyio
import pytest


def _method(message):
    return getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)


def _change(server):
    from django.db.models import F

    from servers import events
    from servers.models import McpServer

    McpServer.objects.filter(pk=server.pk).update(
        instructions="New instructions",
        apis=[{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeRegions", "DescribeZones"]}],
        version=F("version") + 1,
    )
    events.server_changed(server.id)


@pytest.fixture
def ecs_server(make_server, alice, specs_dir):
    from servers.catalog.services import import_alibaba_file

    import_alibaba_file(specs_dir / "alibaba" / "ecs-2014-05-26.json")
    return make_server(
        alice.account, "watched", [{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeRegions"]}]
    )


def _watch(url, token, server, mcp, transport):
    seen: list[str] = []

    async def on_message(message):
        method = _method(message)
        if method:
            seen.append(method)

    async def main():
        async with mcp.client(url, token, transport=transport, message_handler=on_message) as client:
            before = await client.list_tools()
            assert [t.name for t in before.tools] == ["Ecs-20140526-DescribeRegions"]
            # The client opens its standalone stream in the background, at a moment the test cannot
            # observe: announce the change until both notifications arrive, within a deadline.
            wanted = {"notifications/tools/list_changed", "notifications/prompts/list_changed"}
            with anyio.fail_after(10):
                while not wanted <= set(seen):
                    await anyio.to_thread.run_sync(_change, server)
                    with anyio.move_on_after(0.5):
                        while not wanted <= set(seen):
                            await anyio.sleep(0.02)
            after = await client.list_tools()
            assert sorted(t.name for t in after.tools) == ["Ecs-20140526-DescribeRegions", "Ecs-20140526-DescribeZones"]

    anyio.run(main)


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_sessions_receive_list_changed(live_server_url, mcp, ecs_server, alice, pat, transport):
    endpoint = "/mcp" if transport == "http" else "/sse"
    _watch(live_server_url + mcp.path(ecs_server) + endpoint, pat(alice), ecs_server, mcp, transport)


@pytest.fixture
def with_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    return redis_url


@pytest.mark.services
def test_list_changed_travels_through_redis(with_redis, live_server_url, mcp, ecs_server, alice, pat, monkeypatch):
    """With Redis configured, the change is published there and the runtime hears it from Redis."""
    from servers import events

    delivered: list[tuple[str, str]] = []
    original = events.dispatch

    def spy(topic, key):
        delivered.append((topic, key))
        original(topic, key)

    monkeypatch.setattr(events, "dispatch", spy)
    monkeypatch.setattr(events, "_redis_client", None)
    _watch(live_server_url + mcp.path(ecs_server) + "/mcp", pat(alice), ecs_server, mcp, "http")
    assert ("server", ecs_server.id) in delivered  # called by the Redis subscriber, not the publisher
