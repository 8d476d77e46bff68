"""`manage.py delete_network --account <id> --id vpc-…`: delete a network that no whitelist names."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.networks import network_delete, network_get
from servers.errors import ApiError


class Command(BaseCommand):
    help = "Delete a network of an account (refused while a whitelist names it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="Account id")
        parser.add_argument("--id", required=True, help="Network id (vpc-…)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            network_delete(network=network_get(options["account"], options["id"]))
        except ApiError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(f"Deleted network {options['id']}")
