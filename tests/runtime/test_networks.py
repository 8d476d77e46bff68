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
def live_server_url(transactional_db):
    """The live server as `make run` and docs/configuration.md run uvicorn: `--forwarded-allow-ips`
    lists TRUSTED_PROXIES only (none in tests), so uvicorn leaves `X-Forwarded-For` alone and the
    runtime alone decides whom to believe (uvicorn's default would believe loopback itself)."""
    from tests.conftest import serving

    with serving(forwarded_allow_ips="") as url:
        yield url


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
    assert "vpc-office, which are not networks of this account" in unnamed.json()["message"]
    settings.MCP_NETWORKS = {"vpc-office": ["10.0.0.0/8"]}
    assert initialize(internal_url + mcp.path(follows) + "/mcp", token).status_code == 403
    assert initialize(internal_url + mcp.path(own) + "/mcp", token).status_code == 200  # empty: any address
    settings.MCP_NETWORKS = {"vpc-office": ["127.0.0.0/8"]}
    assert initialize(internal_url + mcp.path(follows) + "/mcp", token).status_code == 200


# Account networks (oauth.models.Network) behind a trusted proxy ---------------------------------


def _events(server_id: str, count: int = 1) -> list:
    """The audit events of refused requests to a server, oldest first, once `count` are written."""
    import time

    from runtime.models import AuditEvent

    deadline = time.monotonic() + 10
    while True:
        rows = list(AuditEvent.objects.filter(server_id=server_id, kind="access").order_by("pk"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_the_internal_url_accepts_only_the_account_networks_named_in_the_whitelist(
    internal_url, mcp, make_server, alice, pat, settings
):
    from oauth.networks import network_create, network_update

    token = pat(alice)
    office = network_create(account=alice.account, name="office", cidrs=["10.9.0.0/16"])
    assert office.id.startswith("vpc-") and len(office.id) == 24
    walled = make_server(alice.account, "walled", [], enable_custom_vpc_whitelist=True, vpc_whitelists=[office.id])
    url = internal_url + mcp.path(walled) + "/mcp"
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert initialize(url, token, **{"X-Forwarded-For": "10.9.1.2"}).status_code == 200
    refused = initialize(url, token, **{"X-Forwarded-For": "203.0.113.5, 10.8.1.2"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "Forbidden.Network"
    assert "10.8.1.2" in refused.json()["message"]  # the nearest untrusted hop is the client
    # A change of the network applies at once (the `network` event empties the runtime's cache).
    network_update(network=office, cidrs=["10.8.0.0/16"])
    assert initialize(url, token, **{"X-Forwarded-For": "10.8.1.2"}).status_code == 200
    assert initialize(url, token, **{"X-Forwarded-For": "10.9.1.2"}).status_code == 403
    # Each refusal is audited once, with the address that was checked.
    events = _events(walled.id, 2)
    assert [(e.error_code, e.source_ip, e.username, e.action, e.outcome) for e in events] == [
        ("Forbidden.Network", "10.8.1.2", "alice", "mcp:Connect", "denied"),
        ("Forbidden.Network", "10.9.1.2", "alice", "mcp:Connect", "denied"),
    ]


def test_a_network_of_another_account_does_not_open_the_whitelist(
    internal_url, mcp, make_server, alice, charlie, pat, settings
):
    from oauth.networks import network_create

    theirs = network_create(account=charlie.account, name="theirs", cidrs=["127.0.0.0/8"])
    walled = make_server(alice.account, "walled", [], enable_custom_vpc_whitelist=True, vpc_whitelists=[theirs.id])
    refused = initialize(internal_url + mcp.path(walled) + "/mcp", pat(alice))
    assert refused.status_code == 403
    assert f"{theirs.id}, which are not networks of this account" in refused.json()["message"]


def test_public_access_off_refuses_the_public_url_even_through_a_trusted_proxy(
    live_server_url, internal_url, mcp, make_server, alice, pat, settings
):
    token = pat(alice)
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    closed = make_server(alice.account, "closed", [], public_access="off")
    forwarded = {"X-Forwarded-For": "198.51.100.7"}
    refused = initialize(live_server_url + mcp.path(closed) + "/mcp", token, **forwarded)
    assert refused.status_code == 403
    assert refused.json()["code"] == "Forbidden.PublicAccess"
    assert refused.json()["message"] == "Public access to this MCP server is off; use its internal URL"
    assert initialize(internal_url + mcp.path(closed) + "/mcp", token, **forwarded).status_code == 200
    (event,) = _events(closed.id)
    assert (event.error_code, event.source_ip, event.outcome) == ("Forbidden.PublicAccess", "198.51.100.7", "denied")

    follows = make_server(alice.account, "follows", [], public_access="follow")
    assert initialize(live_server_url + mcp.path(follows) + "/mcp", token).status_code == 200
    from servers.schemas import UpdateApiMcpServerUserConfigBody, parse_body
    from servers.services import user_config_update

    user_config_update(
        account=alice.account, body=parse_body(UpdateApiMcpServerUserConfigBody, {"enablePublicAccess": False})
    )
    assert initialize(live_server_url + mcp.path(follows) + "/mcp", token).status_code == 403
    opened = make_server(alice.account, "opened", [], public_access="on")
    assert initialize(live_server_url + mcp.path(opened) + "/mcp", token).status_code == 200


@pytest.mark.parametrize("trusted", [[], ["10.0.0.1/32"]])
def test_a_forwarded_header_from_an_untrusted_address_is_ignored(
    internal_url, mcp, make_server, alice, pat, settings, trusted
):
    from oauth.networks import network_create

    office = network_create(account=alice.account, name="office", cidrs=["10.9.0.0/16"])
    walled = make_server(alice.account, "walled", [], enable_custom_vpc_whitelist=True, vpc_whitelists=[office.id])
    settings.TRUSTED_PROXIES = trusted  # the loopback peer is not a trusted proxy
    spoofed = initialize(internal_url + mcp.path(walled) + "/mcp", pat(alice), **{"X-Forwarded-For": "10.9.1.2"})
    assert spoofed.status_code == 403
    assert "Your address 127.0.0.1 is not" in spoofed.json()["message"]
    (event,) = _events(walled.id)
    assert event.source_ip == "127.0.0.1"
