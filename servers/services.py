"""Writes for MCP servers and the account-level server settings.

Writes take the validated wire models of `servers.schemas` (whose declared checks already ran, for
the API through django-ninja, for the console through its form) and add the checks that need the
catalog, the settings or the database (`servers.server_validation.server_values`, OAuth clients,
name uniqueness, quotas), so the API and the console refuse the same things with the same codes.
Each change bumps `McpServer.version` and announces it with `servers.events.server_changed` after
commit, so every process's runtime rebuilds the server's snapshot.
"""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from oauth.models import Account, User
from servers import events
from servers.errors import ApiError
from servers.models import McpServer
from servers.schemas import CreateApiMcpServerBody, UpdateApiMcpServerBody, UpdateApiMcpServerUserConfigBody
from servers.selectors import CatalogView
from servers.server_validation import FieldLimits, check_consistency, server_values

logger = logging.getLogger(__name__)


def _announce(server_id: str) -> None:
    transaction.on_commit(partial(events.server_changed, server_id))


def _check_oauth_client(client_id: str, account_id: str) -> None:
    """A custom OAuth client must exist and must not belong to another account's user."""
    if not client_id:
        return
    from oauth2_provider.models import get_application_model

    app = get_application_model().objects.filter(client_id=client_id).select_related("user").first()
    owner_account = getattr(getattr(app, "user", None), "account_id", None)
    if app is None or (owner_account is not None and str(owner_account) != str(account_id)):
        raise ApiError("InvalidParam.OauthClientId", f"OAuth client {client_id} does not exist.", field="oauthClientId")


def max_servers_per_account() -> int:
    return int(getattr(settings, "MAX_SERVERS_PER_ACCOUNT", 100))


def field_limits() -> FieldLimits:
    """The validation limits that are settings (docs/configuration.md, "Limits and security")."""
    return FieldLimits(
        max_selectors_per_api=settings.SERVER_MAX_SELECTORS_PER_API,
        max_apis=settings.SERVER_MAX_APIS,
        terraform_code_max_bytes=settings.TERRAFORM_CODE_MAX_BYTES,
        terraform_check_seconds=float(settings.TERRAFORM_CHECK_TIMEOUT_SECONDS),
    )


@transaction.atomic
def server_create(*, account: Account, user: User | None, body: CreateApiMcpServerBody) -> McpServer:
    """Create a custom server of `account` from a CreateApiMcpServer body (`clientToken` ignored).

    Raises ApiError: 400 for invalid input, 409 Exists.Name (also when a concurrent request took
    the name first), 429 QuotaExceeded past settings.MAX_SERVERS_PER_ACCOUNT.
    """
    name = body.name
    fields = server_values(body, CatalogView(), field_limits())
    _check_oauth_client(fields.get("oauth_client_id", ""), str(account.pk))
    check_consistency(fields)
    # Serialise creations per account so the quota is exact; the name race is settled by the
    # unique constraint below either way.
    Account.objects.select_for_update().filter(pk=account.pk).first()
    limit = max_servers_per_account()
    if McpServer.objects.filter(account_id=account.pk, source_type="custom").count() >= limit:  # system ones are free
        raise ApiError(
            "QuotaExceeded",
            f"The number of MCP server created by the user has reached the upper limit ({limit}).",
            429,
        )
    try:
        with transaction.atomic():
            server = McpServer.objects.create(account=account, name=name, source_type="custom", **fields)
    except IntegrityError:
        # Exists.Name only when the name is the cause (a twin committed it first, and the failed
        # statement waited for that commit); any other violation is a fault of ours: a 500.
        if McpServer.objects.filter(account_id=account.pk, name=name).exists():
            raise ApiError("Exists.Name", f"The MCP server name already exists: {name}.", 409, field="name") from None
        raise
    _announce(server.id)
    logger.info("server %s (%s) created in account %s by %s", server.id, name, account.pk, getattr(user, "pk", None))
    return server


def _refuse_system(server: McpServer) -> None:
    if server.source_type == "system":
        raise ApiError(
            "OperationNotAllowed.SystemServer",
            "System type servers are not allowed to be updated or deleted.",
            403,
        )


@transaction.atomic
def server_update(*, server: McpServer, body: UpdateApiMcpServerBody) -> McpServer:
    """Apply an UpdateApiMcpServer body: omitted fields stay, given lists replace the stored ones.

    `name` is immutable (the body has no such field). Returns the saved server.
    """
    locked = McpServer.objects.select_for_update().filter(pk=server.pk).first()
    if locked is None:
        raise ApiError("NotFound.ApiMcpServer", f"Specified MCP server not found: {server.pk}.", 404, field="id")
    _refuse_system(locked)
    fields = server_values(body, CatalogView(), field_limits())
    if "oauth_client_id" in fields:
        _check_oauth_client(fields["oauth_client_id"], str(locked.account_id))
    merged = {"enable_assume_role": locked.enable_assume_role, "assume_role_name": locked.assume_role_name, **fields}
    check_consistency(merged)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.version = locked.version + 1
    locked.save()
    _announce(locked.id)
    return locked


@transaction.atomic
def server_delete(*, server: McpServer) -> None:
    """Delete a custom server; system servers are refused with OperationNotAllowed.SystemServer."""
    _refuse_system(server)
    server_id = server.id
    McpServer.objects.filter(pk=server_id).delete()
    _announce(server_id)


@transaction.atomic
def user_config_update(*, account: Account, body: UpdateApiMcpServerUserConfigBody) -> Account:
    """Update the account-level `enablePublicAccess` and `vpcWhitelists` (UpdateApiMcpServerUserConfig).

    Servers that follow the account's settings behave differently afterwards, so every server of the
    account gets a new version and a change notification.
    """
    locked = Account.objects.select_for_update().get(pk=account.pk)
    if body.enablePublicAccess is not None:
        locked.enable_public_access = body.enablePublicAccess
    if body.vpcWhitelists is not None:
        locked.vpc_whitelists = body.vpcWhitelists
    locked.save()
    servers = McpServer.objects.filter(account_id=locked.pk)
    servers.update(version=F("version") + 1)
    for server_id in servers.values_list("pk", flat=True):
        _announce(server_id)
    return locked
