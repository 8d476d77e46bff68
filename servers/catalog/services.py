"""Writes for the catalog: importing an API description as a new revision of a product version.

`catalog_import` reads a file or an https URL (limits from settings), normalises it with the pure
importers in `servers.catalog`, and stores it with `revision_create`. A re-import that changes the
document creates the next revision of the same product version and stores its diff: APIs added,
removed and changed, and per server the customisations that no longer apply. Servers' settings are
never rewritten; servers that use the product version get their `version` bumped (their compiled
tools change) and a change notification after commit.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from servers import events
from servers.catalog import CatalogImportError, FetchLimits, ImportResult, import_bytes, read_source
from servers.catalog.alibaba import STYLES as ALIBABA_STYLES
from servers.catalog.alibaba import import_alibaba
from servers.catalog.diff import diff_documents, diff_summary
from servers.compiler.impact import customisation_impact
from servers.models import ApiDefinition, CatalogRevision, McpServer, Product, ProductVersion

__all__ = [
    "CatalogImportError",
    "ImportOutcome",
    "catalog_import",
    "import_alibaba_file",
    "revision_create",
]


@dataclass
class ImportOutcome:
    """The stored revision (a new one unless `created` is False: same document as the current one)."""

    revision: CatalogRevision
    created: bool
    source_format: str
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def diff(self) -> dict[str, Any]:
        return self.revision.diff

    @property
    def summary(self) -> str:
        return diff_summary(self.revision.diff if self.created else {"unchangedDocument": True})


def _sha256(document: dict[str, Any]) -> str:
    raw = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


def _server_settings(server: McpServer) -> dict[str, Any]:
    return {"apis": server.apis or [], "additionalApiDescriptions": server.additional_api_descriptions or []}


def _uses(server: McpServer, product: str, version: str) -> bool:
    entries = [*(server.apis or []), *(server.additional_api_descriptions or [])]
    return any(isinstance(e, dict) and e.get("product") == product and e.get("apiVersion") == version for e in entries)


def _affected_servers(product: str, version: str) -> list[McpServer]:
    # JSON containment lookups differ between SQLite and PostgreSQL; server rows are few and small.
    servers = McpServer.objects.only("id", "name", "account_id", "apis", "additional_api_descriptions")
    return [s for s in servers.order_by("id") if _uses(s, product, version)]


def _notify(server_ids: list[str]) -> None:
    for server_id in server_ids:
        events.server_changed(server_id)


def _store(
    *, document: dict[str, Any], source: str, source_format: str, problems: list[dict[str, str]]
) -> tuple[CatalogRevision, bool]:
    info = document["info"]
    product, _ = Product.objects.get_or_create(code=info["product"], defaults={"name": info.get("title", "")})
    pv, _ = ProductVersion.objects.get_or_create(
        product=product, version=info["version"], defaults={"style": info.get("style", "RPC")}
    )
    pv = ProductVersion.objects.select_for_update(of=("self",)).select_related("current_revision").get(pk=pv.pk)
    sha = _sha256(document)
    previous = pv.current_revision
    if previous is not None and previous.sha256 == sha:
        return previous, False

    diff = diff_documents(previous.document if previous is not None else None, document)
    affected = _affected_servers(product.code, pv.version)
    if previous is not None:
        impacts = []
        for server in affected:
            issues = customisation_impact(
                _server_settings(server), product.code, pv.version, previous.document, document
            )
            if issues:
                impacts.append(
                    {"serverId": server.id, "serverName": server.name, "accountId": server.account_id, "issues": issues}
                )
        diff["servers"] = impacts
        diff["fromRevision"] = previous.number

    pv.style = info.get("style", pv.style)
    pv.source_format = source_format
    pv.title = str(info.get("title", ""))[:300]
    pv.endpoints = document.get("endpoints") or []
    number = (pv.revisions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    diff["toRevision"] = number
    revision = CatalogRevision.objects.create(
        product_version=pv,
        number=number,
        source=source[:1000],
        sha256=sha,
        document=document,
        problems=problems,
        diff=diff,
    )
    ApiDefinition.objects.bulk_create(
        [
            ApiDefinition(
                revision=revision,
                name=name,
                method=str((api.get("methods") or ["get"])[0]).upper()[:10],
                path=str(api.get("path", ""))[:1000],
                summary=str(api.get("summary", "") or api.get("title", "")),
                operation_type=str((api.get("systemTags") or {}).get("operationType", "") or "")[:32],
                definition=api,
            )
            for name, api in document.get("apis", {}).items()
        ],
        batch_size=500,
    )
    pv.current_revision = revision
    pv.save()
    code, version_name = product.code, pv.version
    transaction.on_commit(lambda: events.catalog_changed(code, version_name))
    if previous is not None and affected:
        # Their compiled tools change: bump the version the runtime's caches check, then tell them.
        McpServer.objects.filter(pk__in=[s.pk for s in affected]).update(version=F("version") + 1)
        ids = [s.pk for s in affected]
        transaction.on_commit(lambda: _notify(ids))
    return revision, True


@transaction.atomic
def revision_create(
    *,
    document: dict[str, Any],
    source: str = "",
    source_format: str = "alibaba",
    problems: list[dict[str, str]] | None = None,
) -> CatalogRevision:
    """Store a normalised document as the next revision of its product version.

    Returns the current revision unchanged when the document is identical to it. Alibaba Cloud
    metadata given as published is completed first (as `catalog_import` does).
    """
    if (document.get("info") or {}).get("style") in ALIBABA_STYLES:
        document = import_alibaba(document).document
    revision, _ = _store(document=document, source=source, source_format=source_format, problems=problems or [])
    return revision


def fetch_limits() -> FetchLimits:
    return FetchLimits(
        max_bytes=settings.IMPORT_MAX_BYTES,
        timeout_seconds=settings.IMPORT_TIMEOUT_SECONDS,
        allow_private=settings.IMPORT_ALLOW_PRIVATE_URLS,
    )


def catalog_import(
    *, source: str, data: bytes | None = None, product: str | None = None, version: str | None = None
) -> ImportOutcome:
    """Import a description from `data`, or else from `source` (a file path or an https URL).

    Raises CatalogImportError (with a stable `code`) when it cannot be imported at all.
    """
    if data is None:
        data = read_source(source, fetch_limits())
    elif len(data) > settings.IMPORT_MAX_BYTES:
        raise CatalogImportError(
            "InvalidParam.Document", f"The description is larger than {settings.IMPORT_MAX_BYTES} bytes"
        )
    result: ImportResult = import_bytes(data, source=source, product=product, version=version)
    with transaction.atomic():
        revision, created = _store(
            document=result.document, source=source, source_format=result.source_format, problems=result.problems
        )
    return ImportOutcome(
        revision=revision,
        created=created,
        source_format=result.source_format,
        problems=result.problems if created else list(revision.problems),
    )


def import_alibaba_file(path: str | Path) -> CatalogRevision:
    """Import an Alibaba Cloud `api-docs.json` file."""
    return catalog_import(source=str(path)).revision
