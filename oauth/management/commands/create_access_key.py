from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from oauth.models import User
from oauth.services import access_key_create


class Command(BaseCommand):
    help = "Issue an AccessKey for a user; prints JSON {AccessKeyId, AccessKeySecret, AccountId}."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            user = User.objects.get(username=opts["user"])
        except User.DoesNotExist:
            raise CommandError(f"user {opts['user']!r} does not exist") from None
        if user.account_id is None:
            raise CommandError(f"user {user.username!r} belongs to no account")
        key = access_key_create(user=user, description=opts["description"])
        self.stdout.write(
            json.dumps(
                {
                    "AccessKeyId": key.access_key_id,
                    "AccessKeySecret": key.access_key_secret,
                    "AccountId": key.account_id,
                }
            )
        )
