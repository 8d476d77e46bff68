"""Writes for accounts, users, policies, roles and credentials.

Policy and role writes validate their input and raise `ApiError` with the code the management API
answers (the management commands print its message); attaching and detaching is idempotent.
Every change that alters a decision reaches the MCP runtime's caches through `runtime.signals`
(`user` and `role` events).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from oauth.crypto import encrypt, sha256_hex
from oauth.models import (
    ACCOUNT_ID_RE,
    POLICY_NAME_RE,
    ROLE_NAME_RE,
    AccessKey,
    Account,
    PersonalAccessToken,
    Policy,
    Role,
    User,
)
from oauth.policy import ADMIN_POLICY, PolicyError, parse_policy
from servers.errors import ApiError

BUILT_IN_POLICY = "AdministratorAccess"

_KEY_ALPHABET = string.ascii_letters + string.digits


@transaction.atomic
def account_create(*, name: str) -> Account:
    """Create an account with its built-in administrator policy and its system MCP servers."""
    from servers.system_servers import system_servers_ensure  # (servers depends on oauth, not the reverse)

    account = Account.objects.create(name=name)
    Policy.objects.create(account=account, name=BUILT_IN_POLICY, description="Full access", document=ADMIN_POLICY)
    system_servers_ensure(account)
    return account


def _check_document(document: Any, field: str = "policyDocument") -> None:
    try:
        parse_policy(document)
    except PolicyError as exc:
        raise ApiError("InvalidParam.PolicyDocument", f"{field}: {exc}", field=field) from None


def _check_description(description: str) -> str:
    if len(description) > 1024:
        raise ApiError("InvalidParam.Description", "description must be at most 1024 characters.", field="description")
    return description


def policy_create(*, account: Account, name: str, document: Any, description: str = "") -> Policy:
    """Create a policy after validating its name (1-128 of A-Z a-z 0-9 . _ -) and its document."""
    if not POLICY_NAME_RE.fullmatch(name):
        raise ApiError(
            "InvalidParam.PolicyName",
            f"policyName {name[:130]!r} must be 1 to 128 letters, digits, periods, underscores or hyphens.",
            field="policyName",
        )
    _check_document(document)
    if Policy.objects.filter(account=account, name=name).exists():
        raise ApiError("EntityAlreadyExists.Policy", f"The policy {name} already exists.", 409, field="policyName")
    return Policy.objects.create(
        account=account, name=name, document=document, description=_check_description(description)
    )


@transaction.atomic
def policy_update(*, policy: Policy, document: Any = None, description: str | None = None) -> Policy:
    """Replace a policy's document and/or description; omitted ones are unchanged."""
    if policy.name == BUILT_IN_POLICY:
        raise ApiError("Forbidden.BuiltInPolicy", f"The built-in policy {BUILT_IN_POLICY} cannot be changed.", 403)
    if document is not None:
        _check_document(document)
        policy.document = document
    if description is not None:
        policy.description = _check_description(description)
    policy.save()
    return policy


@transaction.atomic
def policy_delete(*, policy: Policy) -> None:
    """Delete a policy that is attached to no user and no role (as RAM refuses to)."""
    if policy.name == BUILT_IN_POLICY:
        raise ApiError("Forbidden.BuiltInPolicy", f"The built-in policy {BUILT_IN_POLICY} cannot be deleted.", 403)
    if User.objects.filter(policies=policy).exists() or policy.roles.exists():
        raise ApiError(
            "DeleteConflict.Policy.Attachment",
            f"The policy {policy.name} is attached to users or roles; detach it first.",
            409,
        )
    policy.delete()


def _target(policy: Policy, user: User | None, role: Role | None) -> Any:
    if (user is None) == (role is None):
        raise ValueError("attach a policy to exactly one user or one role")
    owner = user.account_id if user is not None else role.account_id  # type: ignore[union-attr]
    if owner != policy.account_id:
        raise ValueError("a policy attaches only to users and roles of its own account")
    return user.policies if user is not None else role.policies  # type: ignore[union-attr]


@transaction.atomic
def policy_attach(*, policy: Policy, user: User | None = None, role: Role | None = None) -> None:
    """Attach `policy` to one user or one role of its account (no-op when attached already)."""
    _target(policy, user, role).add(policy)


@transaction.atomic
def policy_detach(*, policy: Policy, user: User | None = None, role: Role | None = None) -> None:
    """Detach `policy` from one user or one role (no-op when not attached)."""
    _target(policy, user, role).remove(policy)


def _trusted(account: Account, trusted_account_ids: Any) -> list[str]:
    if not isinstance(trusted_account_ids, list) or not all(isinstance(a, str) for a in trusted_account_ids):
        raise ApiError(
            "InvalidParam.TrustedAccountIds",
            "trustedAccountIds must be a list of account ids.",
            field="trustedAccountIds",
        )
    ids = list(dict.fromkeys(a.strip() for a in trusted_account_ids))
    for account_id in ids:
        if not ACCOUNT_ID_RE.fullmatch(account_id):
            raise ApiError(
                "InvalidParam.TrustedAccountIds",
                f"trustedAccountIds: {account_id[:40]!r} is not an account id (1 to 20 digits).",
                field="trustedAccountIds",
            )
        if account_id == account.id:
            raise ApiError(
                "InvalidParam.TrustedAccountIds",
                "trustedAccountIds: a role need not trust its own account (its users act there as themselves).",
                field="trustedAccountIds",
            )
    if len(ids) > 100:
        raise ApiError(
            "InvalidParam.TrustedAccountIds",
            "trustedAccountIds may list at most 100 accounts.",
            field="trustedAccountIds",
        )
    return ids


@transaction.atomic
def role_create(
    *,
    account: Account,
    name: str,
    trusted_account_ids: list[str],
    description: str = "",
    policies: Sequence[Policy] = (),
) -> Role:
    """Create a role of `account` trusted by `trusted_account_ids` (RAM's name rule: 1-64 of A-Z a-z 0-9 . -)."""
    if not ROLE_NAME_RE.fullmatch(name):
        raise ApiError(
            "InvalidParam.RoleName",
            f"roleName {name[:70]!r} must be 1 to 64 letters, digits, periods or hyphens.",
            field="roleName",
        )
    if Role.objects.filter(account=account, name=name).exists():
        raise ApiError("EntityAlreadyExists.Role", f"The role {name} already exists.", 409, field="roleName")
    role = Role.objects.create(
        account=account,
        name=name,
        description=_check_description(description),
        trusted_account_ids=_trusted(account, trusted_account_ids),
    )
    for policy in policies:
        policy_attach(policy=policy, role=role)
    return role


@transaction.atomic
def role_update(*, role: Role, trusted_account_ids: list[str] | None = None, description: str | None = None) -> Role:
    """Replace a role's trusted accounts and/or description; omitted ones are unchanged (the name is immutable)."""
    if trusted_account_ids is not None:
        role.trusted_account_ids = _trusted(role.account, trusted_account_ids)
    if description is not None:
        role.description = _check_description(description)
    role.save()
    return role


@transaction.atomic
def role_delete(*, role: Role) -> None:
    """Delete a role (its policies stay; calls assuming it are refused from then on)."""
    role.delete()


@transaction.atomic
def user_create(*, account: Account, username: str, password: str | None, is_account_admin: bool = False) -> User:
    """Create a user of `account`; account admins get the account's AdministratorAccess policy."""
    user = User.objects.create_user(username=username, password=password)
    user.account = account
    user.is_account_admin = is_account_admin
    user.save(update_fields=["account", "is_account_admin"])
    if is_account_admin:
        user.policies.add(Policy.objects.get(account=account, name=BUILT_IN_POLICY))
    return user


@dataclass(frozen=True)
class IssuedAccessKey:
    access_key_id: str
    access_key_secret: str
    account_id: str


def access_key_create(*, user: User, description: str = "") -> IssuedAccessKey:
    """Issue an AccessKey pair. The secret is returned once and stored encrypted."""
    key_id = "LTAI" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(20))
    secret = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(30))
    AccessKey.objects.create(
        id=key_id,
        user=user,
        secret_encrypted=encrypt(secret),
        secret_sha256=sha256_hex(secret),
        description=description,
    )
    return IssuedAccessKey(key_id, secret, str(user.account_id))


def access_key_revoke(*, access_key: AccessKey) -> None:
    access_key.revoked_at = timezone.now()
    access_key.save(update_fields=["revoked_at"])


def personal_token_create(*, user: User, name: str = "", server_id: str = "") -> str:
    """Issue a personal access token (returned once; only its hash is stored)."""
    token = "mcp_pat_" + secrets.token_urlsafe(32)
    PersonalAccessToken.objects.create(
        user=user, name=name, token_hash=sha256_hex(token), prefix=token[:12], server_id=server_id
    )
    return token
