"""Connections moved from the runtime app to oauth without touching their table.

The pair `oauth 0004_connection` / `runtime 0003_connection_moved_to_oauth` changes Django's state
only. These tests migrate a fresh database of the engine under test (a temporary SQLite file, or a
throwaway PostgreSQL database in CI) to the state before the move, store a connection the old way,
migrate to the end, and read it back as `oauth.models.Connection`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import service_unavailable

ROOT = Path(__file__).resolve().parents[2]

INSERT = """
from django.db import connection
with connection.cursor() as c:
    c.execute("INSERT INTO oauth_account (id, name, enable_public_access, vpc_whitelists, created_at, updated_at)"
              " VALUES ('1000000000000001', 'old', true, '[]', '2026-01-01', '2026-01-01')")
    c.execute("INSERT INTO runtime_connection (account_id, product, base_url, region_endpoints, default_region,"
              " auth_type, auth_config, secrets_encrypted, created_at, updated_at)"
              " VALUES ('1000000000000001', 'Ecs', 'https://ecs.example.com', '{}', '', 'none', '{}', '',"
              " '2026-01-01', '2026-01-01')")
"""

READ = """
from oauth.models import Connection
c = Connection.objects.get(product="Ecs")
print(c._meta.label, c._meta.db_table, c.account.name, c.base_url)
"""


def _run(database_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "DB_POOL_MAX_SIZE": "0"}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of the engine the tests run on."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    import psycopg

    name = f"fresh_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/postgres"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        service_unavailable("PostgreSQL", str(exc))
    try:
        yield f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_connection_stored_before_the_move_is_read_as_an_oauth_connection(fresh_database: str) -> None:
    _run(fresh_database, "migrate", "--noinput", "runtime", "0002")
    _run(fresh_database, "migrate", "--noinput", "oauth", "0003")
    _run(fresh_database, "shell", "-v", "0", "-c", INSERT)
    _run(fresh_database, "migrate", "--noinput")
    assert _run(fresh_database, "shell", "-v", "0", "-c", READ).split() == [
        "oauth.Connection",
        "runtime_connection",
        "old",
        "https://ecs.example.com",
    ]


def test_a_fresh_database_migrates_and_the_models_match_the_migrations(fresh_database: str) -> None:
    _run(fresh_database, "migrate", "--noinput")
    assert "No changes detected" in _run(fresh_database, "makemigrations", "--check", "--dry-run")
    plan = _run(fresh_database, "showmigrations", "oauth", "runtime")
    assert "[X] 0004_connection" in plan and "[X] 0003_connection_moved_to_oauth" in plan
