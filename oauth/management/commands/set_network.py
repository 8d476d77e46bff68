"""`manage.py set_network`: create or change a network of an account (SPEC §6.3).

    manage.py set_network --account <id> --name office --cidr 10.0.0.0/8 --cidr 192.168.0.0/16

A network of that name is created (a new `vpc-…` id), or its CIDR list replaced when it exists.
Prints the network as JSON. Validation and errors are those of `oauth.networks`.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.models import Account, Network
from oauth.networks import network_create, network_to_dict, network_update
from servers.errors import ApiError


class Command(BaseCommand):
    help = "Create a network of an account, or replace the CIDR list of the network of that name."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="Account id")
        parser.add_argument("--name", required=True, help="Network name (unique in the account)")
        parser.add_argument("--cidr", action="append", required=True, help="An IP network; repeat for several")
        parser.add_argument("--description", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(pk=options["account"]).first()
        if account is None:
            raise CommandError(f"No account {options['account']}")
        existing = Network.objects.filter(account=account, name=options["name"].strip()).first()
        try:
            if existing is None:
                network = network_create(
                    account=account,
                    name=options["name"],
                    cidrs=options["cidr"],
                    description=options["description"] or "",
                )
            else:
                network = network_update(network=existing, cidrs=options["cidr"], description=options["description"])
        except ApiError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None
        self.stdout.write(json.dumps({**network_to_dict(network), "created": existing is None}))
