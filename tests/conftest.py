"""Shared fixtures.

alice: account admin; bob: same account, limited policy; charlie: another account's admin.
`live_server_url` runs the real ASGI application (config.asgi) under uvicorn on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT.parent / "shared" / "specs"
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def service_unavailable(what: str, reason: str) -> None:
    """Fail under REQUIRE_SERVICES=1 (CI), skip with a printed reason elsewhere."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (REQUIRE_SERVICES=1) but unavailable: {reason}")
    pytest.skip(f"{what} unavailable: {reason}")


def pytest_report_header(config: Any) -> list[str]:
    db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    return [f"database: {db}; redis: {settings.REDIS_URL or 'not configured'}; REQUIRE_SERVICES={REQUIRE_SERVICES}"]


def fresh_settings(expression: str, env: Mapping[str, str], *, drop: Callable[[str], bool]) -> tuple[int, str, Any]:
    """`expression` (over `s`, the settings) as a fresh process derives it: its environment is this
    one's without the variables `drop` names, plus `env`. (exit code, stderr, the value or None)."""
    clean = {k: v for k, v in os.environ.items() if not drop(k)}
    code = (
        f"import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({expression}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    value = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    return done.returncode, done.stderr, value


@pytest.fixture(scope="session")
def django_db_modify_db_settings() -> None:
    """Test databases are per process (runs may overlap on one machine).

    SQLite ones live in a file so threads (the live server) share them.
    """
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(ROOT / "var" / f"test-{os.getpid()}.sqlite3")
    else:
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


@pytest.fixture(scope="session", autouse=True)
def _services_in_ci() -> None:
    if REQUIRE_SERVICES and not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.fail("REQUIRE_SERVICES=1 but DATABASE_URL is not PostgreSQL")


@pytest.fixture(autouse=True)
def _system_servers_off_by_default(settings: Any) -> None:
    """Accounts get their system MCP servers (servers.system_servers) only in tests that turn them on
    with `settings.SYSTEM_SERVERS = True`: most tests count an account's servers and expect only theirs."""
    settings.SYSTEM_SERVERS = False


@pytest.fixture(autouse=True)
def _fresh_signin_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test counts failed sign-ins (oauth.throttle) from zero: every test calls from 127.0.0.1,
    and with Redis the counters would otherwise be shared with other tests and other test runs."""
    import uuid

    from oauth import throttle

    monkeypatch.setattr(throttle, "KEY_PREFIX", f"throttle-test-{uuid.uuid4().hex}")


@pytest.fixture
def redis_url() -> str:
    url = settings.REDIS_URL or os.environ.get("TEST_REDIS_URL", "")
    if not url:
        service_unavailable("Redis", "REDIS_URL is not set")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means unavailable
        service_unavailable("Redis", str(exc))
    return url


@pytest.fixture
def specs_dir() -> Path:
    if not SPECS.is_dir():
        pytest.fail(f"reference API descriptions not found at {SPECS}")
    return SPECS


# Accounts and users ------------------------------------------------------------------------


@pytest.fixture
def account_a(db: Any) -> Any:
    from oauth.services import account_create

    return account_create(name="Acme")


@pytest.fixture
def account_b(db: Any) -> Any:
    from oauth.services import account_create

    return account_create(name="Globex")


@pytest.fixture
def alice(account_a: Any) -> Any:
    from oauth.services import user_create

    return user_create(account=account_a, username="alice", password="alice-password", is_account_admin=True)


@pytest.fixture
def bob(account_a: Any) -> Any:
    """Same account as alice; may only read servers."""
    from oauth.services import policy_create, user_create

    user = user_create(account=account_a, username="bob", password="bob-password")
    policy = policy_create(
        account=account_a,
        name="ReadOnlyServers",
        document={
            "Version": "1",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["openapiexplorer:Get*", "openapiexplorer:List*"],
                    "Resource": "*",
                }
            ],
        },
    )
    user.policies.add(policy)
    return user


@pytest.fixture
def charlie(account_b: Any) -> Any:
    from oauth.services import user_create

    return user_create(account=account_b, username="charlie", password="charlie-password", is_account_admin=True)


# The real ASGI application on loopback -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _ServerThread(threading.Thread):
    def __init__(self, app: str, port: int, **config: Any) -> None:
        super().__init__(daemon=True)
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="on",
                http="runtime.fastpath.http_protocol:HttpToolsProtocol",
                **config,
            )
        )

    def run(self) -> None:
        self.server.run()


@contextlib.contextmanager
def serving(app: str = "config.asgi:application", **config: Any) -> Iterator[str]:
    """`app` under uvicorn (in a thread) on a free loopback port, with uvicorn `config` overrides."""
    port = free_port()
    thread = _ServerThread(app, port, **config)
    thread.start()
    deadline = time.monotonic() + 20
    while not thread.server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        thread.server.should_exit = True
        thread.join(10)


@pytest.fixture
def live_server_url(transactional_db: Any) -> Iterator[str]:
    """Serve config.asgi:application with uvicorn on a free loopback port."""
    with serving() as url:
        yield url


# Management API ------------------------------------------------------------------------------


@pytest.fixture
def catalog(db: Any, specs_dir: Path) -> None:
    """The real Alibaba Cloud metadata of Sts (4 APIs) and Ram (66 APIs) in the catalog."""
    from servers.catalog.services import import_alibaba_file

    for name in ("sts-2015-04-01.json", "ram-2015-05-01.json"):
        import_alibaba_file(specs_dir / "alibaba" / name)


class SignedClient:
    """Sends management API requests signed with ACS3-HMAC-SHA256 (oauth.acs3.sign) over real HTTP."""

    def __init__(self, base_url: str, access_key_id: str, secret: str) -> None:
        self.base_url = base_url
        self.access_key_id = access_key_id
        self.secret = secret

    def headers_for(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: bytes,
        *,
        action: str | None = None,
        date: str | None = None,
        nonce: str | None = None,
        secret: str | None = None,
    ) -> dict[str, str]:
        import hashlib
        import uuid
        from datetime import UTC, datetime

        from oauth import acs3

        headers = {
            "host": self.base_url.split("://", 1)[1],
            "x-acs-version": "2024-11-30",
            "x-acs-date": date or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": nonce or uuid.uuid4().hex,
            "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
            "accept": "application/json",
        }
        if action:
            headers["x-acs-action"] = action
        if body:
            headers["content-type"] = "application/json; charset=utf-8"
        headers["authorization"] = acs3.sign(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            access_key_id=self.access_key_id,
            secret=secret or self.secret,
        )
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        **sign_options: Any,
    ) -> Any:
        import json as jsonlib
        from urllib.parse import quote

        import httpx

        query = [(k, str(v)) for k, v in (params or {}).items()]
        body = content if content is not None else (b"" if json_body is None else jsonlib.dumps(json_body).encode())
        headers = self.headers_for(method, path, query, body, **sign_options)
        qs = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in query)
        url = f"{self.base_url}{path}" + (f"?{qs}" if qs else "")
        return httpx.request(method, url, content=body, headers=headers, timeout=30)


@pytest.fixture
def signed_client(live_server_url: str, close_live_server_connections: None) -> Any:
    """`signed_client(user)` → a SignedClient with a fresh AccessKey of `user`, against the live server."""
    from oauth.services import access_key_create

    def make(user: Any) -> SignedClient:
        key = access_key_create(user=user)
        return SignedClient(live_server_url, key.access_key_id, key.access_key_secret)

    return make


@pytest.fixture(scope="session")
def close_live_server_connections(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """End the database sessions that live-server threads keep open, so the test database can be dropped.

    Django keeps one connection per thread (CONN_MAX_AGE); uvicorn's sync-view thread outlives each
    live server. Set up after the test database, so it runs before the database is destroyed.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
