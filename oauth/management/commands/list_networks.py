"""`manage.py list_networks --account <id>`: the account's networks, one JSON object a line."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from oauth.networks import network_to_dict, networks_for_account


class Command(BaseCommand):
    help = "List the networks of an account as JSON lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="Account id")

    def handle(self, *args: Any, **options: Any) -> None:
        for network in networks_for_account(options["account"]):
            self.stdout.write(json.dumps(network_to_dict(network)))
