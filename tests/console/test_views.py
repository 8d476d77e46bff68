"""Console pages with Django's test client: ownership (404), policies (403), forms and AccessKeys.

alice: account admin; bob: same account, read-only policy; charlie: another account's admin.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from oauth.models import AccessKey
from servers.models import McpServer
from tests.console.conftest import server_body

pytestmark = pytest.mark.django_db

SERVER_LINK = re.compile(r'href="/servers/[a-z0-9]{20}/"')


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def server_pages(server_id: str) -> list[str]:
    return [
        f"/servers/{server_id}/",
        f"/servers/{server_id}/edit/",
        f"/servers/{server_id}/delete/",
        f"/servers/{server_id}/client-config/cursor/",
    ]


def test_it_requires_login(client: Client, alice_server: Any) -> None:
    for url in ["/", "/servers/new/", "/access-keys/", *server_pages(alice_server.id)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next=")


def test_login_page_signs_in(client: Client, alice: Any) -> None:
    page = client.get("/login/")
    assert page.status_code == 200 and b"Sign in" in page.content
    bad = client.post("/login/", {"username": "alice", "password": "wrong-password"})
    assert bad.status_code == 200 and b"alert error" in bad.content
    good = client.post("/login/", {"username": "alice", "password": "alice-password"})
    assert good.status_code == 302 and good["Location"] == "/"


def test_it_validates_ownership(client: Client, charlie: Any, alice_server: Any) -> None:
    login(client, charlie)
    for url in server_pages(alice_server.id):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/servers/{alice_server.id}/edit/", {"description": "x"}).status_code == 404
    assert client.post(f"/servers/{alice_server.id}/delete/", {"confirm_name": "alice-tools"}).status_code == 404
    assert McpServer.objects.filter(id=alice_server.id).exists()
    listing = client.get("/")
    assert listing.status_code == 200 and b"alice-tools" not in listing.content
    searched = client.get("/", {"q": alice_server.id}).content.decode()
    assert f'href="/servers/{alice_server.id}/"' not in searched and "No server matches" in searched


def test_limited_user_reads_but_cannot_write(client: Client, bob: Any, alice_server: Any) -> None:
    login(client, bob)
    assert client.get("/").status_code == 200
    detail = client.get(f"/servers/{alice_server.id}/")
    assert detail.status_code == 200
    assert b"alice-tools" in detail.content
    assert b"/edit/" not in detail.content  # no buttons for what the policies deny
    for url in ["/servers/new/", f"/servers/{alice_server.id}/edit/", f"/servers/{alice_server.id}/delete/"]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"openapiexplorer:" in response.content
    denied = client.post("/servers/new/", {"name": "bobs-server", "language": "EN_US", "public_access": "follow"})
    assert denied.status_code == 403
    assert client.post(f"/servers/{alice_server.id}/delete/", {"confirm_name": "alice-tools"}).status_code == 403
    assert not McpServer.objects.filter(name="bobs-server").exists()
    assert McpServer.objects.filter(id=alice_server.id).exists()


def test_user_without_policies_is_refused_the_list(client: Client, account_a: Any) -> None:
    from oauth.services import user_create

    nobody = user_create(account=account_a, username="nobody", password="nobody-password")
    assert login(client, nobody).get("/").status_code == 403
    operator = nobody.__class__.objects.create_superuser("operator", password="operator-password")
    page = login(client, operator).get("/")
    assert page.status_code == 403 and b"belongs to no account" in page.content


def test_list_searches_by_name_and_exact_id(client: Client, alice: Any, alice_server: Any) -> None:
    from servers.schemas import CreateApiMcpServerBody, parse_body
    from servers.services import server_create

    other = server_create(
        account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, server_body("billing-bot"))
    )
    login(client, alice)
    by_name = client.get("/", {"q": "BILL"}).content.decode()
    assert "billing-bot" in by_name and "alice-tools" not in by_name
    by_id = client.get("/", {"q": alice_server.id}).content.decode()
    assert "alice-tools" in by_id and "billing-bot" not in by_id
    assert other.id not in client.get("/", {"q": other.id[:6]}).content.decode()


def test_list_paginates(client: Client, alice: Any, demo_catalog: Any) -> None:
    from servers.schemas import CreateApiMcpServerBody, parse_body
    from servers.services import server_create

    for i in range(23):
        server_create(
            account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, server_body(f"server-{i:02d}"))
        )
    login(client, alice)
    first = client.get("/").content.decode()
    assert "Page 1 of 2" in first and len(SERVER_LINK.findall(first)) == 20
    second = client.get("/", {"page": 2}).content.decode()
    assert len(SERVER_LINK.findall(second)) == 3


def test_create_shows_field_errors(client: Client, alice: Any, demo_catalog: Any) -> None:
    login(client, alice)
    form = {"language": "EN_US", "public_access": "follow"}
    bad_name = client.post("/servers/new/", {**form, "name": "9-Bad Name", "apis": "Demo 2024-01-01 List*"})
    assert bad_name.status_code == 200
    assert bad_name.context["form"].errors["name"][0].endswith("(InvalidParam.Name)")
    unknown_product = client.post("/servers/new/", {**form, "name": "good-name", "apis": "Nope 1 List*"})
    assert "InvalidParam.Apis.PopCode" in unknown_product.context["form"].errors["apis"][0]
    malformed = client.post("/servers/new/", {**form, "name": "good-name", "apis": "Demo"})
    assert "Line 1" in malformed.context["form"].errors["apis"][0]
    bad_prompts = client.post(
        "/servers/new/", {**form, "name": "good-name", "apis": "Demo 2024-01-01 List*", "prompts": "[{"}
    )
    assert "Not valid JSON" in bad_prompts.context["form"].errors["prompts"][0]
    assert not McpServer.objects.filter(name="good-name").exists()


def test_create_shows_every_field_error_of_one_submission(client: Client, alice: Any, demo_catalog: Any) -> None:
    login(client, alice)
    response = client.post(
        "/servers/new/",
        {
            "language": "EN_US",
            "public_access": "follow",
            "name": "9-Bad Name",
            "apis": "Demo 2024-01-01 List*",
            "description": "bell \x07",
            "prompts": '[{"name": "p", "content": "Hello {{who}}"}]',
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["name"][0].endswith("(InvalidParam.Name)")
    assert errors["description"][0].endswith("(InvalidParam.Description)")
    assert "{{who}}" in errors["prompts"][0] and errors["prompts"][0].endswith("(InvalidParam.Prompts.Content)")
    assert "__all__" not in errors
    assert not McpServer.objects.filter(account=alice.account).exists()


def test_an_unknown_product_is_reported_with_the_other_field_errors(
    client: Client, alice: Any, demo_catalog: Any
) -> None:
    login(client, alice)
    response = client.post(
        "/servers/new/",
        {"language": "EN_US", "public_access": "follow", "name": "9-Bad Name", "apis": "Nope 2024-01-01 List*"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["name"][0].endswith("(InvalidParam.Name)")
    assert "Nope" in errors["apis"][0] and errors["apis"][0].endswith("(InvalidParam.Apis.PopCode)")
    assert not McpServer.objects.filter(account=alice.account).exists()


def test_create_edit_and_delete(client: Client, alice: Any, demo_catalog: Any) -> None:
    login(client, alice)
    created = client.post(
        "/servers/new/",
        {
            "name": "things",
            "description": "Things, read-only",
            "language": "EN_US",
            "apis": "Demo 2024-01-01 List* Get*",
            "instructions": "Use ListThings first.",
            "system_tools": ["FetchRamActionDetails"],
            "prompts": '[{"name": "p", "content": "Hello {{who}}", "arguments": [{"name": "who", "required": true}]}]',
            "public_access": "on",
        },
    )
    server = McpServer.objects.get(account=alice.account, name="things")
    assert created.status_code == 302 and created["Location"] == f"/servers/{server.id}/"
    assert server.apis == [{"product": "Demo", "apiVersion": "2024-01-01", "selectors": ["List*", "Get*"]}]
    assert server.system_tools == ["FetchRamActionDetails"] and server.public_access == "on"

    detail = client.get(created["Location"]).content.decode()
    assert f"/accounts/{alice.account_id}/custom/things/id/{server.id}/mcp" in detail
    assert "cursor://anysphere.cursor-deeplink/mcp/install?name=things" in detail
    assert "demo:ListThings" in detail  # required RAM policy

    edit = client.get(f"/servers/{server.id}/edit/")
    assert edit.context["form"]["apis"].value() == "Demo 2024-01-01 List* Get*"
    saved = client.post(
        f"/servers/{server.id}/edit/",
        {
            "name": "renamed",
            "description": "Now with deletes",
            "language": "ZH_CN",
            "apis": "Demo 2024-01-01 *",
            "public_access": "off",
        },
    )
    assert saved.status_code == 302
    server.refresh_from_db()
    assert (server.name, server.language, server.version) == ("things", "ZH_CN", 2)  # the name stays
    assert server.prompts == []  # an emptied textarea clears the prompts

    wrong = client.post(f"/servers/{server.id}/delete/", {"confirm_name": "thing"})
    assert wrong.status_code == 200 and wrong.context["form"].errors["confirm_name"]
    deleted = client.post(f"/servers/{server.id}/delete/", {"confirm_name": "things"})
    assert deleted.status_code == 302 and not McpServer.objects.filter(id=server.id).exists()


def test_duplicate_name_is_a_name_error(client: Client, alice: Any, alice_server: Any) -> None:
    login(client, alice)
    response = client.post(
        "/servers/new/",
        {"name": "alice-tools", "language": "EN_US", "apis": "Demo 2024-01-01 List*", "public_access": "follow"},
    )
    assert "(Exists.Name)" in response.context["form"].errors["name"][0]


def test_client_config_download(client: Client, alice: Any, alice_server: Any) -> None:
    login(client, alice)
    response = client.get(f"/servers/{alice_server.id}/client-config/vscode/", {"endpoint": "vpcSse"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="mcp.json"'
    entry = response.json()["servers"]["alice-tools"]
    assert entry["type"] == "sse" and entry["url"].endswith("/sse")
    assert client.get(f"/servers/{alice_server.id}/client-config/nope/").status_code == 404
    assert client.get(f"/servers/{alice_server.id}/client-config/cursor/", {"endpoint": "x"}).status_code == 404


def test_access_keys_are_shown_once_and_revocable(client: Client, alice: Any, charlie: Any) -> None:
    login(client, alice)
    created = client.post("/access-keys/", {"description": "ci pipeline"})
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    issued = created.context["issued"]
    assert issued.access_key_secret in created.content.decode()
    listing = client.get("/access-keys/").content.decode()
    assert issued.access_key_id in listing and issued.access_key_secret not in listing

    other = Client()
    login(other, charlie)
    assert other.post(f"/access-keys/{issued.access_key_id}/revoke/").status_code == 404
    assert AccessKey.objects.get(id=issued.access_key_id).revoked_at is None

    assert client.get(f"/access-keys/{issued.access_key_id}/revoke/").status_code == 405
    assert client.post(f"/access-keys/{issued.access_key_id}/revoke/").status_code == 302
    assert AccessKey.objects.get(id=issued.access_key_id).revoked_at is not None


def test_admin_never_shows_secrets(client: Client, alice: Any) -> None:
    from oauth.services import access_key_create, personal_token_create

    key = access_key_create(user=alice)
    personal_token_create(user=alice, name="ci-bot")
    admin = alice.__class__.objects.create_superuser("root", password="root-password")
    login(client, admin)
    page = client.get(f"/admin/oauth/accesskey/{key.access_key_id}/change/").content.decode()
    stored = AccessKey.objects.get(id=key.access_key_id)
    assert key.access_key_id in page
    assert stored.secret_encrypted not in page and key.access_key_secret not in page
    token = alice.personal_tokens.get()
    page = client.get(f"/admin/oauth/personalaccesstoken/{token.pk}/change/").content.decode()
    assert token.token_hash not in page
    for url in ["/admin/", "/admin/servers/mcpserver/", "/admin/oauth/user/", "/admin/servers/productversion/"]:
        assert client.get(url).status_code == 200, url


def test_tools_preview_shows_tools_list_exactly(
    client: Client, alice: Any, alice_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import sys
    import types

    tools = {"tools": [{"name": "Demo-20240101-ListThings", "description": "Lists the things.", "inputSchema": {}}]}
    snapshot = types.ModuleType("servers.snapshot")
    snapshot.compiled_for_server = lambda server: types.SimpleNamespace(  # type: ignore[attr-defined]
        tools_json=json.dumps(tools).encode(), tools=tuple(tools["tools"])
    )
    monkeypatch.setitem(sys.modules, "servers.snapshot", snapshot)
    page = login(client, alice).get(f"/servers/{alice_server.id}/")
    assert page.context["tools"] == tools["tools"]
    assert "Demo-20240101-ListThings" in page.content.decode()

    def broken(server: Any) -> Any:
        raise RuntimeError("compiler bug")

    snapshot.compiled_for_server = broken  # type: ignore[attr-defined]
    page = client.get(f"/servers/{alice_server.id}/")
    assert page.status_code == 200 and page.context["tools"] is None
    assert "could not be compiled" in page.content.decode() and "compiler bug" not in page.content.decode()
