"""Reads for identity and access."""

from __future__ import annotations

from django.db.models import QuerySet

from oauth import access
from oauth.models import Policy, Role, User
from oauth.policy import ADMIN_POLICY, Policies, parse_policy
from servers.errors import ApiError


def policies_for_user(user: User) -> Policies:
    """The parsed policies attached to a user (superusers get everything)."""
    if user.is_superuser:
        return [("superuser", parse_policy(ADMIN_POLICY))]
    return access.parse_named((p.name, p.document) for p in user.policies.all())


def decide_for_user(user: User, action: str, resource: str, context: dict[str, str]) -> access.Decision:
    """`oauth.access.decide` with the user's own policies: the decision of the management API and the console."""
    return access.decide(policies_for_user(user), action, resource, context)


def policies_for_account(account_id: str) -> QuerySet[Policy]:
    return Policy.objects.filter(account_id=account_id).prefetch_related("users", "roles").order_by("name")


def roles_for_account(account_id: str) -> QuerySet[Role]:
    return Role.objects.filter(account_id=account_id).prefetch_related("policies").order_by("name")


def policy_get(*, account_id: str, name: str) -> Policy:
    """The account's policy `name`, or 404 EntityNotExist.Policy."""
    policy = Policy.objects.filter(account_id=account_id, name=name).first()
    if policy is None:
        raise ApiError("EntityNotExist.Policy", f"The policy {name[:130]} does not exist.", 404, field="policyName")
    return policy


def role_get(*, account_id: str, name: str) -> Role:
    """The account's role `name`, or 404 EntityNotExist.Role."""
    role = Role.objects.filter(account_id=account_id, name=name).prefetch_related("policies").first()
    if role is None:
        raise ApiError("EntityNotExist.Role", f"The role {name[:70]} does not exist.", 404, field="roleName")
    return role


def user_get(*, account_id: str, username: str) -> User:
    """The account's user `username`, or 404 EntityNotExist.User (users of other accounts do not exist here)."""
    user = User.objects.filter(account_id=account_id, username=username).first()
    if user is None:
        raise ApiError("EntityNotExist.User", f"The user {username[:150]} does not exist.", 404, field="userName")
    return user
