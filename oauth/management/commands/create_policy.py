from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from oauth.management.commands import _access
from oauth.selectors import policy_get
from oauth.services import policy_create, policy_update


class Command(BaseCommand):
    help = "Create a policy in an account (or replace its document with --replace)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account id")
        parser.add_argument("--name", required=True, help="policy name (1-128 of A-Z a-z 0-9 . _ -)")
        parser.add_argument("--document", required=True, help="policy JSON, or @file.json")
        parser.add_argument("--description", default="")
        parser.add_argument("--replace", action="store_true", help="replace the document of an existing policy")

    def handle(self, *args: Any, **opts: Any) -> None:
        account = _access.account(opts["account"])
        document = _access.document(opts["document"])
        with _access.api_errors():
            if opts["replace"]:
                policy = policy_update(
                    policy=policy_get(account_id=account.id, name=opts["name"]),
                    document=document,
                    description=opts["description"] or None,
                )
                self.stdout.write(f"replaced policy {policy.name} in account {account.id}")
                return
            policy = policy_create(
                account=account, name=opts["name"], document=document, description=opts["description"]
            )
        self.stdout.write(f"created policy {policy.name} in account {account.id}")
