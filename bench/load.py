"""Load with a restart on PostgreSQL: 5xx, peak database connections and lost audit events (prints figures).

    DATABASE_URL=postgres://user@host:5432/any .venv/bin/python bench/load.py   # or: make bench-load
    .venv/bin/python bench/load.py --seconds 40 --clients 300 --pool-size 20

It needs a PostgreSQL server (DATABASE_URL; its database name is not used): it creates a throwaway
database `bench_load_<random>` there and drops it at the end. It starts, each in its own process,
the upstream HTTP API of bench/runtime.py and this product under uvicorn as `make run` serves it
(uvloop, runtime.fastpath.http_protocol; no access log, no Celery worker: nothing here queues a task), on
that database with bench/runtime.py's user, 30-tool MCP server and connection, plus an AccessKey.

Then `--clients` concurrent clients, each on its own keep-alive connection, alternate between a
signed management call (`GET /apimcpservers`, ListApiMcpServers) and a tool call (stateless
`tools/call` over Streamable HTTP with a personal access token) for `--seconds`. After a quarter of
that time the product gets a SIGTERM while the load runs (uvicorn finishes the requests in flight, the
lifespan flushes the audit writer); when it has exited it is started again on the same port and
the clients reconnect. At the end it gets a second SIGTERM, and the audit trail is counted in the
database. It prints the requests answered (by kind and status), those not answered while the
server was down, the 5xx answers (must be 0), the peak of database sessions sampled from
pg_stat_activity (all the product's, which has one pool of DB_POOL_MAX_SIZE per process), and the
audit events missing for answered calls (must be 0); it exits with 1 when either is not 0.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import psycopg

ROOT = Path(__file__).resolve().parent.parent
COMMAND = ".venv/bin/python bench/load.py"
# uvicorn re-raises the SIGTERM it handled once its graceful shutdown is complete
CLEAN_EXIT = (0, -signal.SIGTERM)


def _bench_runtime() -> Any:
    """bench/runtime.py, loaded under its own name (`runtime` is this product's MCP runtime package)."""
    spec = importlib.util.spec_from_file_location("bench_runtime", ROOT / "bench" / "runtime.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_runtime"] = module
    spec.loader.exec_module(module)
    return module


br = _bench_runtime()


# The throwaway database ------------------------------------------------------------------------


class Database:
    """A fresh database on the server of DATABASE_URL; `drop()` removes it."""

    def __init__(self, server_url: str) -> None:
        parts = urlsplit(server_url)
        self.name = f"bench_load_{uuid.uuid4().hex[:10]}"
        self.url = urlunsplit(parts._replace(path=f"/{self.name}"))
        self.admin_url = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(self._conninfo(self.admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    @staticmethod
    def _conninfo(url: str) -> str:
        s = dj_database_url.parse(url)
        fields = {"host": s["HOST"], "port": s["PORT"], "user": s["USER"], "password": s["PASSWORD"]}
        info = " ".join(f"{k}={v}" for k, v in fields.items() if v)
        return f"{info} dbname={s['NAME']}"

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._conninfo(self.url), autocommit=True)

    def drop(self) -> None:
        with psycopg.connect(self._conninfo(self.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class SessionSampler:
    """The peak number of sessions on the database (but the sampler's own), sampled every 20 ms."""

    def __init__(self, database: Database) -> None:
        self.conn = database.connect()
        self.name = database.name
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        while not self._stop.is_set():
            row = self.conn.execute(query, [self.name]).fetchone()
            self.peak = max(self.peak, int(row[0]) if row else 0)
            self._stop.wait(0.02)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.close()


# This product ----------------------------------------------------------------------------------


def setup(upstream_url: str) -> tuple[str, str, dict[str, str], str, str]:
    """bench/runtime.py's user, server and connection, plus an AccessKey of that user."""
    mcp_path, token, tools = br.setup_product(upstream_url)
    from django.contrib.auth import get_user_model
    from django.db import connections

    from oauth.services import access_key_create

    key = access_key_create(user=get_user_model().objects.get(username__startswith="bench-"))
    connections.close_all()
    return mcp_path, token, tools, key.access_key_id, key.access_key_secret


def management_request(port: int, access_key_id: str, secret: str) -> tuple[bytes, bytes]:
    """A freshly signed ListApiMcpServers (ACS3-HMAC-SHA256, oauth.acs3), as a raw HTTP/1.1 request."""
    from oauth import acs3

    path = "/apimcpservers"
    headers = {
        "host": f"127.0.0.1:{port}",
        "x-acs-version": "2024-11-30",
        "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": uuid.uuid4().hex,
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
        "accept": "application/json",
    }
    headers["authorization"] = acs3.sign(
        method="GET", path=path, query=[], headers=headers, body=b"", access_key_id=access_key_id, secret=secret
    )
    head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode(), b""


class Product:
    """uvicorn serving config.asgi:application as `make run` does, restartable on one port."""

    def __init__(self, procs: Any, port: int, env: dict[str, str]) -> None:
        self.procs, self.port, self.env = procs, port, env
        self.starts = 0
        self.exit_codes: list[int] = []

    def start(self) -> None:
        self.starts += 1
        self.procs.start(
            f"product-{self.starts}",
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
            + ["--port", str(self.port), "--proxy-headers", "--no-access-log", "--log-level", "warning"]
            + ["--loop", br.SPEED["loop"], "--http", br.PRODUCT_HTTP],
            self.env,
        )
        self.procs.wait_port(f"product-{self.starts}", self.port)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then wait for uvicorn's graceful shutdown (requests in flight, then the lifespan)."""
        proc = self.procs.procs[f"product-{self.starts}"]
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout)
        self.exit_codes.append(code)
        return int(code)

    def logs(self) -> str:
        return "\n".join(self.procs.log_tail(f"product-{n}", 10_000) for n in range(1, self.starts + 1))


# The load ----------------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.status: dict[tuple[str, int], int] = {}
        self.answered = {"management": 0, "tool": 0}  # HTTP 200 and a result
        self.refused = 0  # connection attempts while the server was down
        self.cut_off = 0  # requests sent on a connection that closed before their answer
        self.samples_5xx: list[str] = []

    def count(self, kind: str, status: int, payload: bytes, headers: bytes) -> None:
        self.status[(kind, status)] = self.status.get((kind, status), 0) + 1
        if status >= 500 and len(self.samples_5xx) < 5:
            self.samples_5xx.append(f"{kind} {status}: {payload[:300]!r}")
        if status != 200:
            return
        if kind == "management" or "result" in json.loads(br.jsonrpc_body(headers, payload)):
            self.answered[kind] += 1

    def fives(self) -> int:
        return sum(n for (_, status), n in self.status.items() if status >= 500)


async def drive(
    *, port: int, clients: int, seconds: float, tool: Any, key: tuple[str, str], product: Product, tally: Tally
) -> dict[str, float]:
    """Clients alternate management and tool calls until the deadline; SIGTERM and restart after a
    quarter of the time."""
    deadline = time.monotonic() + seconds
    tool_head, tool_body = tool.request("call_small")
    times: dict[str, float] = {}

    async def client(number: int) -> None:
        conn = br.Connection(port)
        kind = "management" if number % 2 else "tool"
        while time.monotonic() < deadline:
            head, body = management_request(port, *key) if kind == "management" else (tool_head, tool_body)
            try:
                status, headers, payload = await conn.request(head, body)
            except ConnectionRefusedError:  # the server is down: try again shortly
                conn.close()
                tally.refused += 1
                await asyncio.sleep(0.25)
                continue
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                conn.close()  # sent, but the connection closed before an answer came
                tally.cut_off += 1
                continue
            tally.count(kind, status, payload, headers)
            kind = "tool" if kind == "management" else "management"
        conn.close()

    async def restart() -> None:
        await asyncio.sleep(seconds / 4)
        times["sigterm"] = time.monotonic()
        code = await asyncio.to_thread(product.stop)
        times["exited"] = time.monotonic()
        if code not in CLEAN_EXIT:
            raise RuntimeError(f"the product exited with {code} after SIGTERM:\n{product.logs()[-3000:]}")
        await asyncio.to_thread(product.start)
        times["restarted"] = time.monotonic()

    started = time.monotonic()
    await asyncio.gather(restart(), *(client(n) for n in range(clients)))
    return {k: v - started for k, v in times.items()}


def audit_counts(database: Database) -> dict[str, int]:
    from runtime.models import AuditEvent

    with database.connect() as conn:
        rows = conn.execute(f'SELECT kind, count(*) FROM "{AuditEvent._meta.db_table}" GROUP BY kind').fetchall()
    return {str(kind): int(n) for kind, n in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of the load (default 20)")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (default 200)")
    parser.add_argument("--pool-size", type=int, default=0, help="DB_POOL_MAX_SIZE of the product (default: its own)")
    args = parser.parse_args(argv)

    server_url = os.environ.get("DATABASE_URL", "")
    if not server_url.startswith(("postgres://", "postgresql://")):
        print("bench/load.py needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/any", file=sys.stderr)
        return 2
    database = Database(server_url)
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    procs = br.Processes(work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the servers and drop the database
    try:
        upstream_port, port = br.free_port(), br.free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        procs.start("upstream", [sys.executable, br.__file__, "_upstream", "--port", str(upstream_port)])
        procs.wait_port("upstream", upstream_port)

        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=database.url,
            DEBUG="0",
            SECRET_KEY=env.get("SECRET_KEY") or "bench-" + uuid.uuid4().hex,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
            MCP_STATELESS_HTTP="1",
            UPSTREAM_ALLOW_PRIVATE_URLS="1",  # the upstream is on loopback
            LOG_LEVEL="WARNING",
        )
        if args.pool_size:
            env["DB_POOL_MAX_SIZE"] = str(args.pool_size)
        os.environ.update(env)
        os.environ["DB_POOL_MAX_SIZE"] = "0"  # this process's own (setup) connection is not pooled
        mcp_path, token, tools, key_id, secret = setup(upstream_url)
        from django.conf import settings

        pool = env.get("DB_POOL_MAX_SIZE") or "10 (the default)"
        product = Product(procs, port, env)
        product.start()
        tool = br.Target("product", port, mcp_path, 0, token, tools)

        sampler = SessionSampler(database)
        sampler.start()
        tally = Tally()
        print(
            f"{os.cpu_count()} CPUs; {args.clients} clients for {args.seconds:g} s on PostgreSQL "
            f"(DB_POOL_MAX_SIZE={pool}, DB_POOL_TIMEOUT={env.get('DB_POOL_TIMEOUT') or settings.DB_POOL_TIMEOUT} s); "
            "SIGTERM and restart after a quarter of the time"
        )
        times = asyncio.run(
            drive(
                port=port,
                clients=args.clients,
                seconds=args.seconds,
                tool=tool,
                key=(key_id, secret),
                product=product,
                tally=tally,
            )
        )
        product.stop()
        sampler.stop()
        events = audit_counts(database)
        dropped_logged = product.logs().count("AUDIT EVENTS DROPPED")

        answered = tally.answered
        lost = {
            "management": max(0, answered["management"] - events.get("management", 0)),
            "tool": max(0, answered["tool"] - events.get("tool_call", 0)),
        }
        total = sum(tally.status.values())
        print(
            f"SIGTERM at {times['sigterm']:.1f} s, exited at {times['exited']:.1f} s (code "
            f"{product.exit_codes[0]}), serving again at {times['restarted']:.1f} s; final SIGTERM: code "
            f"{product.exit_codes[-1]}"
        )
        print(f"requests answered: {total} ({total / args.seconds:.0f}/s)")
        for (kind, status), n in sorted(tally.status.items()):
            print(f"  {kind:<10} HTTP {status}: {n}")
        print(f"not answered: {tally.cut_off} sent on a connection that closed before the answer")
        print(f"connection attempts refused while the server was down: {tally.refused}")
        print(f"5xx: {tally.fives()}")
        for sample in tally.samples_5xx:
            print(f"  {sample}")
        print(f"peak database connections: {sampler.peak} (one process; DB_POOL_MAX_SIZE={pool})")
        print(
            f"audit events: management {events.get('management', 0)} for {answered['management']} answered, "
            f"tool calls {events.get('tool_call', 0)} for {answered['tool']} answered"
        )
        print(f"lost audit events: {sum(lost.values())} (logged as dropped by the writer: {dropped_logged})")
        extra = f" --pool-size {args.pool_size}" if args.pool_size else ""
        print(
            f"\nreproduce: DATABASE_URL=postgres://… {COMMAND} --seconds {args.seconds:g} --clients {args.clients}"
            + extra
        )
        return 1 if tally.fives() or sum(lost.values()) else 0
    finally:
        procs.stop_all()
        database.drop()


if __name__ == "__main__":
    sys.exit(main())
