"""Importing from URLs: https only, no private addresses (checked on the resolved IP), size cap, timeout."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from servers.catalog import CatalogImportError
from servers.catalog.fetch import FetchLimits, fetch_url, is_public_address
from servers.catalog.services import catalog_import

from .conftest import SPECS

NETLIFY = (SPECS / "openapi" / "netlify.yml").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/netlify.yml":
            self._send(200, NETLIFY, "application/yaml")
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/netlify.yml")
            self.end_headers()
        elif self.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.release.wait(10)  # never answers within the client's timeout
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def spec_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.release.clear()
    try:
        yield server.server_address[1]
    finally:
        _Handler.release.set()
        server.shutdown()
        server.server_close()


def test_private_addresses_are_refused_by_default(db, spec_server, settings):
    settings.IMPORT_ALLOW_PRIVATE_URLS = False
    with pytest.raises(CatalogImportError, match="Only https URLs can be imported"):
        catalog_import(source=f"http://127.0.0.1:{spec_server}/netlify.yml")
    # A host name is resolved and its address checked: `localhost` is loopback whatever it is called.
    with pytest.raises(
        CatalogImportError,
        match=r"Host 'localhost' resolves to a non-public address \((127\.0\.0\.1|::1) is a loopback address, "
        r"allowed only with IMPORT_ALLOW_PRIVATE_URLS=1\)",
    ):
        catalog_import(source=f"https://localhost:{spec_server}/netlify.yml")
    with pytest.raises(CatalogImportError, match="Not an https URL"):
        catalog_import(source="ftp://example.com/spec.json")


def test_allowed_private_urls_import_and_follow_redirects(db, spec_server, settings):
    settings.IMPORT_ALLOW_PRIVATE_URLS = True
    outcome = catalog_import(source=f"http://127.0.0.1:{spec_server}/moved")
    assert outcome.created and outcome.revision.apis.count() == 174
    assert outcome.revision.source == f"http://127.0.0.1:{spec_server}/moved"
    assert outcome.revision.product_version.product.code == "Netlify"


def test_the_size_cap_and_the_timeout_apply(db, spec_server, settings):
    settings.IMPORT_ALLOW_PRIVATE_URLS = True
    settings.IMPORT_MAX_BYTES = 10_000
    with pytest.raises(CatalogImportError, match="larger than 10000 bytes"):
        catalog_import(source=f"http://127.0.0.1:{spec_server}/netlify.yml")
    settings.IMPORT_MAX_BYTES = 1_000_000
    settings.IMPORT_TIMEOUT_SECONDS = 1
    with pytest.raises(CatalogImportError, match="timed out after 1 s"):
        catalog_import(source=f"http://127.0.0.1:{spec_server}/stall")
    with pytest.raises(CatalogImportError, match="answered HTTP 404"):
        catalog_import(source=f"http://127.0.0.1:{spec_server}/nothing")


def test_files_over_the_cap_are_refused(db, settings):
    settings.IMPORT_MAX_BYTES = 1000
    with pytest.raises(CatalogImportError, match="larger than 1000 bytes"):
        catalog_import(source=str(SPECS / "alibaba" / "sts-2015-04-01.json"))


def test_the_connection_goes_to_the_checked_address_and_redirects_are_rechecked(monkeypatch):
    """Public DNS and hosts cannot be reached from tests: resolution and the transport are simulated."""
    addresses = {"specs.example.com": "93.184.216.34", "internal.example.com": "10.0.0.5"}

    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addresses[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers["host"], request.extensions.get("sni_hostname")))
        if request.url.path == "/spec.json":
            return httpx.Response(302, headers={"Location": "https://internal.example.com/spec.json"})
        return httpx.Response(200, content=b"{}")

    limits = FetchLimits(max_bytes=1000, timeout_seconds=5)
    with pytest.raises(
        CatalogImportError, match=r"'internal.example.com' resolves to a non-public address \(10.0.0.5 is a private"
    ):
        fetch_url("https://specs.example.com/spec.json", limits, transport=httpx.MockTransport(handler))
    assert seen == [("https://93.184.216.34/spec.json", "specs.example.com", "specs.example.com")]
    assert fetch_url("https://specs.example.com/ok.json", limits, transport=httpx.MockTransport(handler)) == b"{}"


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public_address(address) is public
