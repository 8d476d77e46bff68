"""The catalog (imported API descriptions) and the MCP servers built from it."""

from __future__ import annotations

import secrets
import string

from django.db import models

from oauth.models import Account

_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_server_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


class Product(models.Model):
    """A product code (e.g. `Ecs`, `GitHub`). The catalog is shared by every account."""

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.code


class ProductVersion(models.Model):
    """One version of a product's API description; imports create revisions of it."""

    STYLE_CHOICES = [("RPC", "RPC"), ("ROA", "ROA"), ("OSS", "OSS"), ("OpenAPI", "OpenAPI")]

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64)
    style = models.CharField(max_length=16, choices=STYLE_CHOICES)
    source_format = models.CharField(max_length=32, blank=True, help_text="alibaba, openapi-3.0, swagger-2.0…")
    title = models.CharField(max_length=300, blank=True)
    endpoints = models.JSONField(default=list, blank=True)
    current_revision = models.ForeignKey(
        "CatalogRevision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "version"], name="product_version_unique")]

    def __str__(self) -> str:
        return f"{self.product.code} {self.version}"


class CatalogRevision(models.Model):
    """One import of a product version: the normalised document and what changed since the last."""

    product_version = models.ForeignKey(ProductVersion, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    source = models.CharField(max_length=1000, blank=True)
    sha256 = models.CharField(max_length=64)
    document = models.JSONField(help_text="Alibaba metadata shape: info, apis, endpoints, components, errorCodes")
    problems = models.JSONField(default=list, blank=True)
    diff = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product_version", "number"], name="revision_number_unique")]

    def __str__(self) -> str:
        return f"{self.product_version} r{self.number}"


class ApiDefinition(models.Model):
    """One operation of a revision, in the Alibaba metadata shape."""

    revision = models.ForeignKey(CatalogRevision, on_delete=models.CASCADE, related_name="apis")
    name = models.CharField(max_length=200)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=1000, blank=True)
    summary = models.TextField(blank=True)
    operation_type = models.CharField(max_length=32, blank=True)
    definition = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["revision", "name"], name="api_name_unique_per_revision")]

    def __str__(self) -> str:
        return self.name


class McpServer(models.Model):
    """A published selection of APIs plus prompts, tools and access settings (SPEC §3.1).

    List-valued children are stored as validated JSON documents: the management API replaces them
    wholesale, and the runtime reads them as one versioned snapshot. `version` bumps on every change.
    """

    LANGUAGES = [("EN_US", "English"), ("ZH_CN", "Chinese")]
    SOURCE_TYPES = [("custom", "custom"), ("system", "system")]
    PUBLIC_ACCESS = [("on", "on"), ("off", "off"), ("follow", "follow")]

    id = models.CharField(primary_key=True, max_length=32, default=new_server_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="mcp_servers")
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    language = models.CharField(max_length=8, choices=LANGUAGES, default="EN_US")
    source_type = models.CharField(max_length=8, choices=SOURCE_TYPES, default="custom")
    system_product = models.CharField(max_length=64, blank=True)
    system_name = models.CharField(max_length=64, blank=True)
    apis = models.JSONField(default=list, blank=True)
    additional_api_descriptions = models.JSONField(default=list, blank=True)
    prompts = models.JSONField(default=list, blank=True)
    system_tools = models.JSONField(default=list, blank=True)
    terraform_tools = models.JSONField(default=list, blank=True)
    instructions = models.TextField(blank=True)
    oauth_client_id = models.CharField(max_length=200, blank=True)
    enable_assume_role = models.BooleanField(default=False)
    assume_role_name = models.CharField(max_length=64, blank=True)
    assume_role_extra_policy = models.TextField(blank=True)
    public_access = models.CharField(max_length=8, choices=PUBLIC_ACCESS, default="follow")
    enable_custom_vpc_whitelist = models.BooleanField(default=False)
    vpc_whitelists = models.JSONField(default=list, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="server_name_unique_per_account")]
        indexes = [models.Index(fields=["account", "created_at"])]

    def __str__(self) -> str:
        return self.name


class IdempotencyRecord(models.Model):
    """The answer to a write made with a `clientToken`, replayed for the same token and body."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE)
    operation = models.CharField(max_length=64)
    client_token = models.CharField(max_length=64)
    request_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "operation", "client_token"], name="idempotency_unique")
        ]
