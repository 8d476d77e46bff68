"""Model signals → change events, so every process drops cached principals at once.

Revoking a token (DOT deletes the access token; a personal token gets `revoked_at`), editing a
user, its policies or a policy document publishes a `token` or `user` event after commit
(`servers.events`).
"""

from __future__ import annotations

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


def connect() -> None:
    from oauth2_provider.models import get_access_token_model

    from oauth.models import PersonalAccessToken, Policy, User

    access_token = get_access_token_model()
    for model in (access_token, PersonalAccessToken):
        post_save.connect(_token_changed, sender=model, dispatch_uid=f"runtime-token-save-{model.__name__}")
        post_delete.connect(_token_changed, sender=model, dispatch_uid=f"runtime-token-delete-{model.__name__}")
    post_save.connect(_user_changed, sender=User, dispatch_uid="runtime-user-save")
    m2m_changed.connect(_user_policies_changed, sender=User.policies.through, dispatch_uid="runtime-user-policies")
    post_save.connect(_policy_changed, sender=Policy, dispatch_uid="runtime-policy-save")
    pre_delete.connect(_policy_changed, sender=Policy, dispatch_uid="runtime-policy-delete")
