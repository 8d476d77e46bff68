"""Reads for identity and access."""

from __future__ import annotations

from oauth.models import User
from oauth.policy import Statement, parse_policy


def policies_for_user(user: User) -> list[tuple[str, list[Statement]]]:
    """The parsed policies attached to a user (superusers get everything)."""
    if user.is_superuser:
        from oauth.policy import ADMIN_POLICY

        return [("superuser", parse_policy(ADMIN_POLICY))]
    return [(p.name, parse_policy(p.document)) for p in user.policies.all()]
