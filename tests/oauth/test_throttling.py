"""Sign-in throttling (oauth.throttle, oauth.signin): console login, OAuth token endpoint, AccessKey
signatures and bearer tokens of the management API. Time moves through the throttle's clock."""

from __future__ import annotations

import base64
import hashlib
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from oauth import throttle
from runtime.models import AuditEvent

WINDOW = 900


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, settings: Any) -> list[float]:
    """The throttle's clock, 10 s into a window; `clock[0] += WINDOW` moves to the next one."""
    settings.SIGNIN_MAX_FAILURES = 3
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = 5
    settings.SIGNIN_LOCKOUT_SECONDS = WINDOW
    now = [WINDOW * 2_000_000 + 10.0]
    monkeypatch.setattr(throttle, "clock", lambda: now[0])
    return now


def login(client: Client, username: str, password: str, address: str = "198.51.100.1", **extra: Any) -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# Console login -----------------------------------------------------------------------------------


def test_wrong_passwords_lock_the_user_and_the_right_one_is_refused_until_the_window_ends(client, alice, clock):
    for _ in range(3):
        assert login(client, "alice", "wrong").status_code == 200
    refused = login(client, "alice", "alice-password")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == WINDOW - 10
    assert "Too many failed sign-in attempts for this user; try again in 15 minutes" in refused.content.decode()
    assert not signed_in(client)

    clock[0] += WINDOW
    assert login(client, "alice", "alice-password").status_code == 302
    assert signed_in(client)


def test_the_lock_is_per_user_not_per_spelling_and_leaves_other_users_alone(client, alice, bob, clock):
    for name in ("alice", "ALICE", " Alice"):
        login(client, name, "wrong", address="198.51.100.1")
    assert login(client, "alice", "alice-password", address="198.51.100.2").status_code == 429
    assert login(client, "bob", "bob-password", address="198.51.100.2").status_code == 302


def test_unknown_usernames_are_locked_alike(client, db, clock, caplog):
    for _ in range(3):
        assert login(client, "nobody", "guess").status_code == 200
    assert login(client, "nobody", "guess").status_code == 429
    assert not AuditEvent.objects.exists()  # no account to file it in, so only a warning says so
    assert any(r.name == "oauth.signin" and "user nobody" in r.getMessage() for r in caplog.records)


def test_failures_count_per_address_across_usernames(client, alice, bob, charlie, clock):
    for name in ("alice", "alice", "nobody", "bob", "bob"):
        assert login(client, name, "wrong", address="203.0.113.9").status_code == 200
    locked = AuditEvent.objects.get(kind=AuditEvent.KIND_SIGNIN, error_code="Throttling")
    assert (locked.account_id, locked.username) == (bob.account_id, "bob")  # filed with the fifth failure
    assert "5 failed attempts for address 203.0.113.9" in locked.error_message
    refused = login(client, "charlie", "charlie-password", address="203.0.113.9")
    assert refused.status_code == 429
    assert "from your address" not in refused.content.decode()  # it says "for your address"
    assert "for your address" in refused.content.decode()
    assert login(client, "charlie", "charlie-password", address="203.0.113.10").status_code == 302


def test_a_success_forgets_the_users_failures_but_not_the_addresss(client, alice, bob, clock):
    for _ in range(2):
        login(client, "alice", "wrong")
    assert login(client, "alice", "alice-password").status_code == 302
    client.post("/logout/")
    for _ in range(2):  # two more: alice's own count restarted from zero, so she is not locked
        login(client, "alice", "wrong")
    assert login(client, "alice", "alice-password").status_code == 302
    client.post("/logout/")
    login(client, "bob", "wrong")  # the address's fifth failure: signing in elsewhere reset nothing
    assert login(client, "bob", "bob-password").status_code == 429


def test_ipv6_addresses_count_per_64(client, alice, bob, clock):
    for n in range(5):
        login(client, f"nobody{n}", "guess", address=f"2001:db8:1:2::{n + 1}")
    assert login(client, "bob", "bob-password", address="2001:db8:1:2::ffff").status_code == 429
    assert login(client, "bob", "bob-password", address="2001:db8:1:3::1").status_code == 302


def test_the_forwarded_address_counts_only_behind_a_trusted_proxy(client, bob, clock, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(5):
        login(client, f"nobody{n}", "guess", address="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.50")
    behind_proxy = login(client, "bob", "bob-password", address="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.51")
    assert behind_proxy.status_code == 302  # another client behind the same proxy
    # an untrusted peer's X-Forwarded-For is ignored: its own address is counted
    for n in range(5):
        login(client, f"nobody{n}", "guess", address="192.0.2.60", HTTP_X_FORWARDED_FOR="192.0.2.61")
    assert (
        login(client, "bob", "bob-password", address="192.0.2.60", HTTP_X_FORWARDED_FOR="192.0.2.62").status_code == 429
    )


def test_failed_logins_and_the_lock_are_audited_in_the_users_account(client, alice, clock):
    for _ in range(3):
        login(client, "alice", "secret-guess", address="198.51.100.7")
    events = AuditEvent.objects.filter(kind=AuditEvent.KIND_SIGNIN, account_id=alice.account_id).order_by("id")
    assert [e.error_code for e in events] == ["InvalidCredentials"] * 3 + ["Throttling.User"]
    locked = events.last()
    assert locked.user_id == alice.pk and locked.username == "alice"
    assert locked.action == "signin:ConsoleLogin" and locked.outcome == "denied"
    assert locked.source_ip == "198.51.100.7"
    assert "3 failed attempts for user alice" in locked.error_message
    assert all("secret-guess" not in str(e.arguments) + e.error_message for e in events)
    login(client, "alice", "alice-password", address="198.51.100.7")  # refused: no further event
    assert events.count() == 4


def test_a_limit_of_zero_turns_it_off(client, alice, clock, settings):
    settings.SIGNIN_MAX_FAILURES = 0
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = 0
    for _ in range(12):
        login(client, "alice", "wrong")
    assert login(client, "alice", "alice-password").status_code == 302


# OAuth token endpoint ------------------------------------------------------------------------------

VERIFIER = "v" * 64
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
REDIRECT = "http://127.0.0.1/cb"


def application(user: Any, *, client_id: str, confidential: bool = False, secret: str = "") -> Any:
    from oauth2_provider.models import Application

    return Application.objects.create(
        name=client_id,
        user=user,
        client_id=client_id,
        client_secret=secret or "unused-public-secret",
        client_type=Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT,
    )


def grant(user: Any, app: Any, code: str) -> None:
    from oauth2_provider.models import Grant

    Grant.objects.create(
        user=user,
        application=app,
        code=code,
        expires=timezone.now() + timedelta(minutes=10),
        redirect_uri=REDIRECT,
        scope="/acs/mcp-server",
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
    )


def token(client: Client, code: str, address: str, client_id: str = "mcp-client", **extra: str) -> Any:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "client_id": client_id,
        **extra,
    }
    return client.post("/oauth/token/", data, REMOTE_ADDR=address)


def test_guessed_codes_lock_the_address_and_then_even_a_real_code_is_refused(client, alice, clock):
    app = application(alice, client_id="mcp-client")
    grant(alice, app, "the-real-code")
    for n in range(5):
        wrong = token(client, f"guess-{n}", "198.51.100.20")
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    refused = token(client, "the-real-code", "198.51.100.20")
    assert refused.status_code == 429
    assert refused.json()["error"] == "slow_down"
    assert "Too many failed sign-in attempts for your address" in refused.json()["error_description"]
    assert int(refused["Retry-After"]) == WINDOW - 10
    assert refused["Cache-Control"] == "no-store"

    clock[0] += WINDOW
    issued = token(client, "the-real-code", "198.51.100.20")
    assert issued.status_code == 200, issued.content
    assert issued.json()["access_token"]


def test_a_public_clients_id_is_not_locked_by_a_strangers_guesses(client, alice, clock):
    app = application(alice, client_id="mcp-client")
    grant(alice, app, "the-real-code")
    for n in range(8):
        token(client, f"guess-{n}", f"198.51.100.{30 + n % 2}")
    assert token(client, "the-real-code", "198.51.100.40").status_code == 200


def test_wrong_client_secrets_lock_a_confidential_client(client, alice, clock):
    app = application(alice, client_id="backend", confidential=True, secret="the-client-secret")
    grant(alice, app, "backend-code")
    for n in range(3):  # from three addresses: the client's own count reaches its limit
        wrong = token(client, "backend-code", f"198.51.100.{50 + n}", client_id="backend", client_secret="nope")
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    refused = token(client, "backend-code", "198.51.100.60", client_id="backend", client_secret="the-client-secret")
    assert refused.status_code == 429
    assert "for this client" in refused.json()["error_description"]
    event = AuditEvent.objects.get(kind=AuditEvent.KIND_SIGNIN, error_code="Throttling.User")
    assert event.account_id == alice.account_id and event.client_id == "backend"
    assert event.action == "signin:OAuthToken"

    clock[0] += WINDOW
    basic = base64.b64encode(b"backend:the-client-secret").decode()
    issued = client.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": "backend-code",
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
        },
        REMOTE_ADDR="198.51.100.60",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert issued.status_code == 200, issued.content


def test_wrong_client_secrets_at_the_revocation_endpoint_count_too(client, alice, clock):
    application(alice, client_id="backend", confidential=True, secret="the-client-secret")
    for _ in range(3):
        wrong = client.post(
            "/oauth/revoke_token/",
            {"token": "x", "client_id": "backend", "client_secret": "nope"},
            REMOTE_ADDR="198.51.100.70",
        )
        assert wrong.status_code == 401
    refused = client.post(
        "/oauth/revoke_token/",
        {"token": "x", "client_id": "backend", "client_secret": "the-client-secret"},
        REMOTE_ADDR="198.51.100.71",
    )
    assert refused.status_code == 429 and refused.json()["error"] == "slow_down"


# Management API: AccessKey signatures and bearer tokens ------------------------------------------


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def test_wrong_secrets_lock_the_accesskey(alice, catalog, signed_client, clock):
    client = signed_client(alice)
    for _ in range(3):
        assert error(client.request("GET", "/apimcpservers", secret="not-the-secret")) == (400, "SignatureDoesNotMatch")
    refused = client.request("GET", "/apimcpservers")
    assert error(refused) == (429, "Throttling.User")
    assert "for this AccessKey" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) == WINDOW - 10
    assert refused.json()["requestId"]
    event = AuditEvent.objects.get(kind=AuditEvent.KIND_SIGNIN)
    assert (event.account_id, event.user_id, event.error_code) == (alice.account_id, alice.pk, "Throttling.User")
    assert event.action == "signin:AccessKey" and event.source_ip == "127.0.0.1"

    other_key = signed_client(alice)  # another key of the same user is not locked
    assert other_key.request("GET", "/apimcpservers").status_code == 200

    clock[0] += WINDOW
    assert client.request("GET", "/apimcpservers").status_code == 200


def test_unknown_accesskeys_lock_the_address(alice, catalog, signed_client, clock):
    client = signed_client(alice)
    real_id = client.access_key_id
    client.access_key_id = "LTAIguessed"
    for _ in range(5):
        assert error(client.request("GET", "/apimcpservers")) == (404, "InvalidAccessKeyId.NotFound")
    client.access_key_id = real_id
    assert error(client.request("GET", "/apimcpservers")) == (429, "Throttling")


def test_unknown_bearer_tokens_lock_the_address(client, alice, clock):
    from tests.runtime.test_mcp_auth import dot_token

    real = dot_token(alice, scope="openapiexplorer")
    for n in range(5):
        wrong = client.get("/mcpSystemTools", HTTP_AUTHORIZATION=f"Bearer guess-{n}", REMOTE_ADDR="198.51.100.80")
        assert error(wrong) == (401, "InvalidToken")
    refused = client.get("/mcpSystemTools", HTTP_AUTHORIZATION=f"Bearer {real}", REMOTE_ADDR="198.51.100.80")
    assert error(refused) == (429, "Throttling")
    assert refused["Retry-After"]
    assert (
        client.get("/mcpSystemTools", HTTP_AUTHORIZATION=f"Bearer {real}", REMOTE_ADDR="198.51.100.81").status_code
        == 200
    )


def test_management_calls_see_the_address_behind_a_trusted_proxy(client, alice, settings):
    from tests.runtime.test_mcp_auth import dot_token

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    real = dot_token(alice, scope="openapiexplorer")
    response = client.get(
        "/mcpSystemTools",
        HTTP_AUTHORIZATION=f"Bearer {real}",
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="192.0.2.99",
    )
    assert response.status_code == 200
    assert AuditEvent.objects.get(kind=AuditEvent.KIND_MANAGEMENT).source_ip == "192.0.2.99"


# Redis: shared by processes, atomic counting with an expiry ------------------------------------------


@pytest.fixture
def redis_cache(redis_url: str, settings: Any) -> str:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    return redis_url


def test_login_throttling_works_on_redis(client, alice, clock, redis_cache):
    for _ in range(3):
        login(client, "alice", "wrong")
    assert login(client, "alice", "alice-password").status_code == 429
    clock[0] += WINDOW
    assert login(client, "alice", "alice-password").status_code == 302


def test_concurrent_failures_on_redis_are_all_counted_and_expire(db, clock, redis_cache, settings):
    import redis

    settings.SIGNIN_MAX_FAILURES = 1000
    counter = throttle.for_user("login", "someone")
    threads = [threading.Thread(target=lambda: [throttle.fail(counter) for _ in range(10)]) for _ in range(8)]
    for t in threads:  # each thread has its own cache connection, as separate processes do
        t.start()
    for t in threads:
        t.join(30)
    assert throttle.check(counter)[counter] == 80

    keys = redis.Redis.from_url(redis_cache).keys(f"*{throttle.KEY_PREFIX}:login:user:*")
    assert len(keys) == 1
    ttl = redis.Redis.from_url(redis_cache).ttl(keys[0])
    assert WINDOW - 10 < ttl <= WINDOW - 10 + 300  # the window's rest plus the margin: it goes away


# The counters themselves ---------------------------------------------------------------------------


def test_address_units():
    assert throttle.address_key("198.51.100.7") == "198.51.100.7"
    assert throttle.address_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert throttle.address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert throttle.address_key("not-an-ip") == "not-an-ip"


def test_messages_name_the_wait():
    assert throttle.describe_seconds(1) == "1 second"
    assert throttle.describe_seconds(45) == "45 seconds"
    assert throttle.describe_seconds(890) == "15 minutes"
