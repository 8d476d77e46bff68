"""What the policy and role commands share: the account argument and ApiError → CommandError."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from oauth.models import Account
from servers.errors import ApiError


def account(account_id: str) -> Account:
    found = Account.objects.filter(id=account_id).first()
    if found is None:
        raise CommandError(f"account {account_id} does not exist")
    return found


def document(value: str) -> Any:
    """A policy document given inline (JSON) or as @path to a JSON file."""
    try:
        text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    except OSError as exc:
        raise CommandError(f"cannot read {value[1:]}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"the policy document is not JSON: {exc}") from None


@contextlib.contextmanager
def api_errors() -> Iterator[None]:
    """The services' refusals as command errors (the message the management API would answer)."""
    try:
        yield
    except ApiError as exc:
        raise CommandError(f"{exc.code}: {exc.message}") from None
