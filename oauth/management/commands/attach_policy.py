from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from oauth.management.commands import _access
from oauth.selectors import policy_get, role_get, user_get
from oauth.services import policy_attach, policy_detach


class Command(BaseCommand):
    help = "Attach a policy to a user or a role of its account (--detach detaches it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account id")
        parser.add_argument("--policy", required=True, help="policy name")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--user", help="user name")
        target.add_argument("--role", help="role name")
        parser.add_argument("--detach", action="store_true")

    @transaction.atomic
    def handle(self, *args: Any, **opts: Any) -> None:
        account = _access.account(opts["account"])
        if not (opts["user"] or opts["role"]):
            raise CommandError("name a --user or a --role")
        with _access.api_errors():
            policy = policy_get(account_id=account.id, name=opts["policy"])
            user = user_get(account_id=account.id, username=opts["user"]) if opts["user"] else None
            role = role_get(account_id=account.id, name=opts["role"]) if opts["role"] else None
            (policy_detach if opts["detach"] else policy_attach)(policy=policy, user=user, role=role)
        verb = "detached" if opts["detach"] else "attached"
        whom = f"user {user.username}" if user is not None else f"role {role.name}"  # type: ignore[union-attr]
        self.stdout.write(f"{verb} policy {policy.name} {'from' if opts['detach'] else 'to'} {whom}")
