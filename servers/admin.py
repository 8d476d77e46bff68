"""Django admin for the catalog and MCP servers.

Catalog rows are written by importers (a revision and its APIs are one consistent unit), so the
admin shows them read-only. MCP servers should be changed through the console or the management
API, which validate the whole model; the admin is for inspection and support.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from servers.models import ApiDefinition, CatalogRevision, IdempotencyRecord, McpServer, Product, ProductVersion


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "created_at")
    search_fields = ("code", "name")
    readonly_fields = ("created_at",)


@admin.register(ProductVersion)
class ProductVersionAdmin(_ReadOnlyAdmin):
    list_display = ("product", "version", "style", "source_format", "title", "current_revision", "updated_at")
    list_filter = ("style", "source_format")
    search_fields = ("product__code", "version", "title")
    list_select_related = ("product", "current_revision")


@admin.register(CatalogRevision)
class CatalogRevisionAdmin(_ReadOnlyAdmin):
    list_display = ("product_version", "number", "source", "sha256", "created_at")
    search_fields = ("product_version__product__code", "product_version__version", "source", "sha256")
    list_select_related = ("product_version__product",)
    exclude = ("document",)  # large; read it through the catalog API instead


@admin.register(ApiDefinition)
class ApiDefinitionAdmin(_ReadOnlyAdmin):
    list_display = ("name", "method", "path", "operation_type", "revision")
    list_filter = ("method", "operation_type")
    search_fields = ("name", "path", "summary", "revision__product_version__product__code")
    list_select_related = ("revision__product_version__product",)


@admin.register(McpServer)
class McpServerAdmin(_ReadOnlyAdmin):
    """Read-only: writes must go through the services (validation, version bump, runtime invalidation)."""

    list_display = ("name", "id", "account", "language", "source_type", "public_access", "version", "updated_at")
    list_filter = ("language", "source_type", "public_access")
    search_fields = ("id", "name", "description", "account__id", "account__name")
    list_select_related = ("account",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(_ReadOnlyAdmin):
    list_display = ("operation", "client_token", "account", "status_code", "created_at")
    list_filter = ("operation",)
    search_fields = ("client_token", "account__id")
    list_select_related = ("account",)
