"""Caps on open sessions and streams per user and per server (runtime.limits), over real HTTP.

The counts are the live server's own (it runs in this process: `runtime.asgi.current()`), so the
tests also see them return to zero when a session is deleted or expires and when a stream closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import httpx
import pytest

from tests.runtime.test_mcp_auth import INIT

pytestmark = pytest.mark.django_db(transaction=True)

ACCEPT = "application/json, text/event-stream"


@pytest.fixture
def servers(make_server, alice, specs_dir):
    from servers.catalog.services import import_alibaba_file

    import_alibaba_file(specs_dir / "alibaba" / "ecs-2014-05-26.json")
    apis = [{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeRegions"]}]
    return make_server(alice.account, "first", apis), make_server(alice.account, "second", apis)


def headers(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": ACCEPT, **extra}


def initialize(url: str, token: str) -> httpx.Response:
    return httpx.post(url, json=INIT, headers=headers(token), timeout=30)


def runtime():
    from runtime import asgi

    found = asgi.current()
    assert found is not None
    return found


def eventually(check: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def assert_limit(response: httpx.Response, setting: str, cap: int, *words: str) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == -32000
    assert f"{setting}={cap}" in body["error"]["message"]
    assert body["error"]["data"] == {"limit": setting, "max": cap, "scope": "process"}
    for word in words:
        assert word in body["error"]["message"]


def test_sessions_per_user_are_capped_and_freed_by_delete(live_server_url, mcp, servers, alice, bob, pat, settings):
    settings.MCP_MAX_SESSIONS_PER_USER = 2
    first, second = servers
    url = live_server_url + mcp.path(first) + "/mcp"
    alice_token, bob_token = pat(alice), pat(bob)

    async def main() -> None:
        # One session by the official client, one raw; the user's cap counts across servers.
        async with mcp.client(url, alice_token) as client:
            await client.list_tools()
            other = live_server_url + mcp.path(second) + "/mcp"
            opened = await anyio.to_thread.run_sync(initialize, other, alice_token)
            assert opened.status_code == 200
            assert runtime().sessions.open_for_user(alice.pk) == 2
            refused = await anyio.to_thread.run_sync(initialize, url, alice_token)
            assert_limit(refused, "MCP_MAX_SESSIONS_PER_USER", 2, "you have 2 open MCP sessions", "DELETE")
            assert (await anyio.to_thread.run_sync(initialize, url, bob_token)).status_code == 200  # per user
            # Ending the raw session (DELETE) frees its place.
            ended = httpx.delete(
                other, headers=headers(alice_token, **{"mcp-session-id": opened.headers["mcp-session-id"]})
            )
            assert ended.status_code == 200
            await anyio.to_thread.run_sync(
                eventually, lambda: runtime().sessions.open_for_user(alice.pk) == 1, "the deleted session to be freed"
            )
            assert (await anyio.to_thread.run_sync(initialize, url, alice_token)).status_code == 200

    anyio.run(main)
    # The official client ended its session on exit.
    eventually(lambda: runtime().sessions.open_for_user(alice.pk) == 1, "the client's session to be freed")


def test_sessions_per_server_are_capped(live_server_url, mcp, servers, alice, bob, pat, settings):
    settings.MCP_MAX_SESSIONS_PER_SERVER = 2
    first, second = servers
    url = live_server_url + mcp.path(first) + "/mcp"
    assert initialize(url, pat(alice)).status_code == 200
    assert initialize(url, pat(alice)).status_code == 200
    assert_limit(initialize(url, pat(bob)), "MCP_MAX_SESSIONS_PER_SERVER", 2, "this MCP server has 2 open sessions")
    assert initialize(live_server_url + mcp.path(second) + "/mcp", pat(bob)).status_code == 200
    assert runtime().sessions.open_for_server(first.id) == 2


def test_idle_sessions_expire_and_free_their_place(live_server_url, mcp, servers, alice, pat, settings):
    settings.MCP_SESSION_IDLE_SECONDS = 1
    settings.MCP_MAX_SESSIONS_PER_USER = 1
    url = live_server_url + mcp.path(servers[0]) + "/mcp"
    token = pat(alice)
    opened = initialize(url, token)
    assert opened.status_code == 200
    assert_limit(initialize(url, token), "MCP_MAX_SESSIONS_PER_USER", 1, "MCP_SESSION_IDLE_SECONDS=1")
    eventually(lambda: runtime().sessions.open_for_user(alice.pk) == 0, "the idle session to expire")
    gone = httpx.post(
        url,
        json={"jsonrpc": "2.0", "id": 2, "method": "ping"},
        headers=headers(token, **{"mcp-session-id": opened.headers["mcp-session-id"]}),
    )
    assert gone.status_code == 404
    assert initialize(url, token).status_code == 200


def test_requests_that_open_no_session_hold_no_place(live_server_url, mcp, servers, alice, pat, settings):
    settings.MCP_MAX_SESSIONS_PER_USER = 1
    url = live_server_url + mcp.path(servers[0]) + "/mcp"
    token = pat(alice)
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    assert httpx.post(url, json=ping, headers=headers(token)).status_code == 400  # no session id
    refused = httpx.post(url, json=INIT, headers=headers(token, Accept="application/json"))
    assert refused.status_code == 406  # the SDK refuses the opening request: no session
    modern = httpx.post(url, json=INIT, headers=headers(token, **{"mcp-protocol-version": "2026-07-28"}))
    assert "mcp-session-id" not in modern.headers  # the 2026-07-28 protocol has no sessions
    assert runtime().sessions.open_for_user(alice.pk) == 0
    assert initialize(url, token).status_code == 200  # the place is still free
    assert runtime().sessions.open_for_user(alice.pk) == 1


async def open_stream(client: httpx.AsyncClient, url: str, token: str) -> httpx.Response:
    request = client.build_request("GET", url, headers=headers(token, Accept="text/event-stream"))
    return await client.send(request, stream=True)


def test_streams_per_user_are_capped_across_get_and_sse(live_server_url, mcp, servers, alice, bob, pat, settings):
    settings.MCP_STATELESS_HTTP = True
    settings.MCP_MAX_STREAMS_PER_USER = 2
    base = live_server_url + mcp.path(servers[0])
    alice_token, bob_token = pat(alice), pat(bob)

    async def main() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            get = await open_stream(client, base + "/mcp", alice_token)
            sse = await open_stream(client, base + "/sse", alice_token)
            assert (get.status_code, sse.status_code) == (200, 200)
            assert runtime().streams.open_for_user(alice.pk) == 2
            for path in ("/mcp", "/sse"):
                refused = await open_stream(client, base + path, alice_token)
                await refused.aread()
                assert_limit(refused, "MCP_MAX_STREAMS_PER_USER", 2, "you have 2 open MCP streams")
            other = await open_stream(client, base + "/mcp", bob_token)  # per user
            assert other.status_code == 200
            await other.aclose()
            await get.aclose()
            await anyio.to_thread.run_sync(
                eventually, lambda: runtime().streams.open_for_user(alice.pk) == 1, "the closed stream to be freed"
            )
            again = await open_stream(client, base + "/mcp", alice_token)
            assert again.status_code == 200
            await again.aclose()
            await sse.aclose()

    anyio.run(main)
    eventually(lambda: runtime().streams.open_for_server(servers[0].id) == 0, "every stream to be freed")


def test_a_session_stream_and_listen_streams_count(live_server_url, mcp, servers, alice, bob, pat, settings):
    settings.MCP_MAX_STREAMS_PER_SERVER = 1
    url = live_server_url + mcp.path(servers[0]) + "/mcp"
    alice_token, bob_token = pat(alice), pat(bob)

    async def main() -> None:
        async with mcp.client(url, alice_token) as client:  # its session opens the server's one GET stream
            await client.list_tools()
            await anyio.to_thread.run_sync(
                eventually, lambda: runtime().streams.open_for_server(servers[0].id) == 1, "the session's GET stream"
            )
            async with httpx.AsyncClient(timeout=30) as raw:
                refused = await open_stream(raw, url, bob_token)
                await refused.aread()
                assert_limit(refused, "MCP_MAX_STREAMS_PER_SERVER", 1, "this MCP server has 1 open streams")
        await anyio.to_thread.run_sync(
            eventually, lambda: runtime().streams.open_for_server(servers[0].id) == 0, "the session's stream to close"
        )
        # A 2026-07-28 subscriptions/listen stream is a stream too.
        async with mcp.client(url, alice_token, mode="2026-07-28") as client, client.listen(tools_list_changed=True):
            assert runtime().streams.open_for_server(servers[0].id) == 1
            async with httpx.AsyncClient(timeout=30) as raw:
                refused = await open_stream(raw, url, bob_token)
                await refused.aread()
                assert refused.status_code == 429

    anyio.run(main)


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("MCP_SESSION_IDLE_SECONDS", 0, "at least 1"),
        ("MCP_MAX_REQUEST_BYTES", -1, "at least 1"),
        ("MCP_DATA_THREADS", 0, "at least 1"),
        ("MCP_MAX_SESSIONS_PER_USER", -1, "at least 0"),
    ],
)
def test_settings_out_of_range_are_refused(settings, name, value, words):
    from config.env import ImproperlyConfiguredEnv
    from runtime import conf

    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfiguredEnv, match=f"{name} must be {words}, got {value}"):
        conf.get(name)
    setattr(settings, name, 0 if words == "at least 0" else 5)
    assert conf.get(name) == (0 if words == "at least 0" else 5)
