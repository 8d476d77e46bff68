"""What the MCP runtime stores: connections to upstream products and the audit trail of tool calls.

The runtime reads and writes these only through `runtime/data.py` (async, cache misses only) and
the audit writer; the console and management API use them as ordinary Django models.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models

from oauth.models import Account


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
        from oauth.crypto import encrypt

        self.secrets_encrypted = encrypt(json.dumps({k: v for k, v in values.items() if v})) if values else ""

    def get_secrets(self) -> dict[str, Any]:
        from oauth.crypto import decrypt

        return json.loads(decrypt(self.secrets_encrypted)) if self.secrets_encrypted else {}


class AuditEvent(models.Model):
    """One tool call (or management operation): who, what, outcome, and the upstream request."""

    KIND_TOOL_CALL = "tool_call"
    KIND_MANAGEMENT = "management"
    KIND_SIGNIN = "signin"  # a failed or throttled sign-in (oauth.signin)

    event_id = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=16, default=KIND_TOOL_CALL)
    time = models.DateTimeField(db_index=True)
    account_id = models.CharField(max_length=20, db_index=True)
    target_account_id = models.CharField(max_length=20, blank=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    username = models.CharField(max_length=150, blank=True)
    client_id = models.CharField(max_length=200, blank=True)
    server_id = models.CharField(max_length=32, blank=True, db_index=True)
    tool = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=200, blank=True)
    arguments = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16)  # success | error | denied | invalid
    error_code = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    source_ip = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    upstream_request_id = models.CharField(max_length=200, blank=True)
    upstream = models.JSONField(default=dict, blank=True, help_text="method, url, status, duration_ms")

    class Meta:
        indexes = [models.Index(fields=["account_id", "time"]), models.Index(fields=["user_id", "time"])]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.tool} {self.outcome}"
