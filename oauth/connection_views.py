"""Console pages for connections: list, create, edit, delete.

A connection is looked up in the signed-in user's own account only (another account's id is a
404, as if it did not exist), and every page asks the user's policies, through the console's
access helpers of `servers/views.py`, for the management API action it corresponds to:
`openapiexplorer:ListConnections`, `SetConnection` or `DeleteConnection` on
`acs:openapiexplorer::<accountId>:connection/<product>` (`…/*` for the list and the create page).
Writes go through `runtime.connections`, whose errors land on the form field they name.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from oauth.audit import console_write
from oauth.forms import ConnectionForm
from oauth.models import User
from runtime.connections import (
    AUTH_LABELS,
    CONFIG_WIRE,
    connection_delete,
    connection_get,
    connection_set,
    connections_for_account,
    policy_resource,
    secret_names,
    stored_secrets,
)
from runtime.models import Connection
from servers.errors import ApiError
from servers.views import _allowed, _authorize


def _account_id(request: HttpRequest) -> str:
    return str(getattr(request.user, "account_id", None) or "")


def _usernames(account_id: str) -> list[str]:
    return list(User.objects.filter(account_id=account_id).order_by("username").values_list("username", flat=True))


def _get_connection(request: HttpRequest, pk: int, operation: str) -> Connection:
    """The user's own account's connection, authorised for `operation`; 404 for anybody else's."""
    try:
        connection = connection_get(_account_id(request), pk)
    except ApiError:
        raise Http404("Connection not found") from None
    _authorize(request, operation, resource=policy_resource(_account_id(request), connection.product))
    return connection


def _summary(connection: Connection) -> str:
    """The non-secret identity of the credential, e.g. `accessKeyId LTAI…`."""
    config = connection.auth_config or {}
    shown = [
        f"{CONFIG_WIRE[k]} {config[k]}" for k in ("access_key_id", "name", "username", "client_id") if config.get(k)
    ]
    return " · ".join(shown)


@login_required
def connection_list(request: HttpRequest) -> HttpResponse:
    account_id = _account_id(request)
    _authorize(request, "ListConnections", resource=policy_resource(account_id))
    rows = [
        {
            "connection": c,
            "auth_label": AUTH_LABELS.get(c.auth_type, c.auth_type),
            "summary": _summary(c),
            "secrets": secret_names(c),
            "can_edit": _allowed(request, "SetConnection", resource=policy_resource(account_id, c.product)),
            "can_delete": _allowed(request, "DeleteConnection", resource=policy_resource(account_id, c.product)),
        }
        for c in connections_for_account(account_id)
    ]
    can_create = _allowed(request, "SetConnection", resource=policy_resource(account_id))
    return render(request, "connections/list.html", {"rows": rows, "can_create": can_create})


@login_required
@require_http_methods(["GET", "POST"])
def connection_create_view(request: HttpRequest) -> HttpResponse:
    account_id = _account_id(request)
    _authorize(request, "SetConnection", resource=policy_resource(account_id))
    user: Any = request.user
    form = ConnectionForm(request.POST or None, usernames=_usernames(account_id))
    if request.method == "POST" and form.is_valid():
        product = form.cleaned_data["product"]
        _authorize(request, "SetConnection", resource=policy_resource(account_id, product))
        owner = User.objects.filter(account_id=account_id, username=form.cleaned_data["user"]).first()
        existing = connections_for_account(account_id).filter(user=owner, product__iexact=product).first()
        if existing is not None:  # the API's PUT replaces; this page never overwrites by surprise
            form.add_error("product", f"This connection already exists (id {existing.pk}); edit it instead.")
        else:
            try:
                with console_write(request, "openapiexplorer:SetConnection"):
                    connection, _ = connection_set(
                        account=user.account, user=owner, product=product, **form.service_kwargs()
                    )
            except ApiError as exc:
                form.add_api_error(exc.code, exc.message, exc.field)
            else:
                messages.success(request, f"Created connection to {connection.product}.")
                return redirect("connection-list")
    return render(request, "connections/form.html", {"form": form, "creating": True})


@login_required
@require_http_methods(["GET", "POST"])
def connection_edit(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _get_connection(request, pk, "SetConnection")
    form = ConnectionForm(
        request.POST or None,
        initial=ConnectionForm.initial_from_connection(connection),
        usernames=_usernames(_account_id(request)),
        editing=True,
        secrets_set=stored_secrets(connection).keys(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            with console_write(request, "openapiexplorer:SetConnection"):
                connection_set(
                    account=connection.account,
                    user=connection.user,
                    product=connection.product,
                    **form.service_kwargs(),
                )
        except ApiError as exc:
            form.add_api_error(exc.code, exc.message, exc.field)
        else:
            messages.success(request, f"Saved connection to {connection.product}.")
            return redirect("connection-list")
    return render(request, "connections/form.html", {"form": form, "creating": False, "connection": connection})


@login_required
@require_http_methods(["GET", "POST"])
def connection_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _get_connection(request, pk, "DeleteConnection")
    if request.method == "POST":
        product = connection.product
        with console_write(request, "openapiexplorer:DeleteConnection"):
            connection_delete(connection=connection)
        messages.success(request, f"Deleted connection to {product}.")
        return redirect("connection-list")
    return render(request, "connections/delete.html", {"connection": connection})
