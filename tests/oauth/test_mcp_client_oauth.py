"""Sign-in of real MCP clients (SPEC §6.1, §6.2): the official MCP Python client's OAuthClientProvider
against the live server, with no prior registration, the test playing the user's browser over HTTP.
"""

from __future__ import annotations

import datetime
import ssl
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from io import StringIO
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import anyio
import httpx
import pytest
from django.core.cache import cache
from django.core.management import call_command

from tests.runtime.conftest import ak_connection, free_port, make_server, pat, upstream  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)

REDIRECT_URI = "http://127.0.0.1:33418/callback"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Registration counters and CIMD backoffs live in the (per-process) cache."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ecs(make_server, alice, specs_dir, upstream, ak_connection):  # noqa: F811
    from servers.catalog.services import import_alibaba_file

    import_alibaba_file(specs_dir / "alibaba" / "ecs-2014-05-26.json")
    ak_connection(alice.account, "Ecs", base_url=upstream.url)
    apis = [{"product": "Ecs", "apiVersion": "2014-05-26", "selectors": ["DescribeRegions"]}]
    return {
        "main": make_server(alice.account, "ecs-ops", apis),
        "other": make_server(alice.account, "ecs-other", apis),
    }


def mcp_url(base: str, server: Any) -> str:
    return f"{base}/accounts/{server.account_id}/custom/{server.name}/id/{server.id}/mcp"


def initialize(url: str, token: str | None = None) -> httpx.Response:
    headers = {**ACCEPT, **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx.post(url, json=INIT, headers=headers, timeout=30)


# The user's browser ---------------------------------------------------------------------------


class _Forms(HTMLParser):
    """The hidden and named inputs of each form on a page, by the form's id."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self._current = self.forms.setdefault(found.get("id") or f"form{len(self.forms)}", {})
        elif tag == "input" and self._current is not None and found.get("name"):
            self._current[str(found["name"])] = found.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_of(html: str) -> dict[str, dict[str, str]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class Browser:
    """Signs in on the login page and answers the consent page, over plain HTTP with cookies."""

    def __init__(self, base: str, username: str, password: str, *, allow: bool = True) -> None:
        self.base = base
        self.username, self.password, self.allow = username, password, allow
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        self.consent_page = ""
        self.signed_in = False

    def sign_in(self, next_url: str = "/") -> httpx.Response:
        page = self.http.get("/login/", params={"next": next_url})
        assert page.status_code == 200, page.text
        fields = next(iter(forms_of(page.text).values()))
        fields.update(username=self.username, password=self.password, next=next_url)
        answer = self.http.post("/login/", data=fields)
        assert answer.status_code == 302, answer.text
        self.signed_in = True
        return answer

    def open(self, url: str) -> httpx.Response:
        """GET `url` and follow redirects on this site (signing in when asked), stopping at the client's."""
        response = self.http.get(url)
        while response.status_code in (301, 302):
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(self.base):
                return response  # the redirect to the MCP client's callback
            if urlsplit(location).path == "/login/" and not self.signed_in:
                response = self.sign_in(parse_qs(urlsplit(location).query)["next"][0])
                continue
            response = self.http.get(location)
        return response

    def authorize(self, url: str) -> dict[str, str]:
        """Play the authorization request `url` through; the parameters the client's callback receives."""
        response = self.open(url)
        if response.status_code == 200:
            self.consent_page = response.text
            fields = forms_of(response.text)["authorizationForm"]
            if self.allow:
                fields["allow"] = "Authorize"
            response = self.http.post(urlsplit(url).path, data=fields)
        assert response.status_code == 302, response.text
        callback = response.headers["location"]
        assert callback.startswith(REDIRECT_URI), callback
        return {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}


# The official client --------------------------------------------------------------------------


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: Any = None
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


def connect_and_call(url: str, browser: Browser, storage: MemoryStorage, client_metadata_url: str | None = None) -> Any:
    """Connect with OAuthClientProvider (discovery, registration or CIMD, code + PKCE), list tools, call one."""
    import httpx2
    from mcp.client import Client
    from mcp.client.auth import OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    callback: dict[str, str] = {}

    async def redirect_handler(authorization_url: str) -> None:
        callback.clear()
        callback.update(await anyio.to_thread.run_sync(browser.authorize, authorization_url))

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=callback["code"], state=callback.get("state"), iss=callback.get("iss"))

    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Test MCP client",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=client_metadata_url,
    )

    async def main() -> Any:
        http = httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30, read=60))
        async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            tools = await client.list_tools()
            result = await client.call_tool("Ecs-20140526-DescribeRegions", {})
            return tools, result, callback.get("iss")

    return anyio.run(main)


def check_token_lifecycle(base: str, ecs: dict[str, Any], storage: MemoryStorage) -> None:
    """Audience, refresh rotation and revocation of the tokens the client obtained."""
    main_url, other_url = mcp_url(base, ecs["main"]), mcp_url(base, ecs["other"])
    client_id = storage.client_info.client_id
    access, refresh = storage.tokens.access_token, storage.tokens.refresh_token
    assert initialize(main_url, access).status_code == 200

    refused = initialize(other_url, access)  # another server of the same account: another audience
    assert refused.status_code == 401
    assert "another resource" in refused.json()["error_description"]

    rotated = httpx.post(
        f"{base}/oauth/token/", data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id}
    )
    assert rotated.status_code == 200, rotated.text
    fresh = rotated.json()
    assert fresh["refresh_token"] != refresh and fresh["access_token"] != access
    assert initialize(main_url, fresh["access_token"]).status_code == 200
    assert initialize(other_url, fresh["access_token"]).status_code == 401  # the binding survives the refresh
    reused = httpx.post(
        f"{base}/oauth/token/", data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id}
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    revoked = httpx.post(f"{base}/oauth/revoke_token/", data={"token": fresh["access_token"], "client_id": client_id})
    assert revoked.status_code == 200, revoked.text
    assert initialize(main_url, fresh["access_token"]).status_code == 401


def test_the_official_client_registers_signs_in_and_calls_a_tool(live_server_url, ecs, alice, upstream):  # noqa: F811
    from oauth2_provider.models import AccessToken, Application

    url = mcp_url(live_server_url, ecs["main"])
    browser = Browser(live_server_url, "alice", "alice-password")
    storage = MemoryStorage()
    tools, result, iss = connect_and_call(url, browser, storage)

    assert [t.name for t in tools.tools] == ["Ecs-20140526-DescribeRegions"]
    assert result.is_error is False, result.content[0].text
    assert upstream.last()["headers"]["x-acs-action"] == "DescribeRegions"
    # A public client, registered anonymously by dynamic registration, with a token bound to the server.
    application = Application.objects.get(client_id=storage.client_info.client_id)
    assert (application.registration_source, application.client_type) == ("dcr", "public")
    assert application.name == "Test MCP client" and application.user is None
    token = AccessToken.objects.get(token_checksum=_sha256(storage.tokens.access_token))
    assert token.user == alice and token.resource == [url]

    # One issuer: the AS metadata, the PRM and the RFC 9207 iss of the authorization response.
    metadata = httpx.get(f"{live_server_url}/.well-known/oauth-authorization-server").json()
    prm = httpx.get(
        f"{live_server_url}/.well-known/oauth-protected-resource{urlsplit(url).path}",
    ).json()
    assert metadata["issuer"] == prm["authorization_servers"][0] == iss == live_server_url

    # The consent page named the client, where the code goes, the server, its account and the scopes.
    page = browser.consent_page
    for expected in (
        "Test MCP client",
        "127.0.0.1:33418",
        "ecs-ops",
        url,
        alice.account.name,
        alice.account_id,
        "Use MCP servers of your account",
        "/acs/mcp-server",
        "dynamic client registration",
    ):
        assert expected in page, expected

    check_token_lifecycle(live_server_url, ecs, storage)


# Client ID Metadata Documents on loopback -----------------------------------------------------


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    """A certificate for localhost and 127.0.0.1, and its key, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def metadata_document(tmp_path) -> Iterator[dict[str, Any]]:
    """An MCP client's metadata document served over https on loopback (self-signed certificate)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    cert, key = _self_signed(tmp_path)
    port = free_port()
    url = f"https://localhost:{port}/mcp-client/metadata.json"
    state: dict[str, Any] = {
        "url": url,
        "ca_file": cert,
        "fetches": 0,
        "document": {
            "client_id": url,
            "client_name": "CIMD Test Client",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        },
    }

    async def serve(request: Request) -> JSONResponse:
        state["fetches"] += 1
        return JSONResponse(state["document"])

    app = Starlette(routes=[Route("/mcp-client/metadata.json", serve)])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ssl_certfile=cert, ssl_keyfile=key)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the metadata document server did not start")
        time.sleep(0.02)
    # the document really is served over verified TLS on loopback
    assert httpx.get(url, verify=ssl.create_default_context(cafile=cert)).json()["client_id"] == url
    state["fetches"] = 0
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_official_client_signs_in_with_a_client_id_metadata_document(
    live_server_url, ecs, alice, metadata_document, settings
):
    from oauth2_provider.models import Application

    settings.OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES = True
    settings.OAUTH_CIMD_CA_FILE = metadata_document["ca_file"]
    metadata = httpx.get(f"{live_server_url}/.well-known/oauth-authorization-server").json()
    assert metadata["client_id_metadata_document_supported"] is True

    url = mcp_url(live_server_url, ecs["main"])
    browser = Browser(live_server_url, "alice", "alice-password")
    storage = MemoryStorage()
    tools, result, iss = connect_and_call(url, browser, storage, client_metadata_url=metadata_document["url"])

    assert result.is_error is False, result.content[0].text
    assert iss == live_server_url
    assert storage.client_info.client_id == metadata_document["url"]
    assert metadata_document["fetches"] >= 1
    application = Application.objects.get(client_id=metadata_document["url"])
    assert (application.registration_source, application.name) == ("cimd", "CIMD Test Client")
    assert not Application.objects.filter(registration_source="dcr").exists()  # no registration happened
    assert "CIMD Test Client" in browser.consent_page and metadata_document["url"] in browser.consent_page
    check_token_lifecycle(live_server_url, ecs, storage)


def authorization_url(base: str, client_id: str, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "s-1",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGcSGNyVCw",
        "code_challenge_method": "S256",
        "scope": "/acs/mcp-server",
        **params,
    }
    return f"{base}/oauth/authorize/?{urlencode(query)}"


def test_metadata_documents_on_private_addresses_are_refused_by_default(
    live_server_url, ecs, metadata_document, settings
):
    from oauth2_provider.models import Application

    settings.OAUTH_CIMD_CA_FILE = metadata_document["ca_file"]
    assert settings.OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES is False
    browser = Browser(live_server_url, "alice", "alice-password")
    page = browser.open(
        authorization_url(live_server_url, metadata_document["url"], resource=mcp_url(live_server_url, ecs["main"]))
    )
    assert page.status_code == 400
    assert "invalid_client" in page.text or "invalid_request" in page.text
    assert metadata_document["fetches"] == 0  # the address was refused before any connection
    assert not Application.objects.filter(client_id=metadata_document["url"]).exists()


def test_a_metadata_document_with_a_disallowed_redirect_uri_is_refused(
    live_server_url, ecs, metadata_document, settings
):
    from oauth2_provider.models import Application

    settings.OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES = True
    settings.OAUTH_CIMD_CA_FILE = metadata_document["ca_file"]
    metadata_document["document"]["redirect_uris"] = ["http://attacker.example/cb"]
    browser = Browser(live_server_url, "alice", "alice-password")
    page = browser.open(authorization_url(live_server_url, metadata_document["url"]))
    assert page.status_code == 400
    assert metadata_document["fetches"] == 1
    assert not Application.objects.filter(client_id=metadata_document["url"]).exists()


# Registration --------------------------------------------------------------------------------


def register(base: str, **metadata: Any) -> httpx.Response:
    body = {"client_name": "Some client", "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"}
    return httpx.post(f"{base}/oauth/register/", json={**body, **metadata})


def test_registration_accepts_loopback_https_and_native_app_redirects(live_server_url):
    for uris in (
        ["http://127.0.0.1:5000/cb", "http://localhost/cb", "http://[::1]:8080/oauth/callback"],
        ["https://claude.ai/api/mcp/auth_callback"],
        ["cursor://anysphere.cursor-mcp/oauth/callback", "vscode://vscode.github-authentication/did-authenticate"],
        ["vscode-insiders://a/cb", "windsurf://b/cb", "cherrystudio://c/cb", "http://localhost:6274/oauth/callback"],
    ):
        answer = register(live_server_url, redirect_uris=uris)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["redirect_uris"] == uris and body["token_endpoint_auth_method"] == "none"
        assert "client_secret" not in body


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        ("http://example.com/cb", "plain http is accepted only on a loopback host"),
        ("javascript://alert(1)", "the scheme javascript:// is not allowed"),
        ("myapp://callback", "the scheme myapp:// is not allowed"),
        ("https://example.com/cb#frag", "has a fragment"),
        ("/relative/cb", "is not an absolute URI"),
    ],
)
def test_registration_refuses_a_disallowed_redirect_uri_with_a_clear_error(live_server_url, uri, said):
    from oauth2_provider.models import Application

    answer = register(live_server_url, redirect_uris=[uri])
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_redirect_uri"
    assert said in answer.json()["error_description"] and uri in answer.json()["error_description"]
    assert not Application.objects.exists()


def test_registration_refuses_grants_other_than_the_authorization_code(live_server_url):
    answer = register(live_server_url, grant_types=["client_credentials"])
    assert answer.status_code == 400
    assert "only authorization_code" in answer.json()["error_description"]


def test_registrations_are_limited_per_address(live_server_url, settings):
    settings.OAUTH_DCR_MAX_PER_ADDRESS = 2
    assert [register(live_server_url).status_code for _ in range(2)] == [201, 201]
    refused = register(live_server_url)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert "Too many client registrations" in refused.json()["error_description"]


def test_unused_registrations_are_purged(live_server_url, alice, settings):
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application, RefreshToken

    unused = register(live_server_url).json()["client_id"]
    used = register(live_server_url).json()["client_id"]
    fresh = register(live_server_url).json()["client_id"]
    manual = Application.objects.create(
        name="operator's",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris=REDIRECT_URI,
    )
    old = timezone.now() - timedelta(seconds=settings.OAUTH_UNUSED_CLIENT_SECONDS + 60)
    Application.objects.filter(client_id__in=[unused, used]).update(created=old)
    Application.objects.filter(pk=manual.pk).update(created=old)
    used_app = Application.objects.get(client_id=used)
    expired = AccessToken.objects.create(
        user=alice, application=used_app, token="a-1", scope="/acs/mcp-server", expires=timezone.now()
    )
    RefreshToken.objects.create(user=alice, application=used_app, token="r-1", access_token=expired)

    out = StringIO()
    call_command("purge_oauth_clients", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "1 unused OAuth clients would be deleted"
    call_command("purge_oauth_clients", stdout=out)
    assert "Deleted 1 unused OAuth clients" in out.getvalue()
    left = set(Application.objects.values_list("client_id", flat=True))
    assert left == {used, fresh, manual.client_id}


# Metadata, OIDC, uniform challenge -------------------------------------------------------------


def test_the_metadata_offers_what_public_mcp_clients_need(live_server_url):
    metadata = httpx.get(f"{live_server_url}/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == live_server_url
    assert metadata["authorization_endpoint"] == f"{live_server_url}/oauth/authorize/"
    assert metadata["token_endpoint"] == f"{live_server_url}/oauth/token/"
    assert metadata["registration_endpoint"] == f"{live_server_url}/oauth/register/"
    assert metadata["revocation_endpoint"] == f"{live_server_url}/oauth/revoke_token/"
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_openid_connect_endpoints_are_absent_not_broken(live_server_url):
    for path in (
        "/.well-known/openid-configuration",
        "/oauth/.well-known/openid-configuration",
        "/oauth/.well-known/jwks.json",
        "/oauth/userinfo/",
        "/.well-known/oauth-authorization-server/oauth",  # no second issuer
        "/oauth/.well-known/oauth-authorization-server",
    ):
        assert httpx.get(live_server_url + path).status_code == 404, path


def test_unknown_server_ids_get_the_same_challenge_as_real_ones(live_server_url, ecs):
    real = ecs["main"]
    real_path = f"/accounts/{real.account_id}/custom/{real.name}/id/{real.id}/mcp"
    fake_path = f"/accounts/{real.account_id}/custom/{real.name}/id/doesnotexist0000/mcp"
    answers = [initialize(live_server_url + path) for path in (real_path, fake_path)]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()
    challenges = [
        a.headers["www-authenticate"].replace(p, "") for a, p in zip(answers, (real_path, fake_path), strict=True)
    ]
    assert challenges[0] == challenges[1]
    garbage = [initialize(live_server_url + path, "not-a-token") for path in (real_path, fake_path)]
    assert [g.status_code for g in garbage] == [401, 401] and garbage[0].json() == garbage[1].json()
    documents = [
        httpx.get(f"{live_server_url}/.well-known/oauth-protected-resource{p}") for p in (real_path, fake_path)
    ]
    assert [d.status_code for d in documents] == [200, 200]
    assert set(documents[0].json()) == set(documents[1].json())


# Consent, custom OAuth, account ----------------------------------------------------------------


def test_a_server_with_custom_oauth_accepts_only_its_client(live_server_url, make_server, alice):  # noqa: F811
    from oauth2_provider.models import Application

    team = Application.objects.create(
        client_id="team-client",
        name="Team agent",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris=REDIRECT_URI,
    )
    custom = make_server(alice.account, "custom", [], oauth_client_id=team.client_id)
    resource = mcp_url(live_server_url, custom)
    prm = httpx.get(f"{live_server_url}/.well-known/oauth-protected-resource{urlsplit(resource).path}").json()
    assert prm["oauth_client_id"] == "team-client"

    stranger = register(live_server_url).json()["client_id"]
    browser = Browser(live_server_url, "alice", "alice-password")
    refused = browser.authorize(authorization_url(live_server_url, stranger, resource=resource))
    assert refused["error"] == "invalid_target"
    assert "accepts only tokens of its own OAuth client (team-client)" in refused["error_description"]
    assert refused["iss"] == live_server_url and refused["state"] == "s-1"

    granted = browser.authorize(authorization_url(live_server_url, "team-client", resource=resource))
    assert granted["code"] and "Team agent" in browser.consent_page and "operator" in browser.consent_page


def test_the_consent_page_refuses_a_user_of_another_account(live_server_url, ecs, charlie):
    client_id = register(live_server_url).json()["client_id"]
    browser = Browser(live_server_url, "charlie", "charlie-password")
    page = browser.open(authorization_url(live_server_url, client_id, resource=mcp_url(live_server_url, ecs["main"])))
    assert page.status_code == 200
    assert 'data-testid="account-mismatch"' in page.text and "charlie" in page.text
    assert "authorizationForm" not in page.text  # nothing to allow


def test_an_mcp_call_by_a_user_of_another_account_says_why(live_server_url, ecs, charlie, pat):  # noqa: F811
    answer = initialize(mcp_url(live_server_url, ecs["main"]), pat(charlie))
    assert answer.status_code == 403
    body = answer.json()
    assert body["code"] == "Forbidden.AccountMismatch"
    assert "charlie" in body["message"] and ecs["main"].account_id in body["message"]


def test_resources_must_name_an_mcp_server_of_this_site(live_server_url, ecs, settings):
    client_id = register(live_server_url).json()["client_id"]
    browser = Browser(live_server_url, "alice", "alice-password")
    for resource, said in (
        ("https://elsewhere.example/mcp", "is not an MCP server URL of this site"),
        (live_server_url + "/accounts/1/custom/x/id/nope/mcp", "names no MCP server"),
    ):
        refused = browser.authorize(authorization_url(live_server_url, client_id, resource=resource))
        assert refused["error"] == "invalid_target" and said in refused["error_description"]

    settings.OAUTH_REQUIRE_RESOURCE = True
    refused = browser.authorize(authorization_url(live_server_url, client_id))
    assert refused["error"] == "invalid_target" and "resource parameter" in refused["error_description"]


def test_cancelling_on_the_consent_page_tells_the_client(live_server_url, ecs):
    client_id = register(live_server_url).json()["client_id"]
    browser = Browser(live_server_url, "alice", "alice-password", allow=False)
    answer = browser.authorize(
        authorization_url(live_server_url, client_id, resource=mcp_url(live_server_url, ecs["main"]))
    )
    assert answer["error"] == "access_denied" and "code" not in answer


def test_the_login_page_says_why_when_an_application_asks(live_server_url):
    client_id = register(live_server_url).json()["client_id"]
    page = httpx.get(authorization_url(live_server_url, client_id), follow_redirects=True)
    assert page.url.path == "/login/"
    assert 'data-testid="oauth-hint"' in page.text


def test_a_registration_purges_unused_ones_now_and_then(live_server_url, settings):
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import Application

    stale = register(live_server_url).json()["client_id"]
    cache.clear()  # as if the last purge was long ago
    old = timezone.now() - timedelta(seconds=settings.OAUTH_UNUSED_CLIENT_SECONDS + 60)
    Application.objects.filter(client_id=stale).update(created=old)
    fresh = register(live_server_url).json()["client_id"]
    assert set(Application.objects.values_list("client_id", flat=True)) == {fresh}


def test_the_issuer_keeps_the_configured_scheme_of_a_base_url(settings):
    from oauth.authserver.issuer import issuer

    settings.PUBLIC_BASE_URL = "https://mcp.example.com"
    settings.INTERNAL_BASE_URL = "http://mcp.internal:8000"
    assert issuer("http", "mcp.example.com") == "https://mcp.example.com"  # TLS ended at a proxy
    assert issuer("http", "MCP.internal:8000") == "http://mcp.internal:8000"
    assert issuer("http", "127.0.0.1:9000") == "http://127.0.0.1:9000"
