"""Connection pages with Django's test client: alice manages, charlie (another account) gets 404,
bob (read-only policy) lists but gets 403 on writes; secrets never appear in a page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from oauth.models import Connection
from oauth.services import connection_set, policy_create, user_create

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-ak-value"


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def ecs(alice: Any) -> Connection:
    connection, _ = connection_set(
        account=alice.account,
        product="Ecs",
        auth_type="alibaba_ak",
        base_url="https://ecs.example.com",
        config={"access_key_id": "LTAIalice"},
        secrets={"access_key_secret": SECRET, "security_token": "sts-token-value"},
    )
    return connection


def pages(pk: int) -> list[str]:
    return [f"/connections/{pk}/edit/", f"/connections/{pk}/delete/"]


def form(**fields: Any) -> dict[str, Any]:
    return {"product": "Widgets", "user": "", "auth_type": "none"} | fields


def field_block(page: str, field: str) -> str:
    """The HTML of one form field (includes/field.html), up to the next field."""
    start = page.rfind("<div", 0, page.index(f'id="field-{field}"'))
    end = page.find('<div class="field', start + 1)
    return page[start : end if end != -1 else len(page)]


def test_it_requires_login(client: Client, ecs: Connection) -> None:
    for url in ["/connections/", "/connections/new/", *pages(ecs.pk)]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url


def test_the_list_shows_connections_without_secrets(client: Client, alice: Any, ecs: Connection) -> None:
    login(client, alice)
    page = client.get("/connections/").content.decode()
    assert 'href="/connections/"' in page and ">Connections</a>" in page  # top navigation
    row = re.search(r'<tr data-product="Ecs">.*?</tr>', page, re.S)
    assert row is not None
    for shown in [
        "everyone in the account",
        "Alibaba Cloud AccessKey",
        "accessKeyId LTAIalice",
        "https://ecs.example.com",
    ]:
        assert shown in row.group(0), shown
    assert "accessKeySecret, securityToken" in row.group(0)  # which secrets are set, not their values
    assert SECRET not in page and "sts-token-value" not in page
    assert f'href="/connections/{ecs.pk}/edit/"' in page and f'href="/connections/{ecs.pk}/delete/"' in page


def test_alice_creates_a_connection(client: Client, alice: Any, bob: Any) -> None:
    login(client, alice)
    page = client.get("/connections/new/").content.decode()
    assert 'name="access_key_secret"' in page and 'type="password"' in page
    response = client.post(
        "/connections/new/",
        form(
            product="Widgets",
            user="bob",
            auth_type="api_key",
            api_key="widget-key-123",
            api_key_name="X-Widget-Key",
            api_key_in="query",
            base_url="https://widgets.example.com/api",
            region_endpoints="eu-1=https://eu.widgets.example.com\n# comment\n",
            default_region="eu-1",
            read_timeout="12.5",
            token="ignored: another auth type's field",
        ),
    )
    assert response.status_code == 302 and response["Location"] == "/connections/"
    connection = Connection.objects.get(product="Widgets")
    assert connection.user == bob and connection.auth_type == "api_key"
    assert connection.auth_config == {"name": "X-Widget-Key", "in": "query", "prefix": ""}
    assert connection.get_secrets() == {"api_key": "widget-key-123"}
    assert connection.region_endpoints == {"eu-1": "https://eu.widgets.example.com"}
    assert connection.read_timeout == 12.5 and connection.connect_timeout is None
    listing = client.get("/connections/").content.decode()
    assert "Created connection to Widgets." in listing and "widget-key-123" not in listing


def test_the_form_puts_service_errors_on_their_fields(client: Client, alice: Any, ecs: Connection) -> None:
    login(client, alice)
    cases = [
        (form(base_url="widgets.example.com"), "base_url", "InvalidParam.BaseUrl"),
        (form(product="has space"), "product", "InvalidParam.Product"),
        (form(auth_type="bearer"), "token", "Missing.Secrets.Token"),
        (form(auth_type="alibaba_ak", access_key_secret="x"), "access_key_id", "Missing.AuthConfig.AccessKeyId"),
        (form(auth_type="oauth2_client_credentials", token_url="https://id.example.com/t", client_secret="s"),
         "client_id", "Missing.AuthConfig.ClientId"),
        (form(region_endpoints="eu-1 https://x"), "region_endpoints", "expected “region=URL”"),
        (form(connect_timeout="-1"), "connect_timeout", "InvalidParam.ConnectTimeout"),
        (form(product="ecs"), "product", "already exists"),
    ]  # fmt: skip
    for data, field, text in cases:
        response = client.post("/connections/new/", data)
        assert response.status_code == 200, data
        block = field_block(response.content.decode(), field)
        assert "has-error" in block and text in block, (field, text, block)
    assert list(Connection.objects.values_list("product", flat=True)) == ["Ecs"]


def test_editing_never_shows_secrets_and_empty_keeps_them(client: Client, alice: Any, ecs: Connection) -> None:
    login(client, alice)
    page = client.get(f"/connections/{ecs.pk}/edit/").content.decode()
    assert SECRET not in page and "sts-token-value" not in page
    for name in ["access_key_secret", "security_token", "api_key", "token", "password", "client_secret"]:
        tag = re.search(rf'<input [^>]*name="{name}"[^>]*>', page)
        assert tag is not None and 'type="password"' in tag.group(0) and "value=" not in tag.group(0), name
    assert "Stored; leave empty to keep it." in page and "Leave a secret empty to keep the stored one" in page
    assert 'value="LTAIalice"' in page  # non-secret settings are shown
    response = client.post(
        f"/connections/{ecs.pk}/edit/",
        form(product="Ignored", auth_type="alibaba_ak", access_key_id="LTAIalice", base_url="https://new.example.com"),
    )
    assert response.status_code == 302
    ecs.refresh_from_db()
    assert ecs.product == "Ecs" and ecs.base_url == "https://new.example.com"  # the product is fixed
    assert ecs.get_secrets() == {"access_key_secret": SECRET, "security_token": "sts-token-value"}


def test_an_edit_error_redisplays_without_the_typed_secret(client: Client, alice: Any, ecs: Connection) -> None:
    login(client, alice)
    response = client.post(
        f"/connections/{ecs.pk}/edit/",
        form(auth_type="alibaba_ak", access_key_id="LTAIalice", access_key_secret="typed-new-secret", base_url="x"),
    )
    page = response.content.decode()
    assert response.status_code == 200 and "InvalidParam.BaseUrl" in page
    assert "typed-new-secret" not in page
    ecs.refresh_from_db()
    assert ecs.get_secrets()["access_key_secret"] == SECRET


def test_alice_deletes_after_confirming(client: Client, alice: Any, ecs: Connection) -> None:
    login(client, alice)
    confirm = client.get(f"/connections/{ecs.pk}/delete/")
    assert confirm.status_code == 200 and b"Delete connection" in confirm.content
    assert Connection.objects.filter(pk=ecs.pk).exists()
    response = client.post(f"/connections/{ecs.pk}/delete/")
    assert response.status_code == 302 and not Connection.objects.filter(pk=ecs.pk).exists()


def test_it_validates_ownership(client: Client, charlie: Any, ecs: Connection) -> None:
    login(client, charlie)
    for url in pages(ecs.pk):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/connections/{ecs.pk}/edit/", form(auth_type="none")).status_code == 404
    assert client.post(f"/connections/{ecs.pk}/delete/").status_code == 404
    listing = client.get("/connections/")
    assert listing.status_code == 200 and b"ecs.example.com" not in listing.content
    ecs.refresh_from_db()
    assert ecs.base_url == "https://ecs.example.com"


def test_limited_user_lists_but_cannot_write(client: Client, bob: Any, ecs: Connection) -> None:
    login(client, bob)
    listing = client.get("/connections/")
    assert listing.status_code == 200 and b"ecs.example.com" in listing.content
    assert b"/connections/new/" not in listing.content and b"/edit/" not in listing.content  # no buttons
    assert SECRET.encode() not in listing.content
    for url in ["/connections/new/", *pages(ecs.pk)]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"openapiexplorer:" in response.content
    assert client.post("/connections/new/", form()).status_code == 403
    assert client.post(f"/connections/{ecs.pk}/edit/", form(auth_type="none")).status_code == 403
    assert client.post(f"/connections/{ecs.pk}/delete/").status_code == 403
    assert list(Connection.objects.values_list("product", "auth_type")) == [("Ecs", "alibaba_ak")]


def test_policies_can_limit_writes_to_one_product(client: Client, alice: Any, ecs: Connection) -> None:
    account = alice.account
    dana = user_create(account=account, username="dana", password="dana-password")
    document = {
        "Version": "1",
        "Statement": [
            {"Effect": "Allow", "Action": "openapiexplorer:ListConnections", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "openapiexplorer:SetConnection",
                "Resource": f"acs:openapiexplorer::{account.pk}:connection/Ecs",
            },
        ],
    }
    dana.policies.add(policy_create(account=account, name="EcsConnection", document=document))
    other, _ = connection_set(account=account, product="Cs", auth_type="none")
    login(client, dana)
    listing = client.get("/connections/").content.decode()
    assert f"/connections/{ecs.pk}/edit/" in listing and f"/connections/{other.pk}/edit/" not in listing
    assert client.get(f"/connections/{ecs.pk}/edit/").status_code == 200
    assert client.get(f"/connections/{other.pk}/edit/").status_code == 403
    assert client.get(f"/connections/{ecs.pk}/delete/").status_code == 403
