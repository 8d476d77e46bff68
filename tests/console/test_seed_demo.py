"""The `make run` demo data: idempotent, and its server resolves the three read-only APIs."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from oauth.models import AccessKey, User
from servers.models import CatalogRevision, McpServer

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_it_seeds_once_and_prints_the_login_and_mcp_url(settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8765"
    first = seed()
    second = seed()
    admin = User.objects.get(username="admin")
    assert admin.check_password("admin-password") and admin.is_account_admin
    server = McpServer.objects.get(account_id=admin.account_id, name="console-demo")
    assert McpServer.objects.count() == 1 and CatalogRevision.objects.count() == 1
    assert AccessKey.objects.filter(user=admin).count() <= 1
    for output in (first, second):
        assert "Console: http://127.0.0.1:8765/" in output
        assert "username 'admin', password 'admin-password'" in output
        mcp = f"http://127.0.0.1:8765/accounts/{admin.account_id}/custom/console-demo/id/{server.id}/mcp"
        assert mcp in output


def test_demo_server_selects_read_only_management_apis(settings: Any) -> None:
    from servers.selectors import server_to_dict

    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8765"
    seed()
    data = server_to_dict(McpServer.objects.get(name="console-demo"))
    assert {i["apiName"] for i in data["apiInfos"]} == {
        "ListApiMcpServers",
        "GetApiMcpServer",
        "ListApiMcpServerSystemTools",
    }
    assert "openapiexplorer:ListApiMcpServers" in data["requiredRAMPolicy"]
    assert data["instructions"] and [p["name"] for p in data["prompts"]] == ["server-inventory"]
    revision = CatalogRevision.objects.get()
    assert revision.document["servers"] == ["http://127.0.0.1:8765"]


def test_a_new_public_url_refreshes_the_catalog(settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8765"
    seed()
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9000"
    seed()
    assert CatalogRevision.objects.count() == 2
    assert CatalogRevision.objects.order_by("-number").first().document["servers"] == ["http://127.0.0.1:9000"]
