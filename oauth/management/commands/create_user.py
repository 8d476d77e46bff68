from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from oauth.models import Account, User
from oauth.services import account_create, user_create


class Command(BaseCommand):
    help = "Create a user in an account (`--account new` creates the account)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account id, or 'new'")
        parser.add_argument("--account-name", default="", help="name for a new account")
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--admin", action="store_true", help="make the user an account admin")

    @transaction.atomic
    def handle(self, *args: Any, **opts: Any) -> None:
        if User.objects.filter(username=opts["username"]).exists():
            raise CommandError(f"username {opts['username']!r} is taken")
        if len(opts["password"]) < 8:
            raise CommandError("password must be at least 8 characters")
        if opts["account"] == "new":
            account = account_create(name=opts["account_name"] or f"{opts['username']}'s account")
        else:
            try:
                account = Account.objects.get(id=opts["account"])
            except Account.DoesNotExist:
                raise CommandError(f"account {opts['account']} does not exist") from None
        user = user_create(
            account=account, username=opts["username"], password=opts["password"], is_account_admin=opts["admin"]
        )
        role = "admin" if user.is_account_admin else "user"
        self.stdout.write(f"created {role} {user.username} in account {account.id}")
