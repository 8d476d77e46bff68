"""System servers (`sourceType: system`): MCP servers this product provides in every account.

- `OpenAPIExplorer` / `mcp-system`: this product's own management API as tools. The catalog entry
  `OpenAPIExplorer` 2024-11-30 is generated from the served OpenAPI document (django-ninja's
  `api.get_openapi_schema()`, never from a file) and imported with the catalog's OpenAPI importer.
  The runtime calls it on loopback as the calling user (`runtime/internal_api.py`), so a tool
  answers exactly what the management API would answer that user, under that user's policies.
- `ActionTrail` / `mcp-system`: the audit trail; its `LookupEvents` tool lists the caller's own
  events (tool calls and management operations).

They are created with the account (`oauth.services.account_create`) and refreshed by
`system_servers_ensure` (also run by `seed_demo`), which is idempotent: an unchanged server is not
touched; a changed definition (after an upgrade) is written with a new version and announced.
The management API refuses to update or delete them (403 OperationNotAllowed.SystemServer).
Setting `SYSTEM_SERVERS=0` turns them off for new accounts (existing ones are kept).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction

from config.env import envbool
from oauth.models import Account
from servers import events
from servers.catalog.selectors import current_revision_keys
from servers.catalog.services import catalog_import
from servers.models import CatalogRevision, McpServer
from servers.system_tools import MANAGEMENT_PRODUCT, MANAGEMENT_VERSION

logger = logging.getLogger(__name__)

MANAGEMENT_SOURCE = "builtin:management-api"


@dataclass(frozen=True)
class SystemServer:
    """The definition of one system server (`systemMcpServerInfo` is `{product, name: system_name}`)."""

    product: str
    system_name: str
    name: str
    description: str
    instructions: str
    apis: list[dict[str, Any]] = field(default_factory=list)
    system_tools: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "instructions": self.instructions,
            "apis": self.apis,
            "system_tools": self.system_tools,
            "language": "EN_US",
        }


SYSTEM_SERVERS: tuple[SystemServer, ...] = (
    SystemServer(
        product=MANAGEMENT_PRODUCT,
        system_name="mcp-system",
        name="openapiexplorer-mcp-system",
        description="This console's management API as tools, called as the signed-in user.",
        instructions=(
            "These tools manage MCP servers of the signed-in user's account on this console, with that "
            "user's permissions. Start with ListApiMcpServers; GetApiMcpServer shows one server. "
            "FetchRamActionDetails explains a permission refusal."
        ),
        apis=[{"product": MANAGEMENT_PRODUCT, "apiVersion": MANAGEMENT_VERSION, "selectors": ["*"]}],
        system_tools=["FetchRamActionDetails"],
    ),
    SystemServer(
        product="ActionTrail",
        system_name="mcp-system",
        name="actiontrail-mcp-system",
        description="The audit trail: your own tool calls and management operations.",
        instructions=(
            "LookupEvents lists the signed-in user's own audit events, newest first; filter by time, "
            "tool or outcome (success, error, denied, invalid)."
        ),
        system_tools=["LookupEvents"],
    ),
)


def enabled() -> bool:
    return bool(getattr(settings, "SYSTEM_SERVERS", envbool("SYSTEM_SERVERS", True)))


# The management API in the catalog -------------------------------------------------------------


def management_api_document(base_url: str) -> dict[str, Any]:
    """The management API's OpenAPI document as /api/openapi.json serves it, with `base_url` as its server."""
    from config.api import api

    document: dict[str, Any] = json.loads(json.dumps(api.get_openapi_schema(), default=str))
    document["servers"] = [{"url": base_url, "description": "This installation"}]
    return document


_imported: dict[str, str] = {}  # raw document sha256 → sha256 of the revision it produced


def management_catalog_ensure() -> CatalogRevision | None:
    """Import the management API as `OpenAPIExplorer` 2024-11-30 (a no-op when unchanged).

    None when the API has no operations (nothing to import).
    """
    document = management_api_document(settings.PUBLIC_BASE_URL)
    if not document.get("paths"):
        return None
    raw = json.dumps(document).encode()
    digest = hashlib.sha256(raw).hexdigest()
    key = current_revision_keys([(MANAGEMENT_PRODUCT, MANAGEMENT_VERSION)]).get(
        (MANAGEMENT_PRODUCT, MANAGEMENT_VERSION)
    )
    if key is not None and _imported.get(digest) == key[1]:
        return CatalogRevision.objects.get(pk=key[0])  # imported by this process and still current
    outcome = catalog_import(source=MANAGEMENT_SOURCE, data=raw, product=MANAGEMENT_PRODUCT, version=MANAGEMENT_VERSION)
    _imported[digest] = outcome.revision.sha256
    return outcome.revision


# Servers ---------------------------------------------------------------------------------------


@transaction.atomic
def system_servers_ensure(account: Account) -> list[McpServer]:
    """Create or refresh the account's system servers; returns them (empty when turned off).

    Idempotent. A custom server already holding a system server's name (accounts older than
    system servers) keeps it, and that system server is skipped with a warning.
    """
    if not enabled():
        return []
    management_catalog_ensure()
    out: list[McpServer] = []
    for spec in SYSTEM_SERVERS:
        server = McpServer.objects.filter(
            account=account, source_type="system", system_product=spec.product, system_name=spec.system_name
        ).first()
        wanted = spec.fields()
        if server is None:
            if McpServer.objects.filter(account=account, name=spec.name).exists():
                logger.warning("account %s: a custom server is named %s; system server skipped", account.pk, spec.name)
                continue
            server = McpServer.objects.create(
                account=account,
                name=spec.name,
                source_type="system",
                system_product=spec.product,
                system_name=spec.system_name,
                **wanted,
            )
        elif any(getattr(server, name) != value for name, value in wanted.items()):
            for name, value in wanted.items():
                setattr(server, name, value)
            server.version += 1
            server.save()
        else:
            out.append(server)
            continue
        transaction.on_commit(partial(events.server_changed, server.id))
        out.append(server)
    return out
