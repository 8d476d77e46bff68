from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.models import User
from oauth.services import personal_token_create


class Command(BaseCommand):
    help = "Issue a personal access token for MCP clients (printed once; only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument("--server", default="", help="restrict the token to this MCP server id")
        parser.add_argument("--name", default="", help="a label shown in the console")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            user = User.objects.get(username=opts["user"])
        except User.DoesNotExist:
            raise CommandError(f"user {opts['user']!r} does not exist") from None
        if user.account_id is None:
            raise CommandError(f"user {user.username!r} belongs to no account")
        if opts["server"]:
            from servers.models import McpServer

            if not McpServer.objects.filter(id=opts["server"], account_id=user.account_id).exists():
                raise CommandError(f"MCP server {opts['server']!r} does not exist in the user's account")
        self.stdout.write(personal_token_create(user=user, name=opts["name"], server_id=opts["server"]))
