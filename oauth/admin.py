"""Django admin for accounts and credentials.

Secrets never appear here: AccessKey secrets (encrypted) and token hashes are excluded from every
form, and credentials cannot be created from the admin (the services return the secret once, which
the admin has no place to show). Use the console or `manage.py create_access_key` instead. Connection
secrets are set by the console's Connections page, the management API or `manage.py set_connection`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from oauth.models import AccessKey, Account, Connection, PersonalAccessToken, Policy, UsedNonce, User


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "enable_public_access", "created_at")
    search_fields = ("id", "name")
    readonly_fields = ("id", "created_at", "updated_at")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "account", "is_account_admin", "is_active", "is_superuser", "last_login")
    list_filter = ("is_account_admin", "is_active", "is_superuser")
    search_fields = ("username", "email", "account__id", "account__name")
    list_select_related = ("account",)
    filter_horizontal = ("policies", "groups", "user_permissions")
    fieldsets = (
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]
        ("Account", {"fields": ("account", "is_account_admin", "policies")}),
    )


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "description", "updated_at")
    search_fields = ("name", "description", "account__id", "account__name")
    list_select_related = ("account",)
    readonly_fields = ("created_at", "updated_at")


class _CredentialAdmin(admin.ModelAdmin):
    """Read-only views of issued credentials; revocation is the only change worth making here."""

    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected credentials")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        from django.utils import timezone

        updated = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {updated} credential(s).")


@admin.register(AccessKey)
class AccessKeyAdmin(_CredentialAdmin):
    list_display = ("id", "user", "description", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("id", "user__username", "description")
    list_select_related = ("user",)
    # secret_encrypted is deliberately absent; the SHA-256 identifies the secret without revealing it.
    fields = ("id", "user", "description", "secret_sha256", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("id", "user", "secret_sha256", "created_at", "last_used_at")


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(_CredentialAdmin):
    list_display = ("prefix", "user", "name", "server_id", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username", "server_id")
    list_select_related = ("user",)
    fields = ("prefix", "user", "name", "server_id", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "user", "created_at", "last_used_at")


@admin.register(UsedNonce)
class UsedNonceAdmin(admin.ModelAdmin):
    list_display = ("nonce", "seen_at")
    search_fields = ("nonce",)
    readonly_fields = ("nonce", "seen_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("product", "account", "user", "auth_type", "base_url", "default_region", "updated_at")
    list_filter = ("auth_type",)
    search_fields = ("product", "account__id", "account__name", "user__username")
    list_select_related = ("account", "user")
    exclude = ("secrets_encrypted",)
    readonly_fields = ("created_at", "updated_at")
