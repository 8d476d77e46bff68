"""Writes for accounts, users, policies and credentials."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from oauth.crypto import encrypt, sha256_hex
from oauth.models import AccessKey, Account, PersonalAccessToken, Policy, User
from oauth.policy import ADMIN_POLICY, parse_policy

_KEY_ALPHABET = string.ascii_letters + string.digits


@transaction.atomic
def account_create(*, name: str) -> Account:
    """Create an account with its built-in administrator policy and its system MCP servers."""
    from servers.system_servers import system_servers_ensure  # (servers depends on oauth, not the reverse)

    account = Account.objects.create(name=name)
    Policy.objects.create(account=account, name="AdministratorAccess", description="Full access", document=ADMIN_POLICY)
    system_servers_ensure(account)
    return account


def policy_create(*, account: Account, name: str, document: Any, description: str = "") -> Policy:
    """Create a policy after validating its document (raises oauth.policy.PolicyError)."""
    parse_policy(document)
    return Policy.objects.create(account=account, name=name, document=document, description=description)


@transaction.atomic
def user_create(*, account: Account, username: str, password: str | None, is_account_admin: bool = False) -> User:
    """Create a user of `account`; account admins get the account's AdministratorAccess policy."""
    user = User.objects.create_user(username=username, password=password)
    user.account = account
    user.is_account_admin = is_account_admin
    user.save(update_fields=["account", "is_account_admin"])
    if is_account_admin:
        user.policies.add(Policy.objects.get(account=account, name="AdministratorAccess"))
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
