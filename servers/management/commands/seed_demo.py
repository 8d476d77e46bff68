from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from oauth.models import User
from oauth.services import account_create, user_create

DEMO_USER = "admin"
DEMO_PASSWORD = "admin-password"


class Command(BaseCommand):
    help = "Create the demo account, its admin user and demo data (idempotent)."

    def handle(self, *args: Any, **opts: Any) -> None:
        user = User.objects.filter(username=DEMO_USER).first()
        if user is None:
            account = account_create(name="Demo")
            user = user_create(account=account, username=DEMO_USER, password=DEMO_PASSWORD, is_account_admin=True)
        self.stdout.write(f"Console login: username {DEMO_USER!r}, password {DEMO_PASSWORD!r} (account {user.account_id})")
