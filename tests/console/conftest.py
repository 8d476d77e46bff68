"""Fixtures for console tests: a small catalog, alice's server and a real headless Chromium.

Playwright's sync API drives its own event loop in the calling thread; Django then refuses ORM
calls from that thread (SynchronousOnlyOperation). So Chromium lives in one dedicated thread for
the whole session and tests hand it scenarios (`browser.run(fn)`), while the test thread keeps
the database to itself. Assertion errors inside a scenario surface in the test as usual.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import service_unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCENARIO_TIMEOUT = 120

T = TypeVar("T")

CATALOG = {
    "version": "1.0",
    "info": {"style": "ROA", "product": "Demo", "version": "2024-01-01", "title": "Demo things"},
    "apis": {
        name: {
            "title": name,
            "summary": summary,
            "path": path,
            "methods": [method],
            "parameters": [{"name": "id", "in": "query", "schema": {"type": "string", "required": False}}],
            "responses": {"200": {"schema": {"type": "object"}}},
            "systemTags": {"operationType": kind},
        }
        for name, summary, method, path, kind in [
            ("ListThings", "Lists the things.", "get", "/things", "list"),
            ("GetThing", "Gets one thing.", "get", "/thing", "get"),
            ("DeleteThing", "Deletes one thing.", "delete", "/thing", "delete"),
        ]
    },
    "endpoints": [{"regionId": "local", "endpoint": "http://127.0.0.1:9", "public": "http://127.0.0.1:9"}],
}


@pytest.fixture(autouse=True)
def _close_connections_after_each_request() -> Iterator[None]:
    """No persistent database connections in the live server's threads.

    They would outlive the test and keep PostgreSQL from dropping the test database. Connections
    read the setting when they open, and the live server opens its own.
    """
    from django.db import connections

    database = connections.settings["default"]
    saved = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = saved


@pytest.fixture(autouse=True)
def _fresh_catalog_caches() -> None:
    """Catalog reads and compiled servers are cached by revision id, which is immutable in real
    life; a rolled-back test database hands the same ids out again, so start every test empty."""
    from servers.catalog.selectors import clear_caches
    from servers.compiler import compiled_cache

    clear_caches()
    compiled_cache.clear()


@pytest.fixture
def demo_catalog(db: Any) -> Any:
    from servers.catalog.services import revision_create

    return revision_create(document=CATALOG, source="tests", source_format="alibaba")


def server_body(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "apis": [{"product": "Demo", "apiVersion": "2024-01-01", "selectors": ["List*", "Get*"]}],
    } | extra


@pytest.fixture
def alice_server(alice: Any, demo_catalog: Any) -> Any:
    from servers.schemas import CreateApiMcpServerBody, parse_body
    from servers.services import server_create

    return server_create(
        account=alice.account,
        user=alice,
        body=parse_body(CreateApiMcpServerBody, server_body("alice-tools", description="Alice's read tools")),
    )


# Chromium -------------------------------------------------------------------------------------


class Browser:
    """A headless Chromium owned by one thread; `run(fn)` calls fn(browser) on that thread."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self._playwright: Any = None
        self._browser: Any = None

    def start(self) -> None:
        self._thread.submit(self._launch).result(timeout=60)

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

    def run(self, scenario: Callable[[Any], T]) -> T:
        return self._thread.submit(scenario, self._browser).result(timeout=SCENARIO_TIMEOUT)

    def stop(self) -> None:
        def close() -> None:
            if self._browser is not None:
                self._browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self._thread.submit(close).result(timeout=30)
        finally:
            self._thread.shutdown(wait=True)


@pytest.fixture(scope="session")
def _chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        service_unavailable("Chromium", f"{CHROMIUM} is not installed")
    browser = Browser()
    try:
        browser.start()
    except Exception as exc:  # noqa: BLE001 - any launch failure means the browser is unavailable
        browser.stop()
        service_unavailable("Chromium", f"launch failed: {exc}")
    yield browser
    browser.stop()


@pytest.fixture
def browser(_chromium: Browser) -> Browser:
    return _chromium
