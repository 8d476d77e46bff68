"""oauth.services: validation (each bad input named precisely, nothing written), secrets kept
or dropped on update, the selectors, the change event, and `manage.py set_connection` on top of it."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from oauth.models import Connection
from oauth.selectors import connection_get, connections_for_account
from oauth.services import connection_delete, connection_set
from servers import events
from servers.errors import ApiError

pytestmark = pytest.mark.django_db

AK = {"config": {"access_key_id": "LTAIexample"}, "secrets": {"access_key_secret": "ak-secret-1"}}
OAUTH = {"config": {"token_url": "https://id.example.com/token", "client_id": "c1"}, "secrets": {"client_secret": "cs"}}


def set_(account: Any, **kwargs: Any) -> tuple[Connection, bool]:
    return connection_set(account=account, **{"product": "Ecs", "auth_type": "none"} | kwargs)


AK_ = {"auth_type": "alibaba_ak", **AK}
KEY = {"auth_type": "api_key", "secrets": {"api_key": "k"}}
BEARER = {"auth_type": "bearer", "secrets": {"token": "t"}}
CC = {"auth_type": "oauth2_client_credentials", **OAUTH}
URL = "InvalidParam.BaseUrl"
REGIONS = "InvalidParam.RegionEndpoints"

BAD_INPUTS = [
    ({"product": ""}, "Missing.Product", "product"),
    ({"product": "   "}, "Missing.Product", "product"),
    ({"product": "E" * 65}, "InvalidParam.Product", "product"),
    ({"product": "my product"}, "InvalidParam.Product", "product"),
    ({"product": "Ecs/*"}, "InvalidParam.Product", "product"),
    ({"auth_type": ""}, "Missing.AuthType", "authType"),
    ({"auth_type": "kerberos"}, "InvalidParam.AuthType", "authType"),
    ({"base_url": "ftp://files.example.com"}, URL, "baseUrl"),
    ({"base_url": "api.example.com"}, URL, "baseUrl"),
    ({"base_url": "https://"}, URL, "baseUrl"),
    ({"base_url": "https://api.example.com/v1?key=1"}, URL, "baseUrl"),
    ({"base_url": "https://api.example.com:99999"}, URL, "baseUrl"),
    ({"base_url": "https://api.example.com/" + "a" * 500}, URL, "baseUrl"),
    ({"region_endpoints": {"cn hangzhou": "https://ecs.example.com"}}, REGIONS, "regionEndpoints"),
    ({"region_endpoints": {"cn-hangzhou": "ecs.example.com"}}, REGIONS, "regionEndpoints"),
    ({"region_endpoints": {"cn-hangzhou": 5}}, REGIONS, "regionEndpoints"),
    ({"default_region": "cn hangzhou"}, "InvalidParam.DefaultRegion", "defaultRegion"),
    ({**AK_, "config": {}}, "Missing.AuthConfig.AccessKeyId", "authConfig.accessKeyId"),
    ({**AK_, "config": {"access_key_id": "LTAI x"}}, "InvalidParam.AuthConfig.AccessKeyId", "authConfig.accessKeyId"),
    ({**AK_, "secrets": {}}, "Missing.Secrets.AccessKeySecret", "secrets.accessKeySecret"),
    ({**KEY, "secrets": {}}, "Missing.Secrets.ApiKey", "secrets.apiKey"),
    ({**KEY, "config": {"in": "cookie"}}, "InvalidParam.AuthConfig.In", "authConfig.in"),
    ({**KEY, "config": {"name": "X Api Key"}}, "InvalidParam.AuthConfig.Name", "authConfig.name"),
    ({**KEY, "config": {"prefix": "Token\r\nX-Evil: 1"}}, "InvalidParam.AuthConfig.Prefix", "authConfig.prefix"),
    ({**BEARER, "secrets": {}}, "Missing.Secrets.Token", "secrets.token"),
    ({**BEARER, "secrets": {"token": "line1\nline2"}}, "InvalidParam.Secrets.Token", "secrets.token"),
    ({**BEARER, "secrets": {"token": 5}}, "InvalidParam.Secrets.Token", "secrets.token"),
    ({**BEARER, "secrets": {"token": "t", "api_key": "k"}}, "InvalidParam.Secrets.ApiKey", "secrets.apiKey"),
    ({**BEARER, "config": {"username": "u"}}, "InvalidParam.AuthConfig.Username", "authConfig.username"),
    ({**BEARER, "config": {"colour": "red"}}, "InvalidParam.UnknownField", "authConfig"),
    ({**BEARER, "secrets": {"pin": "1234"}}, "InvalidParam.UnknownField", "secrets"),
    ({"auth_type": "basic"}, "Missing.AuthConfig.Username", "authConfig.username"),
    ({"auth_type": "basic", "config": {"username": "a:b"}}, "InvalidParam.AuthConfig.Username", "authConfig.username"),
    (
        {**CC, "config": {"token_url": "id.example.com", "client_id": "c"}},
        "InvalidParam.AuthConfig.TokenUrl",
        "authConfig.tokenUrl",
    ),
    ({**CC, "config": {"token_url": "https://id.example.com/t"}}, "Missing.AuthConfig.ClientId", "authConfig.clientId"),
    ({**CC, "secrets": {}}, "Missing.Secrets.ClientSecret", "secrets.clientSecret"),
    (
        {**CC, "config": {**OAUTH["config"], "client_auth": "jwt"}},
        "InvalidParam.AuthConfig.ClientAuth",
        "authConfig.clientAuth",
    ),
    ({"connect_timeout": 0}, "InvalidParam.ConnectTimeout", "connectTimeout"),
    ({"connect_timeout": 601}, "InvalidParam.ConnectTimeout", "connectTimeout"),
    ({"connect_timeout": True}, "InvalidParam.ConnectTimeout", "connectTimeout"),
    ({"read_timeout": -1.5}, "InvalidParam.ReadTimeout", "readTimeout"),
    ({"read_timeout": float("nan")}, "InvalidParam.ReadTimeout", "readTimeout"),
    ({"read_timeout": "30"}, "InvalidParam.ReadTimeout", "readTimeout"),
]


@pytest.mark.parametrize(("kwargs", "code", "field"), BAD_INPUTS, ids=[c for _, c, _ in BAD_INPUTS])
def test_it_names_each_bad_input_and_writes_nothing(alice: Any, kwargs: dict[str, Any], code: str, field: str) -> None:
    with pytest.raises(ApiError) as caught:
        set_(alice.account, **kwargs)
    assert (caught.value.code, caught.value.field, caught.value.status) == (code, field, 400)
    assert field.split(".")[-1].lower() in caught.value.message.lower()
    assert not Connection.objects.exists()


def test_a_refused_update_changes_nothing(alice: Any) -> None:
    connection, _ = set_(alice.account, auth_type="bearer", base_url="https://a.example.com", secrets={"token": "t1"})
    before = Connection.objects.values().get(pk=connection.pk)
    with pytest.raises(ApiError):
        set_(alice.account, auth_type="bearer", base_url="https://b.example.com", read_timeout=0)
    assert Connection.objects.values().get(pk=connection.pk) == before


def test_credentials_in_a_url_are_refused_without_echoing_them(alice: Any) -> None:
    with pytest.raises(ApiError) as caught:
        set_(alice.account, base_url="https://user:hunter2@api.example.com")
    assert caught.value.code == "InvalidParam.BaseUrl" and "hunter2" not in caught.value.message


def test_a_user_of_another_account_is_refused(alice: Any, charlie: Any) -> None:
    with pytest.raises(ApiError) as caught:
        set_(alice.account, user=charlie)
    assert (caught.value.code, caught.value.field) == ("InvalidParam.UserName", "userName")


def test_it_creates_then_replaces_matching_the_product_case_insensitively(alice: Any) -> None:
    first, created = set_(alice.account, auth_type="alibaba_ak", default_region="cn-hangzhou", **AK)
    assert created is True
    assert first.auth_config == {"access_key_id": "LTAIexample"}
    assert first.get_secrets() == {"access_key_secret": "ak-secret-1"}
    again, created = set_(
        alice.account,
        product="ECS",
        region_endpoints={"cn-beijing": "http://127.0.0.1:9/"},
        connect_timeout=2,
        read_timeout=7.5,
    )
    assert created is False and again.pk == first.pk
    again.refresh_from_db()
    assert again.product == "ECS" and again.auth_type == "none" and again.default_region == ""
    assert again.region_endpoints == {"cn-beijing": "http://127.0.0.1:9/"}
    assert (again.connect_timeout, again.read_timeout) == (2.0, 7.5)
    assert again.get_secrets() == {}  # another auth type: the AccessKey secret is gone
    assert Connection.objects.count() == 1


def test_defaults_are_stored_for_api_keys_and_client_credentials(alice: Any) -> None:
    key, _ = set_(alice.account, product="Widgets", auth_type="api_key", secrets={"api_key": "k"})
    assert key.auth_config == {"name": "X-Api-Key", "in": "header", "prefix": ""}
    oauth, _ = set_(alice.account, product="Billing", auth_type="oauth2_client_credentials", **OAUTH)
    assert oauth.auth_config == {
        "token_url": "https://id.example.com/token",
        "client_id": "c1",
        "scope": "",
        "client_auth": "basic",
    }


def test_an_empty_secret_keeps_the_stored_one(alice: Any) -> None:
    set_(
        alice.account,
        auth_type="alibaba_ak",
        config=AK["config"],
        secrets={"access_key_secret": "s1", "security_token": "sts1"},
    )
    connection, _ = set_(alice.account, auth_type="alibaba_ak", config=AK["config"], secrets={"access_key_secret": ""})
    assert connection.get_secrets() == {"access_key_secret": "s1", "security_token": "sts1"}
    connection, _ = set_(alice.account, auth_type="alibaba_ak", config=AK["config"])
    assert connection.get_secrets() == {"access_key_secret": "s1", "security_token": "sts1"}


def test_a_new_access_key_secret_drops_the_sts_token_of_the_old_pair(alice: Any) -> None:
    set_(
        alice.account,
        auth_type="alibaba_ak",
        config=AK["config"],
        secrets={"access_key_secret": "s1", "security_token": "sts1"},
    )
    connection, _ = set_(
        alice.account, auth_type="alibaba_ak", config=AK["config"], secrets={"access_key_secret": "s2"}
    )
    assert connection.get_secrets() == {"access_key_secret": "s2"}


def test_a_stored_secret_is_not_kept_for_another_credential(alice: Any) -> None:
    set_(alice.account, auth_type="alibaba_ak", **AK)
    with pytest.raises(ApiError) as caught:
        set_(alice.account, auth_type="alibaba_ak", config={"access_key_id": "LTAIother"})
    assert caught.value.code == "Missing.Secrets.AccessKeySecret"
    assert "authConfig.accessKeyId" in caught.value.message
    set_(alice.account, auth_type="oauth2_client_credentials", product="Billing", **OAUTH)
    with pytest.raises(ApiError) as caught:
        set_(
            alice.account,
            auth_type="oauth2_client_credentials",
            product="Billing",
            config={"token_url": "https://evil.example.com/token", "client_id": "c1"},
        )
    assert caught.value.code == "Missing.Secrets.ClientSecret"


def test_secrets_are_encrypted_at_rest(alice: Any) -> None:
    connection, _ = set_(alice.account, auth_type="bearer", secrets={"token": "tok-plain-value"})
    raw = Connection.objects.values_list("secrets_encrypted", flat=True).get(pk=connection.pk)
    assert raw and "tok-plain-value" not in raw


def test_a_users_own_connection_is_separate_from_the_accounts(alice: Any, bob: Any) -> None:
    shared, _ = set_(alice.account, base_url="https://shared.example.com")
    own, created = set_(alice.account, user=bob, base_url="https://bob.example.com")
    assert created and own.pk != shared.pk
    assert [(c.product, c.user_id) for c in connections_for_account(alice.account_id)] == [
        ("Ecs", None),
        ("Ecs", bob.pk),
    ]


def test_selectors_keep_to_the_account(alice: Any, charlie: Any) -> None:
    connection, _ = set_(alice.account)
    assert connection_get(alice.account_id, str(connection.pk)) == connection
    others: list[tuple[str, int | str]] = [(charlie.account_id, connection.pk), (alice.account_id, "abc")]
    for account_id, pk in [*others, (alice.account_id, 999999)]:
        with pytest.raises(ApiError) as caught:
            connection_get(account_id, pk)
        assert (caught.value.code, caught.value.status) == ("NotFound.Connection", 404)
    with pytest.raises(ApiError) as caught:
        connection_get(alice.account_id, "")
    assert caught.value.code == "Missing.Id"
    assert list(connections_for_account(charlie.account_id)) == []


def test_saving_and_deleting_announce_a_connection_event(
    alice: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[tuple[str, str]] = []
    monkeypatch.setattr(events, "publish", lambda topic, key: published.append((topic, key)))
    with django_capture_on_commit_callbacks(execute=True):
        connection, _ = set_(alice.account)
    pk = str(connection.pk)
    with django_capture_on_commit_callbacks(execute=True):
        connection_delete(connection=connection)
    assert published == [("connection", pk), ("connection", pk)]
    assert not Connection.objects.exists()


# manage.py set_connection ------------------------------------------------------------------------


def command(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("set_connection", *args, stdout=out)
    return dict(json.loads(out.getvalue()))


def test_the_command_writes_through_the_service(alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    account = alice.account_id
    monkeypatch.setenv("MCP_CONN_API_KEY", "not-for-bearer")  # another type's secret is ignored
    first = command("--account", account, "--product", "GitHub", "--auth", "bearer", "--token", "ghp_x")
    assert first == {"id": first["id"], "created": True, "product": "GitHub", "auth": "bearer"}
    assert Connection.objects.get(pk=first["id"]).get_secrets() == {"token": "ghp_x"}
    again = command(
        "--account", account, "--product", "GitHub", "--auth", "bearer", "--base-url", "https://api.github.com"
    )
    assert again == {"id": first["id"], "created": False, "product": "GitHub", "auth": "bearer"}
    assert Connection.objects.get(pk=first["id"]).get_secrets() == {"token": "ghp_x"}  # kept
    user = command("--account", account, "--user", "alice", "--product", "Ecs", "--auth", "alibaba-ak",
                   "--access-key-id", "LTAIx", "--access-key-secret", "s",
                   "--region-endpoint", "cn-hangzhou=https://ecs-vpc.cn-hangzhou.aliyuncs.com")  # fmt: skip
    stored = Connection.objects.get(pk=user["id"])
    assert stored.user == alice and stored.region_endpoints == {
        "cn-hangzhou": "https://ecs-vpc.cn-hangzhou.aliyuncs.com"
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth", "alibaba-ak", "--access-key-id", "LTAIx"], "--access-key-secret: secrets.accessKeySecret is"),
        (["--auth", "oauth2-client-credentials", "--token-url", "id.example.com", "--client-id", "c",
          "--client-secret", "s"], "--token-url: authConfig.tokenUrl must be an http:// or https:// URL"),
        (["--base-url", "ftp://x"], "--base-url: baseUrl must be an http:// or https:// URL"),
        (["--read-timeout", "0"], "--read-timeout: readTimeout must be between 0.1 and 600 seconds"),
    ],
)  # fmt: skip
def test_the_command_names_the_option_at_fault(alice: Any, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("*", r"\*").replace("?", r"\?")):
        command("--account", alice.account_id, "--product", "Ecs", *args)
    assert not Connection.objects.exists()
