from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from oauth.models import Account
from servers.system_servers import enabled, system_servers_ensure


class Command(BaseCommand):
    help = "Give every account (or one) its system MCP servers; safe to run again."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--account", help="only this account id")

    def handle(self, *args: Any, **opts: Any) -> None:
        if not enabled():
            raise CommandError("system servers are turned off (SYSTEM_SERVERS=0)")
        accounts = Account.objects.all()
        if opts["account"]:
            accounts = accounts.filter(id=opts["account"])
            if not accounts.exists():
                raise CommandError(f"account {opts['account']} does not exist")
        for account in accounts.order_by("id"):
            servers = system_servers_ensure(account)
            self.stdout.write(f"account {account.id}: {', '.join(s.name for s in servers)}")
