"""End-to-end figures of the MCP runtime against FastMCP's OpenAPI integration (prints numbers; asserts nothing).

    .venv/bin/python bench/runtime.py                 # or: make bench-runtime (BENCH_ARGS=…)
    .venv/bin/python bench/runtime.py --seconds 2     # shorter phases
    .venv/bin/python bench/runtime.py --product-env MCP_FAST_PATH=0   # without the stateless fast path
    .venv/bin/python bench/runtime.py --fastmcp-plain-stack           # FastMCP on h11 + asyncio
    .venv/bin/python bench/runtime.py --profile       # py-spy stacks of this product (kept directory)
    .venv/bin/python bench/runtime.py --micro         # only the pure per-call steps (no servers)

One run starts, each in its own process (and process group, killed at the end):

- an upstream HTTP API on loopback (uvicorn + a bare ASGI app): a small JSON answer and a 50 KB
  one, described by an OpenAPI document of 30 operations;
- this product: uvicorn serving `config.asgi:application` (as `make run` does), on a fresh SQLite
  database (or `--database-url` / DATABASE_URL, migrated), with a user, a personal access token, a
  30-tool MCP server over that document and a Connection to the upstream; authentication, policy
  evaluation and the audit trail are on, as in production; `MCP_STATELESS_HTTP=1`;
- FastMCP 4.1.6 (`FastMCP.from_openapi`, stateless JSON HTTP) over the same document and upstream,
  from its own environment `.venv-bench` (created here when missing: fastmcp pins a certifi newer
  than the registry serves, so it is installed with `pip install --no-deps -r
  bench/fastmcp-requirements.txt`).

The same lean client drives all three: raw HTTP/1.1 keep-alive connections posting stateless
JSON-RPC (`MCP-Protocol-Version: 2025-06-18`, no session). Per target, operation and concurrency
(1 and 16) it prints p50/p99 latency, calls/s and each server process's CPU milliseconds per
call (utime+stime from /proc/<pid>/stat before and after the phase). The machine's cores are shared
by the client, the upstream and the server, so CPU per call is the fair comparison; calls/s at
concurrency 16 is what the whole machine manages. Phases are interleaved across targets so that a
change in the machine's load touches all of them alike. Method and figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Every server here runs on uvicorn's C parser and event loop, as `make run` serves this product
# (the pins come from requirements.txt; .venv-bench gets the same ones for FastMCP).
SPEED = {"loop": "uvloop", "http": "httptools"}
# This product's own HTTP protocol: uvicorn's httptools one, head and body in one write (`make run`)
PRODUCT_HTTP = "runtime.fastpath.http_protocol:HttpToolsProtocol"
SPEED_PACKAGES = ("httptools", "uvloop")
BENCH_VENV = ROOT / ".venv-bench"
PROTOCOL_VERSION = "2025-06-18"
COMMAND = ".venv/bin/python bench/runtime.py"

# The upstream API ----------------------------------------------------------------------------------
# Everything here is standard library only: the FastMCP process imports this file from .venv-bench.

SMALL = {
    "RequestId": "5F1B8A2E-0C41-4D3B-9E0A-7A6C2B1D9F00",
    "item": {"id": "it-1", "name": "gizmo", "size": 3, "tags": ["a", "b"], "active": True},
}


def large_payload(target_bytes: int = 50 * 1024) -> dict[str, Any]:
    rows = []
    i = 0
    while len(json.dumps(rows)) < target_bytes - 200:
        rows.append(
            {
                "id": f"row-{i:05d}",
                "name": f"instance {i}",
                "status": "Running" if i % 3 else "Stopped",
                "zone": f"zone-{i % 4}",
                "cpu": 2 + i % 8,
                "memoryGiB": 4.0 + (i % 5),
                "tags": {"env": "prod" if i % 2 else "dev", "team": f"t{i % 7}"},
            }
        )
        i += 1
    return {"RequestId": "1C2B3A4D-0000-4000-8000-00000000BEEF", "total": len(rows), "rows": rows}


def _item_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "active": {"type": "boolean"},
        },
    }


def openapi_document(base_url: str) -> dict[str, Any]:
    """30 operations: `getItem` answers small JSON, `getReport` 50 KB, 28 more for a realistic tools/list."""
    ok = {"RequestId": {"type": "string"}}

    def response(props: dict[str, Any]) -> dict[str, Any]:
        schema = {"type": "object", "properties": {**ok, **props}}
        return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}

    paths: dict[str, Any] = {
        "/items/{itemId}": {
            "get": {
                "operationId": "getItem",
                "summary": "Read one item",
                "description": "Returns the item with its name, size and tags.",
                "parameters": [
                    {"name": "itemId", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                ],
                "responses": response({"item": _item_schema()}),
            }
        },
        "/reports/{reportId}": {
            "get": {
                "operationId": "getReport",
                "summary": "Read a report",
                "description": "Returns every row of a report (about 50 KB).",
                "parameters": [{"name": "reportId", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": response({"total": {"type": "integer"}, "rows": {"type": "array", "items": {}}}),
            }
        },
    }
    for n in range(7):
        base = f"/collections{n}"
        paths[base] = {
            "get": {
                "operationId": f"listCollection{n}",
                "summary": f"List the entries of collection {n}",
                "parameters": [
                    {"name": "pageSize", "in": "query", "schema": {"type": "integer", "default": 20}},
                    {"name": "pageToken", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["active", "archived"]}},
                ],
                "responses": response({"items": {"type": "array", "items": _item_schema()}}),
            },
            "post": {
                "operationId": f"createCollection{n}Entry",
                "summary": f"Create an entry in collection {n}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "description": "Display name"},
                                    "size": {"type": "integer"},
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                },
                            }
                        }
                    },
                },
                "responses": response({"item": _item_schema()}),
            },
        }
        paths[f"{base}/{{entryId}}"] = {
            "get": {
                "operationId": f"getCollection{n}Entry",
                "summary": f"Read an entry of collection {n}",
                "parameters": [{"name": "entryId", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": response({"item": _item_schema()}),
            },
            "delete": {
                "operationId": f"deleteCollection{n}Entry",
                "summary": f"Delete an entry of collection {n}",
                "parameters": [
                    {"name": "entryId", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": response({}),
            },
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Bench Inventory", "version": "1.0.0", "description": "Benchmark upstream"},
        "servers": [{"url": base_url}],
        "paths": paths,
    }


def upstream_app() -> Any:
    """A bare ASGI app: `/reports/…` answers 50 KB of JSON, everything else the small answer."""
    small = json.dumps(SMALL).encode()
    large = json.dumps(large_payload()).encode()

    def headers(body: bytes) -> list[tuple[bytes, bytes]]:
        return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    small_headers, large_headers = headers(small), headers(large)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:  # drain the request body
            message = await receive()
            if not message.get("more_body"):
                break
        body, hdrs = (large, large_headers) if scope["path"].startswith("/reports/") else (small, small_headers)
        await send({"type": "http.response.start", "status": 200, "headers": hdrs})
        await send({"type": "http.response.body", "body": body})

    return app


def run_upstream(port: int) -> None:
    import uvicorn

    uvicorn.run(upstream_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False, **SPEED)


def run_fastmcp(port: int, upstream_url: str, plain_stack: bool = False) -> None:
    """FastMCP's OpenAPI integration over the same document (run with .venv-bench's python)."""
    import httpx2  # type: ignore[import-not-found]
    from fastmcp import FastMCP  # type: ignore[import-not-found]

    client = httpx2.AsyncClient(base_url=upstream_url, timeout=30)
    server = FastMCP.from_openapi(openapi_spec=openapi_document(upstream_url), client=client, name="bench")
    server.run(
        transport="http",
        host="127.0.0.1",
        port=port,
        stateless_http=True,
        json_response=True,
        show_banner=False,
        log_level="warning",
        uvicorn_config={"access_log": False, **({"loop": "asyncio", "http": "h11"} if plain_stack else SPEED)},
    )


# Processes -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_ms(pid: int) -> float:
    """utime + stime of a process, in milliseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")


class Processes:
    """Child processes, each in its own session (process group); all stopped on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def wait_port(self, name: str, port: int, timeout: float = 60) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f}s:\n{self.log_tail(name)}")

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def ensure_bench_venv() -> Path:
    """`.venv-bench` with fastmcp 4.1.6 (created on first use)."""
    python = BENCH_VENV / "bin" / "python"
    marker = BENCH_VENV / ".fastmcp-installed"
    requirements = ROOT / "bench" / "fastmcp-requirements.txt"
    pins = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("==")[0].strip() in SPEED_PACKAGES
    ]
    wanted = requirements.read_text() + "\n".join(pins)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"setting up {BENCH_VENV.name}: pip install --no-deps -r {requirements.relative_to(ROOT)} {' '.join(pins)}")
    if not python.exists():
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", "-r", str(requirements), *pins], check=True)
    marker.write_text(wanted)
    return python


# This product: database, user, token, server, connection ------------------------------------------


def setup_product(upstream_url: str) -> tuple[str, str, dict[str, str]]:
    """Migrate the database and create what a call needs; returns (MCP path, token, tool names by operation)."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from oauth.models import Connection
    from oauth.services import account_create, personal_token_create, user_create
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import revision_create
    from servers.models import McpServer
    from servers.snapshot import compiled_for_server

    call_command("migrate", verbosity=0, interactive=False)
    suffix = uuid.uuid4().hex[:8]
    account = account_create(name=f"bench-{suffix}")
    user = user_create(account=account, username=f"bench-{suffix}", password=None, is_account_admin=True)
    imported = import_openapi(openapi_document(upstream_url), source="bench")
    revision_create(document=imported.document, source="bench", source_format=imported.source_format)
    server = McpServer.objects.create(
        account=account,
        name="bench",
        apis=[{"product": imported.product, "apiVersion": imported.version, "selectors": ["*"]}],
    )
    Connection.objects.create(account=account, product=imported.product, base_url=upstream_url, auth_type="none")
    token = personal_token_create(user=user, name="bench")
    compiled = compiled_for_server(server)
    names = {b.api_name: b.tool_name for b in compiled.bindings.values()}
    connections.close_all()
    return f"/accounts/{account.id}/custom/{server.name}/id/{server.id}/mcp", token, names


# The client ----------------------------------------------------------------------------------------


class Connection:
    """One HTTP/1.1 keep-alive connection; just enough HTTP for these servers (length or chunked bodies)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        assert self.reader is not None
        self.writer.write(head + body)
        raw_head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw_head[9:12])
        lower = raw_head.lower()
        length_at = lower.find(b"\r\ncontent-length:")
        if length_at >= 0:
            end = lower.index(b"\r\n", length_at + 2)
            payload = await self.reader.readexactly(int(lower[length_at + 17 : end]))
        elif b"transfer-encoding: chunked" in lower:
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    break
                parts.append((await self.reader.readexactly(size + 2))[:-2])
            payload = b"".join(parts)
        else:
            payload = await self.reader.read()
        if b"\r\nconnection: close" in lower:
            self.close()
        return status, lower, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def jsonrpc_body(headers: bytes, payload: bytes) -> bytes:
    """The JSON-RPC message of a Streamable HTTP answer (plain JSON or one SSE `data:` line)."""
    if b"content-type: text/event-stream" not in headers:
        return payload
    start = payload.index(b"data: ") + 6
    end = payload.find(b"\n", start)
    return payload[start : end if end >= 0 else len(payload)].rstrip(b"\r")


OPS = {"list": "tools/list (30)", "call_small": "tools/call small", "call_large": "tools/call 50 KB"}


class Target:
    """A server to call: the upstream itself (plain GETs) or an MCP endpoint (JSON-RPC POSTs)."""

    def __init__(
        self, label: str, port: int, path: str, pid: int, token: str = "", tools: dict[str, str] | None = None
    ):
        self.label = label
        self.port = port
        self.path = path
        self.pid = pid
        self.token = token
        self.tools = tools or {}

    def ops(self) -> list[str]:
        return ["call_small", "call_large"] if not self.tools else list(OPS)

    def request(self, op: str) -> tuple[bytes, bytes]:
        host = f"Host: 127.0.0.1:{self.port}\r\n"
        if not self.tools:  # the upstream, directly
            path = {"call_small": "/items/it-1?limit=10", "call_large": "/reports/r-1"}[op]
            return f"GET {path} HTTP/1.1\r\n{host}Accept: application/json\r\n\r\n".encode(), b""
        if op == "list":
            message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        else:
            name, arguments = (
                (self.tools["getItem"], {"itemId": "it-1", "limit": 10})
                if op == "call_small"
                else (self.tools["getReport"], {"reportId": "r-1"})
            )
            message = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
        body = json.dumps(message).encode()
        auth = f"Authorization: Bearer {self.token}\r\n" if self.token else ""
        head = (
            f"POST {self.path} HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {PROTOCOL_VERSION}\r\n"
            f"{auth}Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode(), body


def check_answer(target: Target, op: str, status: int, headers: bytes, payload: bytes) -> dict[str, Any]:
    """Full check of one answer (warm-up): what came back and how big it was."""
    if status != 200:
        raise RuntimeError(f"{target.label} {op}: HTTP {status}: {payload[:500]!r}")
    if not target.tools:
        return {"bytes": len(payload)}
    message = json.loads(jsonrpc_body(headers, payload))
    if "result" not in message:
        raise RuntimeError(f"{target.label} {op}: {message}")
    result = message["result"]
    if op == "list":
        if len(result["tools"]) != 30:
            raise RuntimeError(f"{target.label}: {len(result['tools'])} tools instead of 30")
        return {"bytes": len(payload)}
    if result.get("isError"):
        raise RuntimeError(f"{target.label} {op}: tool error {result}")
    text = result["content"][0]["text"]
    json.loads(text)
    return {"bytes": len(payload), "structured": "structuredContent" in result}


async def run_phase(
    target: Target, op: str, concurrency: int, seconds: float, upstream_pid: int, max_calls: int
) -> dict[str, Any]:
    head, body = target.request(op)
    conns = [Connection(target.port) for _ in range(concurrency)]
    for conn in conns:  # connect before the clock starts
        status, _, _ = await conn.request(head, body)
        if status != 200:
            raise RuntimeError(f"{target.label} {op}: HTTP {status}")
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    errors = 0

    async def worker(conn: Connection) -> None:
        nonlocal errors
        perf = time.perf_counter
        while len(latencies) < max_calls:
            start = perf()
            if start > deadline:
                return
            status, _, _ = await conn.request(head, body)
            latencies.append(perf() - start)
            if status != 200:
                errors += 1

    cpu_server, cpu_upstream = cpu_ms(target.pid), cpu_ms(upstream_pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - started
    cpu_server, cpu_upstream = cpu_ms(target.pid) - cpu_server, cpu_ms(upstream_pid) - cpu_upstream
    for conn in conns:
        conn.close()
    latencies.sort()
    n = len(latencies)
    return {
        "target": target.label,
        "op": op,
        "concurrency": concurrency,
        "calls": n,
        "errors": errors,
        "p50_ms": latencies[n // 2] * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "calls_per_s": n / elapsed,
        "server_cpu_ms": cpu_server / n if target.pid != upstream_pid else cpu_upstream / n,
        "upstream_cpu_ms": cpu_upstream / n,
    }


async def measure(
    targets: list[Target],
    upstream_pid: int,
    seconds: float,
    max_calls: int,
    rounds: int = 1,
    profile_dir: Path | None = None,
) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """Every phase of every target, interleaved (operation, concurrency, then target), so that a
    drift in the machine's load during the run touches all targets alike; all of it `rounds` times.
    Returns the per-phase medians over the rounds, and each round's rows."""
    infos: dict[tuple[str, str], dict[str, Any]] = {}
    for target in targets:
        for op in target.ops():
            conn = Connection(target.port)
            head, body = target.request(op)
            for _ in range(50):  # warm-up with full checks of the answers
                infos[target.label, op] = check_answer(target, op, *(await conn.request(head, body)))
            conn.close()
    per_round: list[list[dict[str, Any]]] = []
    for number in range(1, rounds + 1):
        if rounds > 1:
            print(f"round {number} of {rounds}", flush=True)
        rows = []
        for op in OPS:
            for concurrency in (1, 16):
                for target in targets:
                    if op not in target.ops():
                        continue
                    spy = None
                    if profile_dir is not None and target.label == "product" and number == 1:
                        out = profile_dir / f"profile-{op}-c{concurrency}.txt"
                        spy_argv = [str(BENCH_VENV / "bin" / "py-spy"), "record", "-p", str(target.pid), "-r", "250"]
                        spy_argv += ["--format", "raw", "-o", str(out)]
                        spy = subprocess.Popen(spy_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        await asyncio.sleep(1)
                    row = await run_phase(target, op, concurrency, seconds, upstream_pid, max_calls)
                    if spy is not None:
                        spy.send_signal(signal.SIGINT)
                        spy.wait(30)
                    row.update(infos[target.label, op])
                    rows.append(row)
                    print(format_row(row), flush=True)
        per_round.append(rows)
    order = {t.label: i for i, t in enumerate(targets)}
    medians = [median_row([r[i] for r in per_round]) for i in range(len(per_round[0]))]
    medians.sort(key=lambda r: (order[r["target"]], list(OPS).index(r["op"]), r["concurrency"]))
    return medians, per_round


MEDIAN_KEYS = ("p50_ms", "p99_ms", "calls_per_s", "server_cpu_ms", "upstream_cpu_ms")


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One phase's figures over the rounds: the median of each measured figure, calls summed."""
    merged = dict(rows[0])
    for key in MEDIAN_KEYS:
        merged[key] = statistics.median(float(r[key]) for r in rows)
    merged["calls"] = sum(int(r["calls"]) for r in rows)
    merged["errors"] = sum(int(r["errors"]) for r in rows)
    return merged


# Report --------------------------------------------------------------------------------------------

HEADER = (
    f"{'target':<10} {'operation':<18} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8} "
    f"{'CPU ms/call':>11} {'upstr. CPU':>10} {'resp. bytes':>11}"
)


def format_row(row: dict[str, Any]) -> str:
    return (
        f"{row['target']:<10} {OPS[row['op']]:<18} {row['concurrency']:>4} {row['p50_ms']:>8.2f} "
        f"{row['p99_ms']:>8.2f} {row['calls_per_s']:>8.0f} {row['server_cpu_ms']:>11.2f} "
        f"{row['upstream_cpu_ms']:>10.2f} {row['bytes']:>11}" + (f"  ERRORS {row['errors']}" if row["errors"] else "")
    )


# FastMCP's added p50 (3.6 ms against 1.2 ms direct) on the machine the targets were set on.
REFERENCE_FASTMCP_ADDED_MS = 2.4


def summary(rows: list[dict[str, Any]]) -> list[str]:
    def get(target: str, op: str, concurrency: int, key: str) -> float | None:
        for row in rows:
            if (row["target"], row["op"], row["concurrency"]) == (target, op, concurrency):
                return float(row[key])
        return None

    lines = []
    checks = [
        ("CPU per small tools/call, product / FastMCP", "call_small", 1, "server_cpu_ms", "ratio", 0.5),
        ("CPU per 50 KB tools/call, product / FastMCP", "call_large", 1, "server_cpu_ms", "ratio", None),
        ("CPU per tools/list of 30, product / FastMCP", "list", 1, "server_cpu_ms", "ratio", 0.1),
        ("calls/s at concurrency 16 (small), product / FastMCP", "call_small", 16, "calls_per_s", "ratio_min", 2.0),
    ]
    for label, op, conc, key, kind, goal in checks:
        ours, theirs = get("product", op, conc, key), get("fastmcp", op, conc, key)
        if ours is None or theirs is None or not theirs:
            continue
        ratio = ours / theirs
        verdict = ""
        if goal is not None:
            met = ratio >= goal if kind == "ratio_min" else ratio <= goal
            verdict = f"  (target {'≥' if kind == 'ratio_min' else '≤'} {goal:g}: {'met' if met else 'NOT met'})"
        lines.append(f"{label:<56} {ratio:6.2f}{verdict}")
    direct, ours = get("direct", "call_small", 1, "p50_ms"), get("product", "call_small", 1, "p50_ms")
    if direct is not None and ours is not None:
        added = ours - direct
        lines.append(
            f"{'added p50 over direct, small call at concurrency 1 (ms)':<56} {added:6.2f}"
            f"  (target ≤ 1.0: {'met' if added <= 1.0 else 'NOT met'})"
        )
    theirs = get("fastmcp", "call_small", 1, "p50_ms")
    if direct is not None and theirs is not None:
        lines.append(f"{'  FastMCP: added p50 over direct (ms)':<56} {theirs - direct:6.2f}")
        if ours is not None and theirs > direct:
            # The same run at the speed of the machine the 1.0 ms target was set on, where FastMCP
            # added REFERENCE_FASTMCP_ADDED_MS; latencies on a slower or busier machine scale alike.
            scaled = (ours - direct) * REFERENCE_FASTMCP_ADDED_MS / (theirs - direct)
            lines.append(
                f"{'  product: added p50 scaled to the reference speed (ms)':<56} {scaled:6.2f}"
                f"  (FastMCP adds {REFERENCE_FASTMCP_ADDED_MS:g} there; ≤ 1.0: {'met' if scaled <= 1.0 else 'NOT met'})"
            )
    for target in ("product", "fastmcp"):
        size = get(target, "call_large", 1, "bytes")
        if size is not None:
            lines.append(f"{f'  {target}: answer to the 50 KB call (bytes)':<56} {size:6.0f}")
    return lines


def reproduce_command(args: argparse.Namespace) -> str:
    parts = [COMMAND]
    if args.seconds != 3:
        parts.append(f"--seconds {args.seconds:g}")
    if args.rounds != 3:
        parts.append(f"--rounds {args.rounds}")
    if args.database_url:
        parts.append("--database-url <url>")
    parts += [f"--product-env {item}" for item in args.product_env]
    if args.fastmcp_plain_stack:
        parts.append("--fastmcp-plain-stack")
    if args.skip_fastmcp:
        parts.append("--skip-fastmcp")
    return " ".join(parts)


def run_benchmark(args: argparse.Namespace) -> None:
    bench_python = None if args.skip_fastmcp else ensure_bench_venv()
    work = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    procs = Processes(work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still stop the servers (finally below)
    try:
        upstream_port, product_port, fastmcp_port = free_port(), free_port(), free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        upstream = procs.start(
            "upstream", [sys.executable, __file__, "_upstream", "--port", str(upstream_port)], dict(os.environ)
        )
        procs.wait_port("upstream", upstream_port)

        env = dict(os.environ)
        env["DATABASE_URL"] = args.database_url or env.get("DATABASE_URL") or f"sqlite:///{work / 'bench.sqlite3'}"
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="0",
            SECRET_KEY=env.get("SECRET_KEY") or "bench-" + uuid.uuid4().hex,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{product_port}",
            MCP_STATELESS_HTTP="1",
            UPSTREAM_ALLOW_PRIVATE_URLS="1",  # the upstream is on loopback
            LOG_LEVEL="WARNING",
        )
        env.update(dict(item.split("=", 1) for item in args.product_env))
        os.environ.update(env)
        path, token, tool_names = setup_product(upstream_url)
        product = procs.start(
            "product",
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1"]
            + ["--port", str(product_port), "--proxy-headers", "--no-access-log", "--log-level", "warning"]
            + ["--loop", SPEED["loop"], "--http", PRODUCT_HTTP],
            env,
        )
        targets = [
            Target("direct", upstream_port, "", upstream.pid),
            Target("product", product_port, path, product.pid, token, tool_names),
        ]
        if bench_python is not None:
            fastmcp = procs.start(
                "fastmcp",
                [str(bench_python), __file__, "_fastmcp", "--port", str(fastmcp_port), "--upstream", upstream_url]
                + (["--plain-stack"] if args.fastmcp_plain_stack else []),
                {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))},
            )
            fastmcp_tools = {op: op for op in ("getItem", "getReport")}
            targets.append(Target("fastmcp", fastmcp_port, "/mcp", fastmcp.pid, "", fastmcp_tools))
            procs.wait_port("fastmcp", fastmcp_port)
        procs.wait_port("product", product_port)

        print(f"{os.cpu_count()} CPUs; phases of {args.seconds:g} s; database {env['DATABASE_URL'].split(':')[0]}")
        print(HEADER)
        if args.profile and not (BENCH_VENV / "bin" / "py-spy").exists():
            pip = [
                str(bench_python or ensure_bench_venv()),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
            ]
            subprocess.run([*pip, "py-spy"], check=True)
        profile_dir = work if args.profile else None
        rows, per_round = asyncio.run(
            measure(targets, upstream.pid, args.seconds, args.max_calls, args.rounds, profile_dir)
        )
        if args.rounds > 1:
            for number, round_rows in enumerate(per_round, 1):
                print(f"\nround {number}:")
                print("\n".join(summary(round_rows)[:5]))
        medians = "median over the rounds, " if args.rounds > 1 else ""
        print(f"\nBy target ({medians}{args.seconds:g} s per phase):\n{HEADER}")
        print("\n".join(format_row(row) for row in rows))
        print()
        print("\n".join(summary(rows)))
        if args.save:
            Path(args.save).write_text(json.dumps(rows, indent=1))
        print(f"\nreproduce: {reproduce_command(args)}")
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs and database kept in {work}")


# Pure per-call steps (no servers) -----------------------------------------------------------------


def micro() -> None:
    """Per tool call, on real metadata (ECS DescribeInstances from ../shared/specs)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from jsonschema import Draft202012Validator

    from oauth.policy import evaluate, parse_policy
    from runtime import build, results, signing

    def timeit(label: str, fn: Any, n: int = 5000) -> None:
        fn()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        per = (time.perf_counter() - start) / n
        print(f"{label:<48} {per * 1e6:9.1f} µs/op")

    doc = json.loads((ROOT.parent / "shared" / "specs" / "alibaba" / "ecs-2014-05-26.json").read_text())
    api = doc["apis"]["DescribeInstances"]
    args = {
        "RegionId": "cn-hangzhou",
        "PageSize": 50,
        "Tag": [{"Key": f"k{i}", "Value": f"v{i}"} for i in range(5)],
        "InstanceIds": json.dumps([f"i-{i}" for i in range(20)]),
    }
    schema = {
        "type": "object",
        "properties": {p["name"]: {"type": p["schema"].get("type", "string")} for p in api["parameters"]},
        "additionalProperties": False,
    }
    validator = Draft202012Validator(schema)
    timeit("validate arguments (precompiled)", lambda: list(validator.iter_errors(args)))
    policies = [
        (
            "p",
            parse_policy(
                {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]}
            ),
        )
    ]
    timeit("policy decision (uncached)", lambda: evaluate(policies, "ecs:DescribeInstances", "acs:ecs:*:1:*", {}))

    def build_and_sign() -> None:
        request = build.build_request(
            style="RPC", api=api, arguments=args, base_url="https://ecs.cn-hangzhou.aliyuncs.com"
        )
        signing.sign_acs3(
            request, action="DescribeInstances", version="2014-05-26", access_key_id="id", access_key_secret="s"
        )

    timeit("build RPC request + ACS3 signature", build_and_sign)
    body = json.dumps(large_payload(64 * 1024)).encode()
    response = results.UpstreamResponse(200, {"content-type": "application/json"}, body)
    timeit(f"map a {len(body) // 1024} KiB JSON response (text only)", lambda: results.map_response(response), 500)
    timeit(
        f"map a {len(body) // 1024} KiB JSON response (+ structuredContent)",
        lambda: results.map_response(response, output_schema=True),
        500,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3, help="length of each measured phase (default 3)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="measure every phase this many times; report the medians (default 3)"
    )
    parser.add_argument("--max-calls", type=int, default=200_000, help="calls per phase at most")
    parser.add_argument("--database-url", default="", help="instead of a throwaway SQLite database")
    parser.add_argument(
        "--fastmcp-plain-stack", action="store_true", help="FastMCP on uvicorn's pure-Python h11 + asyncio instead"
    )
    parser.add_argument(
        "--product-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for this product's process, e.g. MCP_FAST_PATH=0 (repeatable)",
    )
    parser.add_argument("--skip-fastmcp", action="store_true", help="measure only the upstream and this product")
    parser.add_argument("--save", default="", help="write the rows as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the logs and the SQLite database")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy (in .venv-bench) on this product's phases; implies --keep"
    )
    parser.add_argument("--micro", action="store_true", help="only the pure per-call steps, no servers")
    sub = parser.add_subparsers(dest="role")
    for role in ("_upstream", "_fastmcp"):
        child = sub.add_parser(role)
        child.add_argument("--port", type=int, required=True)
        child.add_argument("--upstream", default="")
        child.add_argument("--plain-stack", action="store_true")
    args = parser.parse_args(argv)
    args.keep = args.keep or args.profile
    if args.role == "_upstream":
        run_upstream(args.port)
    elif args.role == "_fastmcp":
        run_fastmcp(args.port, args.upstream, args.plain_stack)
    elif args.micro:
        micro()
    else:
        run_benchmark(args)


if __name__ == "__main__":
    main()
