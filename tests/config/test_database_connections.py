"""PostgreSQL connections stay within the pool under concurrent requests, authenticated or not.

The live server (tests/conftest.py `live_server_url`) runs the real ASGI application under uvicorn
in a thread of this test process, so this process has one connection pool for the test's own
thread, the live server's sync-view threads and the MCP runtime's data threads. The test database
is this process's alone (named after its pid), so every session on it, but the counting one, is a
connection of this process. The test replaces the pool by one of 4; the sessions still open right
after (connections that threads of earlier tests took from the previous pool and still hold) are
counted first, and the peak during the burst may exceed them by at most 4.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.conftest import fresh_settings, service_unavailable


@contextlib.contextmanager
def pool_of(max_size: int, timeout: float) -> Iterator[None]:
    """This process's pool replaced by one of `max_size` connections, and the previous one after.

    Every thread's connection shares the settings dict, and Django keeps one pool per alias for the
    process, made on the next connection from the options then in the settings. The options change
    first: a thread of the live server (the runtime's background checks) may connect at any moment,
    and a pool it made between closing the old pool and changing the options would keep the old ones.
    """
    options = connection.settings_dict["OPTIONS"]
    previous = options.get("pool")
    options["pool"] = {"min_size": 1, "max_size": max_size, "timeout": timeout}
    connection.close()
    connection.close_pool()
    try:
        yield
    finally:
        options["pool"] = previous
        connection.close()
        connection.close_pool()


@pytest.fixture
def postgres() -> None:
    if connection.vendor != "postgresql":
        service_unavailable("PostgreSQL", "DATABASE_URL is not PostgreSQL")
    if not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.fail("PostgreSQL without a connection pool: DB_POOL_MAX_SIZE is 0")


@pytest.fixture
def no_signin_throttling(settings: Any) -> None:
    """Many refused credentials from one address; the throttle's own refusals are tested elsewhere."""
    settings.SIGNIN_MAX_FAILURES = 0
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = 0


class SessionCounter:
    """Samples the sessions on the test database (but its own) from a thread, keeping the peak."""

    def __init__(self) -> None:
        s = connection.settings_dict
        self.database = s["NAME"]
        self.conn = psycopg.connect(
            host=s["HOST"] or None,
            port=s["PORT"] or None,
            user=s["USER"] or None,
            password=s["PASSWORD"] or None,
            dbname=self.database,
            autocommit=True,
        )
        self.peak = 0
        self.samples = 0
        self.activity: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [self.database],
        ).fetchone()
        assert row is not None
        return int(row[0])

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.count())
            self.samples += 1
            if self.samples % 200 == 0:  # what the sessions were doing, for a failure's message
                self.activity = self.conn.execute(
                    "SELECT state, wait_event_type, wait_event, left(query, 80) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.database],
                ).fetchall()
            self._stop.wait(0.005)

    def __enter__(self) -> SessionCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)
        self.peak = max(self.peak, self.count())
        self.conn.close()


@pytest.fixture
def pool_of_four(postgres: None, live_server_url: str) -> Iterator[tuple[int, int]]:
    """(4, sessions left over): a pool of 4, and the sessions still open once the previous pool is
    closed — connections that threads of earlier tests in this process (a browser scenario's, a
    finished live server's) took from it and never gave back; they are outside the new pool."""
    # A generous wait: the test measures the bound, and the machine may be busy.
    with pool_of(4, timeout=120):
        counter = SessionCounter()
        left_over = counter.count()
        counter.conn.close()
        yield 4, left_over


async def fire(requests: list[tuple[str, str, dict[str, str]]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        return await asyncio.gather(*(client.request(method, url, headers=h) for method, url, h in requests))


@pytest.mark.services
def test_150_concurrent_requests_stay_within_the_pool(
    live_server_url, pool_of_four, alice, signed_client, no_signin_throttling
):
    client = signed_client(alice)
    base = live_server_url
    signed = [("GET", f"{base}/apimcpservers", client.headers_for("GET", "/apimcpservers", [], b"")) for _ in range(40)]
    badly_signed = [
        ("GET", f"{base}/apimcpservers", client.headers_for("GET", "/apimcpservers", [], b"", secret="wrong"))
        for _ in range(40)
    ]
    bearer = [("GET", f"{base}/apimcpservers", {"authorization": "Bearer nope"}) for _ in range(40)]
    # The MCP runtime looks servers and tokens up through its own data threads (runtime/data.py).
    mcp = [
        (
            "POST",
            f"{base}/accounts/{alice.account_id}/custom/x/id/{uuid.uuid4().hex[:16]}/mcp",
            {"authorization": f"Bearer mcp_pat_{uuid.uuid4().hex}"},
        )
        for _ in range(30)
    ]
    requests = signed + badly_signed + bearer + mcp
    assert len(requests) == 150

    with SessionCounter() as sessions:
        responses = asyncio.run(fire(requests))

    statuses = [r.status_code for r in responses]
    assert sessions.samples > 0
    size, left_over = pool_of_four
    assert 1 <= sessions.peak - left_over <= size, f"{sessions.peak} sessions, {left_over} of them from earlier tests"
    failed = [r.text[:200] for r in responses if r.status_code >= 500][:3]
    assert not failed, f"{failed}; the test database's sessions during the burst: {sessions.activity}"
    assert statuses[:40] == [200] * 40
    assert {r.json()["code"] for r in responses[40:80]} == {"SignatureDoesNotMatch"}
    assert set(statuses[80:120]) == {401}
    assert set(statuses[120:]) <= {401, 404}  # refused, whether the server or the token is looked up first


@pytest.fixture
def pool_of_one(postgres: None, live_server_url: str) -> Iterator[None]:
    with pool_of(1, timeout=0.5):
        yield


def held_connection() -> None:
    """This thread takes the pool's only connection (and keeps it until the test ends)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def assert_busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["code"] == "ServiceUnavailable"
    assert "no database connection became free" in body["message"]
    assert "Traceback" not in response.text


@pytest.mark.services
def test_the_management_api_answers_503_when_no_connection_frees_up(live_server_url, pool_of_one):
    held_connection()
    assert_busy(httpx.get(f"{live_server_url}/apimcpservers", headers={"authorization": "Bearer nope"}, timeout=30))


@pytest.mark.services
def test_a_console_page_answers_503_when_no_connection_frees_up(live_server_url, pool_of_one):
    held_connection()
    # A session cookie makes the page look the session up in the database.
    response = httpx.get(f"{live_server_url}/", cookies={"sessionid": "x" * 32}, timeout=30)
    assert_busy(response)


@pytest.mark.services
def test_an_mcp_endpoint_answers_503_when_no_connection_frees_up(live_server_url, pool_of_one):
    held_connection()
    response = httpx.post(
        f"{live_server_url}/accounts/1/custom/x/id/{uuid.uuid4().hex[:16]}/mcp",
        headers={"authorization": f"Bearer mcp_pat_{uuid.uuid4().hex}"},
        timeout=30,
    )
    assert_busy(response)


@pytest.mark.services
def test_requests_are_served_again_once_a_connection_is_free(live_server_url, pool_of_one):
    held_connection()
    assert_busy(httpx.get(f"{live_server_url}/apimcpservers", headers={"authorization": "Bearer nope"}, timeout=30))
    connection.close()  # back to the pool
    again = httpx.get(f"{live_server_url}/apimcpservers", headers={"authorization": "Bearer nope"}, timeout=30)
    assert again.status_code == 401


def database_settings(**env: str) -> dict[str, Any]:
    """The database settings a fresh process derives from `env` (no connection is made)."""
    code, err, value = fresh_settings(
        "{'pool': s.DATABASES['default']['OPTIONS'].get('pool'), 'age': s.DATABASES['default']['CONN_MAX_AGE']}",
        env,
        drop=lambda k: k.startswith("DB_"),
    )
    return {"rc": code, "err": err, **(value or {})}


def test_postgresql_gets_a_pool_sized_by_the_settings_and_no_persistent_connections():
    url = "postgres://app@db.invalid:5432/app"
    assert database_settings(DATABASE_URL=url) == {
        "rc": 0,
        "err": "",
        "pool": {"min_size": 2, "max_size": 10, "timeout": 10},
        "age": 0,
    }
    sized = database_settings(DATABASE_URL=url, DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="25", DB_POOL_TIMEOUT="3")
    assert sized["pool"] == {"min_size": 1, "max_size": 25, "timeout": 3}
    assert database_settings(DATABASE_URL=url, DB_POOL_MAX_SIZE="0")["pool"] is None  # e.g. behind PgBouncer


def test_contradictory_or_removed_database_settings_stop_start_up():
    url = "postgres://app@db.invalid:5432/app"
    too_small = database_settings(DATABASE_URL=url, DB_POOL_MIN_SIZE="5", DB_POOL_MAX_SIZE="2")
    assert too_small["rc"] != 0 and "DB_POOL_MIN_SIZE <= DB_POOL_MAX_SIZE" in too_small["err"]
    removed = database_settings(DATABASE_URL=url, DB_CONN_MAX_AGE="60")
    assert removed["rc"] != 0 and "DB_CONN_MAX_AGE is gone" in removed["err"]


def wait_for_waiters(at_least: int) -> int:
    """Poll the pool until `at_least` requests wait for a connection and their number settles."""
    pool = connection.pool
    seen, settled_at = -1, time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = pool.get_stats()["requests_waiting"]
        if waiting != seen:
            seen, settled_at = waiting, time.monotonic()
        elif waiting >= at_least and time.monotonic() - settled_at > 0.5:
            return waiting
        time.sleep(0.02)
    pytest.fail(f"{seen} requests waited for a connection, expected at least {at_least}")


@pytest.fixture
def pool_of_one_slow(postgres: None, live_server_url: str) -> Iterator[None]:
    with pool_of(1, timeout=8):
        yield


@pytest.mark.services
def test_a_refusal_holding_the_last_connection_is_not_stuck_behind_mcp_lookups(live_server_url, pool_of_one_slow):
    """A refused management request logs its 4xx in a worker thread while its request thread still
    holds a connection; MCP lookups waiting for that connection must not occupy every such worker."""
    held_connection()
    answers: dict[str, httpx.Response] = {}

    def get(name: str, method: str, url: str, headers: dict[str, str]) -> None:
        answers[name] = httpx.request(method, url, headers=headers, timeout=60)

    refused = threading.Thread(
        target=get, args=("refused", "GET", f"{live_server_url}/apimcpservers", {"authorization": "Bearer nope"})
    )
    refused.start()
    wait_for_waiters(1)  # the refused request is first in line for the connection
    lookups = [
        threading.Thread(
            target=get,
            args=(
                f"mcp{i}",
                "POST",
                f"{live_server_url}/accounts/1/custom/x/id/{uuid.uuid4().hex[:16]}/mcp",
                {"authorization": f"Bearer mcp_pat_{uuid.uuid4().hex}"},
            ),
        )
        for i in range(40)
    ]
    for t in lookups:
        t.start()
    wait_for_waiters(2)
    connection.close()  # the connection goes to the refused request
    for t in [refused, *lookups]:
        t.join(60)
    assert answers["refused"].status_code == 401, answers["refused"].text
    statuses = sorted(r.status_code for name, r in answers.items() if name != "refused")
    assert len(statuses) == 40 and set(statuses) <= {401, 404}, statuses


@pytest.fixture
def pool_of_eight(postgres: None, live_server_url: str) -> Iterator[None]:
    with pool_of(8, timeout=5):
        yield


def wait_for_all_connections_back() -> dict[str, int]:
    """The pool's counts once every connection it made is back in it (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        stats = connection.pool.get_stats()
        if stats["pool_available"] == stats["pool_size"] or time.monotonic() > deadline:
            return stats
        time.sleep(0.02)


@pytest.mark.services
def test_error_pages_give_their_connections_back(live_server_url, pool_of_eight, alice):
    """Django renders the page for an unknown URL in one of the event loop's default threads, and
    naming the signed-in user there reads the session and the user: that thread's connection goes
    back to the pool when the page is done (config.database.ConnectionClosingExecutor)."""
    signed_in = Client()
    signed_in.force_login(alice)
    cookies = {settings.SESSION_COOKIE_NAME: signed_in.cookies[settings.SESSION_COOKIE_NAME].value}
    connection.close()

    async def unknown_pages() -> list[httpx.Response]:
        async with httpx.AsyncClient(cookies=cookies, timeout=30) as client:
            return await asyncio.gather(*(client.get(f"{live_server_url}/no-such-page-{i}/") for i in range(12)))

    pages = asyncio.run(unknown_pages())
    assert [p.status_code for p in pages] == [404] * 12
    assert all(b"alice" in p.content for p in pages)
    stats = wait_for_all_connections_back()
    assert stats["pool_size"] >= 1 and stats["pool_available"] == stats["pool_size"], stats
