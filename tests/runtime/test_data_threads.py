"""The runtime's database lookups run in their own threads, `MCP_DATA_THREADS` of them per process
(runtime.data; why they are apart from the event loop's default threads: docs/security.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import asyncio, json, threading, django
django.setup()
from runtime import data

async def main():
    failed = await asyncio.gather(*(data.principal_for_token(f"t{i}") for i in range(30)), return_exceptions=True)
    default = await asyncio.get_running_loop().run_in_executor(None, lambda: threading.current_thread().name)
    return sum(isinstance(f, Exception) for f in failed), default

failed, default = asyncio.run(main())
lookups = [t.name for t in threading.enumerate() if t.name.startswith("mcp-data")]
apart = not default.startswith("mcp-data")
print(json.dumps({"failed": failed, "lookup_threads": len(lookups), "default_is_apart": apart}))
"""


def test_lookups_run_in_at_most_mcp_data_threads_threads_of_their_own(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "MCP_DATA_THREADS"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",  # no tables: each lookup fails, in its thread
        MCP_DATA_THREADS="3",
    )
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # 30 lookups at once fill all 3 threads and no more; the loop's default threads are others.
    assert seen == {"failed": 30, "lookup_threads": 3, "default_is_apart": True}
