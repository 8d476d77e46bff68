"""Audit events still queued when the process is told to stop are written (SPEC §6.6).

A real uvicorn process (as `make run` serves the product) on the test database receives tool calls
and then SIGTERM. Its audit writer waits a minute before writing a batch smaller than 200 events
(`MCP_AUDIT_FLUSH_MS`), so every event is provably still queued when the signal arrives; after the
process exits, every call has its event in the database. Calls go straight to the stateless fast
path and fail validation, so they need no upstream and each queues one `invalid` event.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from django.conf import settings

from runtime.models import AuditEvent
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.django_db(transaction=True)
CALLS = 40


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = f"{db['USER']}:{db['PASSWORD']}@" if db.get("PASSWORD") else f"{db['USER']}@"
    return f"postgres://{auth}{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def test_events_queued_at_shutdown_are_written(make_server, alice, pat, tmp_path):
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import revision_create
    from tests.runtime.test_audit_trail import DOC

    imported = import_openapi(DOC, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    server = make_server(
        alice.account, "vault", [{"product": imported.product, "apiVersion": imported.version, "selectors": ["*"]}]
    )
    token = pat(alice)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MCP_STATELESS_HTTP": "1",
        "MCP_AUDIT_FLUSH_MS": "60000",  # nothing is written before the shutdown flush
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
    }
    log = (tmp_path / "uvicorn.log").open("wb")
    argv = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/accounts/{alice.account_id}/custom/vault/id/{server.id}/mcp"
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18",
        }
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=30) as client:
            while True:  # wait for the process to serve
                try:
                    client.get(f"http://127.0.0.1:{port}/login/")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail("uvicorn did not start: " + (tmp_path / "uvicorn.log").read_text())
                    time.sleep(0.05)
            assert AuditEvent.objects.count() == 0
            (tool,) = server_tool_names(client, url, headers)
            for n in range(CALLS):
                call = {
                    "jsonrpc": "2.0",
                    "id": n,
                    "method": "tools/call",
                    "params": {"name": tool, "arguments": {"door": "front"}},  # pin missing: invalid
                }
                answer = client.post(url, json=call, headers=headers)
                assert answer.status_code == 200, answer.text
                assert '"isError":true' in answer.text.replace(" ", "")
        assert not AuditEvent.objects.filter(server_id=server.id).exists()  # all still queued
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully (the lifespan drains the audit queue), then re-raises the signal
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert "Finished server process" in (tmp_path / "uvicorn.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    events = AuditEvent.objects.filter(server_id=server.id, kind="tool_call")
    assert events.count() == CALLS, (tmp_path / "uvicorn.log").read_text()
    assert set(events.values_list("outcome", flat=True)) == {"invalid"}


def server_tool_names(client: httpx.Client, url: str, headers: dict[str, str]) -> list[str]:
    listed = client.post(url, json={"jsonrpc": "2.0", "id": "l", "method": "tools/list"}, headers=headers)
    assert listed.status_code == 200 and listed.headers["content-type"].startswith("application/json"), listed.text
    return [t["name"] for t in listed.json()["result"]["tools"]]
