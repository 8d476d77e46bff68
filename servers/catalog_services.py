"""Writes for the catalog: importing an API description as a new revision of a product version.

This first version loads Alibaba Cloud API metadata (`api-docs.json`) as is; other formats are
converted to that shape by the importers before they reach `revision_create`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.db import transaction

from servers.models import ApiDefinition, CatalogRevision, Product, ProductVersion


@transaction.atomic
def revision_create(*, document: dict[str, Any], source: str = "", source_format: str = "alibaba") -> CatalogRevision:
    """Store a normalised document (Alibaba metadata shape) as the next revision of its product version."""
    info = document["info"]
    product, _ = Product.objects.get_or_create(code=info["product"], defaults={"name": info.get("title", "")})
    pv, _ = ProductVersion.objects.select_for_update().get_or_create(
        product=product, version=info["version"], defaults={"style": info.get("style", "RPC")}
    )
    pv.style = info.get("style", pv.style)
    pv.source_format = source_format
    pv.title = info.get("title", "")[:300]
    pv.endpoints = document.get("endpoints") or []
    number = (pv.revisions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    raw = json.dumps(document, sort_keys=True).encode()
    revision = CatalogRevision.objects.create(
        product_version=pv, number=number, source=source, sha256=hashlib.sha256(raw).hexdigest(), document=document
    )
    ApiDefinition.objects.bulk_create(
        [
            ApiDefinition(
                revision=revision,
                name=name,
                method=(api.get("methods") or ["get"])[0].upper(),
                path=api.get("path", ""),
                summary=api.get("summary", "") or api.get("title", ""),
                operation_type=(api.get("systemTags") or {}).get("operationType", ""),
                definition=api,
            )
            for name, api in document.get("apis", {}).items()
        ]
    )
    pv.current_revision = revision
    pv.save()
    return revision


def import_alibaba_file(path: str | Path) -> CatalogRevision:
    """Import an Alibaba Cloud `api-docs.json` file."""
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    return revision_create(document=document, source=str(path), source_format="alibaba")
