"""`manage.py import_api <path-or-url> [--product P] [--version V]`: import an API description."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from servers.catalog.services import CatalogImportError, catalog_import

MAX_LISTED = 20


class Command(BaseCommand):
    help = (
        "Import an API description (OpenAPI 3.x, Swagger 2.0 or Alibaba Cloud api-docs.json; JSON or YAML) "
        "from a file or an https URL as a new revision of its product version."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # `--version` names the API version here, replacing Django's "print Django's version".
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="file path or https URL")
        parser.add_argument("--product", help="product code (default: from the document)")
        parser.add_argument("--version", dest="api_version", help="version (default: from the document)")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            outcome = catalog_import(source=opts["source"], product=opts["product"], version=opts["api_version"])
        except CatalogImportError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        revision = outcome.revision
        pv = revision.product_version
        out = self.stdout
        out.write(f"Product:   {pv.product.code}")
        out.write(f"Version:   {pv.version} ({outcome.source_format}, style {pv.style})")
        out.write(f"Revision:  {revision.number}" + ("" if outcome.created else " (unchanged: same document)"))
        out.write(f"APIs:      {revision.apis.count()}")
        out.write(f"Problems:  {len(outcome.problems)}")
        for problem in outcome.problems[:MAX_LISTED]:
            api = f"{problem['api']}: " if problem.get("api") else ""
            out.write(f"  - {api}{problem['where']}: {problem['message']}")
        if len(outcome.problems) > MAX_LISTED:
            out.write(f"  … {len(outcome.problems) - MAX_LISTED} more (stored with the revision)")
        out.write(f"Changes:   {outcome.summary}")
        if outcome.created:
            self._details(revision.diff)

    def _details(self, diff: dict[str, Any]) -> None:
        if diff.get("initial"):
            return
        for label, key in (("added", "added"), ("removed", "removed")):
            names = diff.get(key) or []
            if names:
                self.stdout.write(
                    f"  {label}: {', '.join(names[:MAX_LISTED])}{' …' if len(names) > MAX_LISTED else ''}"
                )
        for change in (diff.get("changed") or [])[:MAX_LISTED]:
            parts = [f"{k} {', '.join(v)}" for k, v in change.items() if k != "api" and isinstance(v, list)]
            self.stdout.write(f"  changed {change['api']}: {'; '.join(parts)}")
        for server in diff.get("servers") or []:
            self.stdout.write(f"  server {server['serverName']} ({server['serverId']}):")
            for issue in server["issues"]:
                self.stdout.write(f"    - {issue['message']}")
