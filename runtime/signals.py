"""Model signals → change events, so every process drops cached principals and connections at once.

Revoking a token (DOT deletes the access token; a personal token gets `revoked_at`), editing a
user, its policies or a policy document publishes a `token` or `user` event after commit
(`servers.events`). Saving or deleting a connection (console, management API, CLI, admin)
publishes a `connection` event, on which the process's MCP runtime empties its connection cache.
Saving or deleting a role, changing its policies, or editing or deleting a policy attached to a role
publishes the account's `role` event, on which the runtime forgets that account's roles
(`runtime.roles`).
Saving or deleting a network publishes its account's `network` event, on which the runtime forgets
that account's networks (`runtime.network_access`).
"""

from __future__ import annotations

import sys
from typing import Any

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from servers import events


def _token_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    digest = getattr(instance, "token_checksum", "") or getattr(instance, "token_hash", "")
    if digest:
        transaction.on_commit(lambda: events.token_changed(digest))


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_id = instance.pk
    transaction.on_commit(lambda: events.user_changed(user_id))


def _user_policies_changed(sender: Any, instance: Any, action: str, pk_set: Any = None, **kwargs: Any) -> None:
    if not action.startswith("post_"):
        return
    from oauth.models import Policy, User

    if isinstance(instance, User):
        user_ids = [instance.pk]
    elif isinstance(instance, Policy):
        user_ids = list(pk_set or [])
    else:
        return
    transaction.on_commit(lambda: _users_changed(user_ids))


def _users_changed(user_ids: list[Any]) -> None:
    for user_id in user_ids:
        events.user_changed(user_id)


def _policy_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_ids = list(instance.users.values_list("pk", flat=True)) if instance.pk else []
    transaction.on_commit(lambda: _users_changed(user_ids))


def _role_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    account_id = str(instance.account_id)
    transaction.on_commit(lambda: events.role_changed(account_id))


def _role_policies_changed(sender: Any, instance: Any, action: str, **kwargs: Any) -> None:
    if action.startswith("post_"):  # instance is the role or the policy; both belong to the account
        _role_changed(sender, instance)


def _policy_roles_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk and instance.roles.exists():
        _role_changed(sender, instance)


def _drop_cached_roles(topic: str, key: str) -> None:
    from runtime import roles

    roles.on_event(topic, key)


def _connection_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    connection_id = instance.pk
    transaction.on_commit(lambda: events.connection_changed(connection_id))


def _drop_cached_connections(topic: str, key: str) -> None:
    """Empty the runtime's cached connections (and OAuth client-credentials tokens) on a `connection` event.

    Called on the publishing thread or the Redis subscriber's loop; clearing a dict is atomic.
    """
    if topic != "connection":
        return
    asgi = sys.modules.get("runtime.asgi")  # not imported: this process runs no MCP runtime
    runtime = asgi.current() if asgi is not None else None
    if runtime is not None:
        runtime.executor.connections.clear()
        runtime.executor.tokens.clear()


def _network_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    account_id = str(instance.account_id)
    transaction.on_commit(lambda: events.network_changed(account_id))


def _drop_cached_networks(topic: str, key: str) -> None:
    from runtime import network_access

    network_access.on_event(topic, key)


def _drop_cached_revisions(topic: str, key: str) -> None:
    from runtime import system_tools

    system_tools.on_event(topic, key)


def connect() -> None:
    from oauth2_provider.models import get_access_token_model

    from oauth.models import Connection, Network, PersonalAccessToken, Policy, Role, User

    access_token = get_access_token_model()
    for model in (access_token, PersonalAccessToken):
        post_save.connect(_token_changed, sender=model, dispatch_uid=f"runtime-token-save-{model.__name__}")
        post_delete.connect(_token_changed, sender=model, dispatch_uid=f"runtime-token-delete-{model.__name__}")
    post_save.connect(_user_changed, sender=User, dispatch_uid="runtime-user-save")
    m2m_changed.connect(_user_policies_changed, sender=User.policies.through, dispatch_uid="runtime-user-policies")
    post_save.connect(_policy_changed, sender=Policy, dispatch_uid="runtime-policy-save")
    pre_delete.connect(_policy_changed, sender=Policy, dispatch_uid="runtime-policy-delete")
    post_save.connect(_policy_roles_changed, sender=Policy, dispatch_uid="runtime-policy-roles-save")
    pre_delete.connect(_policy_roles_changed, sender=Policy, dispatch_uid="runtime-policy-roles-delete")
    post_save.connect(_role_changed, sender=Role, dispatch_uid="runtime-role-save")
    post_delete.connect(_role_changed, sender=Role, dispatch_uid="runtime-role-delete")
    m2m_changed.connect(_role_policies_changed, sender=Role.policies.through, dispatch_uid="runtime-role-policies")
    post_save.connect(_connection_changed, sender=Connection, dispatch_uid="runtime-connection-save")
    post_delete.connect(_connection_changed, sender=Connection, dispatch_uid="runtime-connection-delete")
    post_save.connect(_network_changed, sender=Network, dispatch_uid="runtime-network-save")
    post_delete.connect(_network_changed, sender=Network, dispatch_uid="runtime-network-delete")
    for listener in (_drop_cached_connections, _drop_cached_networks, _drop_cached_roles, _drop_cached_revisions):
        events.unsubscribe_all(listener)  # connect() may run twice; listen once
        events.subscribe_all(listener)
