"""Django admin for audit events (an operator's fallback; connections are in `oauth/admin.py`).

Audit events are append-only:
nobody adds, edits or deletes one here (not even a superuser; `manage.py export_audit` exports them).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from runtime.models import AuditEvent


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
