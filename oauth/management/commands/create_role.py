from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from oauth.management.commands import _access
from oauth.selectors import policy_get
from oauth.services import role_create


class Command(BaseCommand):
    help = "Create a role in an account, trusted by other accounts, with policies attached."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account id of the role")
        parser.add_argument("--name", required=True, help="role name (1-64 of A-Z a-z 0-9 . -)")
        parser.add_argument(
            "--trust", action="append", default=[], metavar="ACCOUNT_ID", help="an account whose users may assume it"
        )
        parser.add_argument("--policy", action="append", default=[], metavar="NAME", help="a policy of the account")
        parser.add_argument("--description", default="")

    @transaction.atomic
    def handle(self, *args: Any, **opts: Any) -> None:
        account = _access.account(opts["account"])
        with _access.api_errors():
            policies = [policy_get(account_id=account.id, name=name) for name in opts["policy"]]
            role = role_create(
                account=account,
                name=opts["name"],
                trusted_account_ids=opts["trust"],
                description=opts["description"],
                policies=policies,
            )
        trusted = ", ".join(role.trusted_account_ids) or "no account"
        self.stdout.write(f"created role {role.name} in account {account.id}, trusted by {trusted}")
