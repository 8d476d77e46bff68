"""Reads for identity and access."""

from __future__ import annotations

from oauth import access
from oauth.models import User
from oauth.policy import ADMIN_POLICY, Policies, parse_policy


def policies_for_user(user: User) -> Policies:
    """The parsed policies attached to a user (superusers get everything)."""
    if user.is_superuser:
        return [("superuser", parse_policy(ADMIN_POLICY))]
    return access.parse_named((p.name, p.document) for p in user.policies.all())


def decide_for_user(user: User, action: str, resource: str, context: dict[str, str]) -> access.Decision:
    """`oauth.access.decide` with the user's own policies: the decision of the management API and the console."""
    return access.decide(policies_for_user(user), action, resource, context)
