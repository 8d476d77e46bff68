"""Outbound requests a user chooses the target of: one address rule (servers.outbound) for catalog import
and connections' upstream URLs, and bounded connection timeouts."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from django.test import Client

from oauth.models import Connection
from oauth.services import connection_set
from servers.catalog.fetch import FetchLimits, fetch_url
from servers.catalog.types import CatalogImportError
from servers.errors import ApiError
from servers.outbound import NEVER, PRIVATE, PUBLIC, address_kind, host_refusal

SETTING = "UPSTREAM_ALLOW_PRIVATE_URLS"


@pytest.mark.parametrize(
    "address, kind",
    [
        ("8.8.8.8", PUBLIC),
        ("2606:4700:4700::1111", PUBLIC),
        ("169.254.169.254", NEVER),
        ("169.254.0.1", NEVER),
        ("fe80::1", NEVER),
        ("fe80::1%eth0", NEVER),
        ("::ffff:169.254.169.254", NEVER),
        ("100.100.100.200", NEVER),
        ("fd00:ec2::254", NEVER),
        ("224.0.0.1", NEVER),
        ("ff02::1", NEVER),
        ("0.0.0.0", NEVER),
        ("::", NEVER),
        ("255.255.255.255", NEVER),
        ("240.0.0.1", NEVER),
        ("127.0.0.1", PRIVATE),
        ("127.1.2.3", PRIVATE),
        ("::1", PRIVATE),
        ("::ffff:127.0.0.1", PRIVATE),
        ("10.1.2.3", PRIVATE),
        ("172.16.0.1", PRIVATE),
        ("192.168.1.1", PRIVATE),
        ("100.64.0.1", PRIVATE),
        ("fd12:3456::1", PRIVATE),
    ],
)
def test_address_kinds(address: str, kind: str) -> None:
    assert address_kind(address)[0] == kind


@pytest.mark.parametrize(
    "host, allow_private, refused",
    [
        ("api.example.com", False, None),
        ("8.8.8.8", False, None),
        ("169.254.169.254", True, "169.254.169.254 is a cloud metadata address, never allowed"),
        ("169.254.10.1", True, "169.254.10.1 is a link-local address, never allowed"),
        ("[fe80::1]", True, "fe80::1 is a link-local address, never allowed"),
        ("2852039166", True, "2852039166 means 169.254.169.254 is a cloud metadata address"),  # decimal form
        ("0xa9.0xfe.0xa9.0x1", True, "means 169.254.169.1 is a link-local address"),
        ("metadata.google.internal", True, "metadata.google.internal is a cloud metadata host name, never allowed"),
        ("METADATA.Google.Internal.", True, "is a cloud metadata host name"),
        ("100.100.100.200", True, "100.100.100.200 is a cloud metadata address, never allowed"),
        ("127.0.0.1", False, f"127.0.0.1 is a loopback address, allowed only with {SETTING}=1"),
        ("127.0.0.1", True, None),
        ("0x7f.1", False, "0x7f.1 means 127.0.0.1 is a loopback address"),
        ("localhost", False, f"localhost is a loopback host name, allowed only with {SETTING}=1"),
        ("localhost", True, None),
        ("10.0.0.5", False, "10.0.0.5 is a private address"),
        ("10.0.0.5", True, None),
        ("[::1]", False, "::1 is a loopback address"),
    ],
)
def test_hosts_as_written(host: str, allow_private: bool, refused: str | None) -> None:
    problem = host_refusal(host, allow_private=allow_private, setting=SETTING)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None and refused in problem


def test_catalog_import_never_reaches_link_local_even_with_private_urls_allowed(monkeypatch: Any) -> None:
    """Public DNS cannot be reached from tests: the resolver's answer is simulated."""

    def fake_getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.1.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    limits = FetchLimits(max_bytes=1000, timeout_seconds=5, allow_private=True)
    with pytest.raises(CatalogImportError, match=r"169\.254\.1\.1 is a link-local address, never allowed"):
        fetch_url("http://specs.example.com/spec.json", limits)


# Connections ----------------------------------------------------------------------------------


@pytest.fixture
def api(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def put(api: Client, **fields: Any) -> Any:
    body = {"product": "Widgets", "authType": "none", **fields}
    return api.put("/connection", data=json.dumps(body), content_type="application/json")


def assert_refused(response: Any, code: str, message: str) -> None:
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, code), payload
    assert message in payload["message"], payload["message"]
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]:8080/",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://100.100.100.200/latest/meta-data",
        "http://2852039166/",
        "http://0.0.0.0:8000/",
        "http://224.0.0.1/",
    ],
)
def test_link_local_and_metadata_upstreams_are_refused_whatever_the_setting(api: Client, settings: Any, url: str):
    settings.UPSTREAM_ALLOW_PRIVATE_URLS = True
    assert_refused(put(api, baseUrl=url), "InvalidParam.BaseUrl", "baseUrl is refused: ")
    assert_refused(put(api, regionEndpoints={"eu-1": url}), "InvalidParam.RegionEndpoints", "is refused: ")
    response = put(
        api,
        authType="oauth2_client_credentials",
        authConfig={"tokenUrl": url, "clientId": "c"},
        secrets={"clientSecret": "s"},
    )
    assert_refused(response, "InvalidParam.AuthConfig.TokenUrl", "authConfig.tokenUrl is refused: ")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/api", "http://localhost:9000", "https://10.1.2.3/v1"])
def test_loopback_and_private_upstreams_need_the_setting(api: Client, settings: Any, url: str) -> None:
    settings.UPSTREAM_ALLOW_PRIVATE_URLS = False
    assert_refused(put(api, baseUrl=url), "InvalidParam.BaseUrl", f"allowed only with {SETTING}=1")
    settings.UPSTREAM_ALLOW_PRIVATE_URLS = True
    response = put(api, baseUrl=url)
    assert response.status_code == 200, response.json()
    assert Connection.objects.get().base_url == url


def test_public_upstreams_are_accepted_without_the_setting(api: Client, settings: Any) -> None:
    settings.UPSTREAM_ALLOW_PRIVATE_URLS = False
    assert put(api, baseUrl="https://api.example.com/v1").status_code == 200


def test_the_console_and_command_line_service_applies_the_same_rule(alice: Any, settings: Any) -> None:
    settings.UPSTREAM_ALLOW_PRIVATE_URLS = True
    with pytest.raises(ApiError) as raised:
        connection_set(account=alice.account, product="Widgets", auth_type="none", base_url="http://169.254.169.254")
    assert (raised.value.code, raised.value.field) == ("InvalidParam.BaseUrl", "baseUrl")


@pytest.mark.parametrize("value", [1e-300, 0.05, 0, -1, 600.5, 1e300])
def test_absurd_timeouts_are_refused_naming_the_field(api: Client, value: float) -> None:
    assert_refused(
        put(api, readTimeout=value), "InvalidParam.ReadTimeout", "readTimeout must be between 0.1 and 600 seconds"
    )
    assert_refused(
        put(api, connectTimeout=value),
        "InvalidParam.ConnectTimeout",
        "connectTimeout must be between 0.1 and 600 seconds",
    )


def test_timeouts_at_the_bounds_are_accepted(api: Client) -> None:
    response = put(api, connectTimeout=0.1, readTimeout=600)
    assert response.status_code == 200, response.json()
    assert (response.json()["connectTimeout"], response.json()["readTimeout"]) == (0.1, 600.0)


def test_region_ids_with_a_trailing_newline_are_refused(api: Client) -> None:
    assert_refused(
        put(api, regionEndpoints={"eu-1\n": "https://eu.example.com"}),
        "InvalidParam.RegionEndpoints",
        "must be a region id",
    )
    assert_refused(put(api, defaultRegion="eu-1\n"), "InvalidParam.DefaultRegion", "must be a region id")
