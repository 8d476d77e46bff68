"""The internal URL's network whitelist (SPEC §6.3): the pure check, the setting that names
networks, and the refusal on a live server."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from config.env import ImproperlyConfiguredEnv, envnetworks
from runtime.networks import allowed, unknown_entries
from tests.runtime.test_mcp_auth import ACCEPT, INIT


def test_whitelist_entries_are_networks_addresses_or_named_networks():
    named = {"vpc-a": ["10.1.0.0/16", "fd00:1::/32"]}
    assert allowed("203.0.113.9", [], named)  # no whitelist: any address
    assert allowed("10.1.2.3", ["vpc-a"], named)
    assert allowed("fd00:1::7", ["vpc-a"], named)
    assert allowed("::ffff:10.1.2.3", ["vpc-a"], named)  # IPv4 seen through an IPv6 socket
    assert allowed("192.168.1.7", ["192.168.1.7"], named)
    assert allowed("172.16.5.5", ["vpc-a", "172.16.0.0/12"], named)
    assert not allowed("10.2.0.1", ["vpc-a"], named)
    assert not allowed("10.1.2.3", ["vpc-unknown"], named)  # an id nobody named matches nothing
    assert not allowed("not-an-address", ["10.0.0.0/8"], named)
    assert unknown_entries(["vpc-a", "10.0.0.0/8", "vpc-b"], named) == ["vpc-b"]


def test_named_networks_setting_is_read_strictly(monkeypatch):
    monkeypatch.setenv("MCP_NETWORKS", '{"vpc-a": ["10.1.0.0/16"], "office": ["203.0.113.0/24", "2001:db8::/32"]}')
    assert envnetworks("MCP_NETWORKS") == {"vpc-a": ["10.1.0.0/16"], "office": ["203.0.113.0/24", "2001:db8::/32"]}
    for bad, said in [
        ("[1, 2]", "JSON object"),
        ("{not json", "JSON object"),
        ('{"vpc-a": "10.0.0.0/8"}', "list of IP networks"),
        ('{"vpc-a": ["10.0.0.300/8"]}', "not an IP network"),
    ]:
        monkeypatch.setenv("MCP_NETWORKS", bad)
        with pytest.raises(ImproperlyConfiguredEnv, match=said):
            envnetworks("MCP_NETWORKS")


@pytest.fixture
def internal_url(live_server_url, settings):
    """The live server reached under its internal base URL (`localhost`, the public one being 127.0.0.1)."""
    port = urlsplit(live_server_url).port
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{port}"
    settings.INTERNAL_BASE_URL = f"http://localhost:{port}"
    return settings.INTERNAL_BASE_URL


def initialize(url: str, token: str, **headers: str) -> httpx.Response:
    headers = {**ACCEPT, "Authorization": f"Bearer {token}", **headers}
    return httpx.post(url, json=INIT, headers=headers, timeout=30)


def test_the_internal_url_refuses_addresses_outside_the_whitelist(
    live_server_url, internal_url, mcp, make_server, alice, pat, settings
):
    token = pat(alice)
    walled = make_server(alice.account, "walled", [], enable_custom_vpc_whitelist=True, vpc_whitelists=["10.9.0.0/16"])
    refused = initialize(internal_url + mcp.path(walled) + "/mcp", token)
    assert refused.status_code == 403
    assert refused.json()["code"] == "Forbidden.Network"
    assert "127.0.0.1" in refused.json()["message"]
    # the public URL does not look at the whitelist
    assert initialize(live_server_url + mcp.path(walled) + "/mcp", token).status_code == 200
    # behind a trusted proxy, the forwarded address is the one checked
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    forwarded = initialize(internal_url + mcp.path(walled) + "/mcp", token, **{"X-Forwarded-For": "10.9.1.2"})
    assert forwarded.status_code == 200
    outside = initialize(internal_url + mcp.path(walled) + "/mcp", token, **{"X-Forwarded-For": "10.8.1.2"})
    assert outside.status_code == 403


def test_servers_without_their_own_whitelist_follow_the_account(internal_url, mcp, make_server, alice, pat, settings):
    token = pat(alice)
    alice.account.vpc_whitelists = ["vpc-office"]
    alice.account.save()
    follows = make_server(alice.account, "follows", [])
    own = make_server(alice.account, "own", [], enable_custom_vpc_whitelist=True, vpc_whitelists=[])
    unnamed = initialize(internal_url + mcp.path(follows) + "/mcp", token)
    assert unnamed.status_code == 403
    assert "vpc-office, which MCP_NETWORKS does not define" in unnamed.json()["message"]
    settings.MCP_NETWORKS = {"vpc-office": ["10.0.0.0/8"]}
    assert initialize(internal_url + mcp.path(follows) + "/mcp", token).status_code == 403
    assert initialize(internal_url + mcp.path(own) + "/mcp", token).status_code == 200  # empty: any address
    settings.MCP_NETWORKS = {"vpc-office": ["127.0.0.0/8"]}
    assert initialize(internal_url + mcp.path(follows) + "/mcp", token).status_code == 200
