"""Django admin for connections and audit events (an operator's fallback).

Connection secrets are encrypted at rest and never shown or edited here: the console's Connections
page, the management API or `manage.py set_connection` set them. Audit events are append-only:
nobody adds, edits or deletes one here (not even a superuser; `manage.py export_audit` exports them).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from runtime.models import AuditEvent, Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("product", "account", "user", "auth_type", "base_url", "default_region", "updated_at")
    list_filter = ("auth_type",)
    search_fields = ("product", "account__id", "account__name", "user__username")
    list_select_related = ("account", "user")
    exclude = ("secrets_encrypted",)
    readonly_fields = ("created_at", "updated_at")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("time", "kind", "account_id", "username", "server_id", "tool", "outcome", "error_code")
    list_filter = ("kind", "outcome")
    search_fields = ("account_id", "username", "server_id", "tool", "action", "request_id", "event_id")
    date_hierarchy = "time"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
