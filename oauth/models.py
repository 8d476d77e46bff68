"""Tenancy and identity: accounts, their users, policies, static credentials, connections and networks."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

from oauth.crypto import decrypt, encrypt


def new_account_id() -> str:
    """Numeric string ids, 16 digits, never starting with 0 (like Alibaba Cloud uids)."""
    return str(secrets.randbelow(9 * 10**15) + 10**15)


class Account(models.Model):
    """A tenant. Owns users, policies, MCP servers and connections."""

    id = models.CharField(primary_key=True, max_length=20, default=new_account_id, editable=False)
    name = models.CharField(max_length=100)
    enable_public_access = models.BooleanField(default=True)
    vpc_whitelists = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class User(AbstractUser):
    """A person or robot; belongs to exactly one account (superusers may belong to none)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, null=True, blank=True, related_name="users")
    is_account_admin = models.BooleanField(default=False)
    policies: models.ManyToManyField[Policy, Any] = models.ManyToManyField("Policy", blank=True, related_name="users")


class Policy(models.Model):
    """A RAM-style policy document: {"Version": "1", "Statement": [...]}, validated on save."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=128)
    description = models.CharField(max_length=1024, blank=True)
    document = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="policy_name_unique_per_account")]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name


ROLE_NAME_RE = re.compile(r"[A-Za-z0-9.-]{1,64}")
"""RAM's rule for role names: 1 to 64 letters, digits, periods or hyphens."""
POLICY_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
ACCOUNT_ID_RE = re.compile(r"[0-9]{1,20}")


class Role(models.Model):
    """A RAM-style role of an account: users of the trusted accounts may assume it (SPEC §6.4).

    A caller of another account acts as this role when its MCP server has `enableAssumeRole` and
    the call sets `x_assume_account_id`: the role must trust the server's account, the caller needs
    `sts:AssumeRole` on `acs:ram::<account>:role/<name>`, and the call is allowed by the role's
    policies (intersected with the server's `assumeRoleExtraPolicy`).
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="roles")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=1024, blank=True)
    trusted_account_ids = models.JSONField(default=list, blank=True, help_text='["1234567890123456", …]')
    policies: models.ManyToManyField[Policy, Any] = models.ManyToManyField(Policy, blank=True, related_name="roles")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="role_name_unique_per_account")]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"


class AccessKey(models.Model):
    """An AccessKey pair for ACS3-HMAC-SHA256 signed management API calls.

    HMAC verification needs the secret itself, so it is kept encrypted (Fernet, key from settings,
    never in the database) rather than one-way hashed; `secret_sha256` identifies it for display.
    """

    id = models.CharField(primary_key=True, max_length=32, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="access_keys")
    secret_encrypted = models.TextField()
    secret_sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=256, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.id


class PersonalAccessToken(models.Model):
    """A bearer token for headless MCP clients; stored as a SHA-256 hash, shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="personal_tokens")
    name = models.CharField(max_length=128, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    server_id = models.CharField(max_length=32, blank=True, help_text="Restrict to one MCP server")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


def new_network_id() -> str:
    """`vpc-` and 20 lower-case letters and digits (the shape of an Alibaba Cloud VPC id)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "vpc-" + "".join(secrets.choice(alphabet) for _ in range(20))


class Connection(models.Model):
    """How an account (or one of its users) reaches a product: endpoints and credentials.

    A user's own connection wins over the account's. `secrets_encrypted` is a Fernet token of a
    JSON object (`access_key_secret`, `security_token`, `api_key`, `token`, `password`,
    `client_secret`); the key comes from settings, never from the database.
    """

    AUTH_NONE = "none"
    AUTH_ALIBABA_AK = "alibaba_ak"
    AUTH_API_KEY = "api_key"
    AUTH_BEARER = "bearer"
    AUTH_BASIC = "basic"
    AUTH_OAUTH2_CC = "oauth2_client_credentials"
    AUTH_TYPES = [
        (AUTH_NONE, "No authentication"),
        (AUTH_ALIBABA_AK, "Alibaba Cloud AccessKey (signature V3)"),
        (AUTH_API_KEY, "API key (header or query)"),
        (AUTH_BEARER, "Bearer token"),
        (AUTH_BASIC, "HTTP basic"),
        (AUTH_OAUTH2_CC, "OAuth 2.0 client credentials"),
    ]

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="connections")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="connections"
    )
    product = models.CharField(max_length=64, help_text="Product code, compared case-insensitively")
    base_url = models.CharField(max_length=500, blank=True, help_text="Overrides every endpoint of the product")
    region_endpoints = models.JSONField(default=dict, blank=True, help_text='{"cn-hangzhou": "https://…"}')
    default_region = models.CharField(max_length=64, blank=True)
    auth_type = models.CharField(max_length=32, choices=AUTH_TYPES, default=AUTH_NONE)
    auth_config = models.JSONField(
        default=dict,
        blank=True,
        help_text="Non-secret settings: access_key_id, name/in/prefix (API key), username, token_url, client_id, scope",
    )
    secrets_encrypted = models.TextField(blank=True)
    connect_timeout = models.FloatField(null=True, blank=True)
    read_timeout = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table keeps the name it had when the runtime owned connections (a state-only move).
        db_table = "runtime_connection"
        # One account-wide connection per product, and one per user and product (two partial
        # constraints, because SQLite cannot treat NULL users as equal in one constraint).
        constraints = [
            models.UniqueConstraint(
                fields=["account", "product"],
                condition=models.Q(user__isnull=True),
                name="connection_unique_per_account",
            ),
            models.UniqueConstraint(
                fields=["account", "user", "product"],
                condition=models.Q(user__isnull=False),
                name="connection_unique_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} ({self.account_id}{'/' + str(self.user_id) if self.user_id else ''})"

    def set_secrets(self, values: dict[str, str]) -> None:
        self.secrets_encrypted = encrypt(json.dumps({k: v for k, v in values.items() if v})) if values else ""

    def get_secrets(self) -> dict[str, Any]:
        return json.loads(decrypt(self.secrets_encrypted)) if self.secrets_encrypted else {}


class Network(models.Model):
    """A named private network of an account (SPEC §6.3): the address ranges its clients come from.

    Whitelists (`vpcWhitelists` of a server or of the account) name a network by its id; the MCP
    runtime resolves the id to `cidrs` (`oauth.networks`, `runtime.network_access`).
    """

    id = models.CharField(primary_key=True, max_length=32, default=new_network_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="networks")
    name = models.CharField(max_length=128)
    description = models.CharField(max_length=1024, blank=True)
    cidrs = models.JSONField(default=list, help_text='IP networks in CIDR notation: ["10.0.0.0/8", "fd00::/8"]')
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="network_name_unique_per_account")]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class UsedNonce(models.Model):
    """Signature nonces seen within the allowed clock skew, to refuse replays."""

    nonce = models.CharField(primary_key=True, max_length=128)
    seen_at = models.DateTimeField(auto_now_add=True, db_index=True)
