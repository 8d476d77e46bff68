"""Delete self-registered OAuth clients nobody uses (see oauth.authserver.clients)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from oauth.authserver.clients import unused_clients, unused_clients_purge


class Command(BaseCommand):
    help = (
        "Delete dynamically registered and metadata-document OAuth clients with no live grant, access or "
        "refresh token, registered more than OAUTH_UNUSED_CLIENT_SECONDS ago. Run it from cron; registrations "
        "also run it now and then."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Only print how many would be deleted")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        if dry_run:
            self.stdout.write(f"{unused_clients().count()} unused OAuth clients would be deleted")
            return
        self.stdout.write(f"Deleted {unused_clients_purge()} unused OAuth clients")
