"""Demo data for `make run` (idempotent: safe to run on every start).

1. The demo account and its administrator (admin / admin-password).
2. A demo catalog that needs no download: this installation's own management API. Its OpenAPI
   document (the one served at /api/openapi.json, with this host as its server) goes through the
   catalog's OpenAPI importer as product `OpenAPIExplorer` 2024-11-30. The tools built from it
   call this very server, so they work offline, and the action each one needs
   (`openapiexplorer:ListApiMcpServers`…) is exactly the policy action the API checks.
3. One demo MCP server selecting three read-only APIs, with instructions and a prompt.
4. No stored credential: tools of that product call the management API on loopback as the user
   who calls them (runtime/internal_api.py), so each user sees what its own policies allow.
5. The account's system MCP servers (servers.system_servers), unless SYSTEM_SERVERS is off.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from oauth.models import Account, User
from oauth.services import account_create, user_create
from servers.models import McpServer
from servers.schemas import CreateApiMcpServerBody, parse_body
from servers.selectors import server_to_dict
from servers.services import server_create
from servers.system_servers import management_catalog_ensure, system_servers_ensure

DEMO_USER = "admin"
DEMO_PASSWORD = "admin-password"
DEMO_SERVER = "console-demo"
DEMO_PRODUCT = "OpenAPIExplorer"
DEMO_VERSION = "2024-11-30"
DEMO_SELECTORS = ["ListApiMcpServers", "GetApiMcpServer", "ListApiMcpServerSystemTools"]
DEMO_SOURCE = "builtin:management-api"


class Command(BaseCommand):
    help = "Create the demo account, its admin user, the demo catalog and a demo MCP server (idempotent)."

    def handle(self, *args: Any, **opts: Any) -> None:
        user = User.objects.filter(username=DEMO_USER).first()
        if user is None:
            user = user_create(
                account=account_create(name="Demo"),
                username=DEMO_USER,
                password=DEMO_PASSWORD,
                is_account_admin=True,
            )
        account = user.account
        if account is None:
            raise CommandError(f"user {DEMO_USER!r} exists but belongs to no account; choose another database")

        imported = import_demo_catalog()
        if imported is None:
            self.stdout.write("Demo catalog: the management API has no operations yet; skipped.")
        server = ensure_demo_server(account, user) if imported is not None else None
        system = system_servers_ensure(account)

        base = settings.PUBLIC_BASE_URL
        self.stdout.write(f"Console: {base}/  (API docs: {base}/api/docs)")
        self.stdout.write(
            f"Console login: username {DEMO_USER!r}, password {DEMO_PASSWORD!r} (account {user.account_id})"
        )
        if server is not None:
            urls = server_to_dict(server).get("urls") or {}
            self.stdout.write(f"Demo MCP server {server.name!r}: {urls.get('mcp', '')}")
        for found in system:
            self.stdout.write(f"System MCP server {found.name!r}: {server_to_dict(found)['urls']['mcp']}")


# Demo catalog ---------------------------------------------------------------------------------


def import_demo_catalog() -> Any:
    """Import the demo catalog (a no-op when unchanged); None when the API has no operations yet."""
    return management_catalog_ensure()


# Demo server ----------------------------------------------------------------------------------


def demo_server_data() -> dict[str, Any]:
    """The demo server in the management API's JSON (CreateApiMcpServer body)."""
    return {
        "name": DEMO_SERVER,
        "description": "Read-only tools over this console's own management API.",
        "language": "EN_US",
        "apis": [{"product": DEMO_PRODUCT, "apiVersion": DEMO_VERSION, "selectors": list(DEMO_SELECTORS)}],
        "instructions": (
            "These tools read the MCP servers of the signed-in user's account on this console. "
            "Start with ListApiMcpServers, then GetApiMcpServer for the details of one server."
        ),
        "prompts": [
            {
                "name": "server-inventory",
                "description": "Summarise the account's MCP servers and what each one exposes.",
                "content": (
                    "List my MCP servers and, for each, summarise its APIs and system tools. Focus on: {{focus}}"
                ),
                "arguments": [{"name": "focus", "description": "What to pay attention to", "required": True}],
            }
        ],
        "systemTools": [],
    }


def ensure_demo_server(account: Account, user: User) -> McpServer:
    """Create the demo server once; later runs leave it (and any edits made to it) alone."""
    existing = McpServer.objects.filter(account=account, name=DEMO_SERVER).first()
    if existing is not None:
        return existing
    return server_create(account=account, user=user, body=parse_body(CreateApiMcpServerBody, demo_server_data()))
