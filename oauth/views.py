"""Console views for credentials: the signed-in user's AccessKeys and the account's connections.

`console_authorize` / `console_allowed` are the console's one access helper: they ask the user's
policies (`oauth.access`, the decision the management API makes) for a management API action on
a resource. Every console page of every app calls them.

A connection is looked up in the signed-in user's own account only (another account's id is a
404, as if it did not exist), and every page asks for the management API action it corresponds
to: `openapiexplorer:ListConnections`, `SetConnection` or `DeleteConnection` on
`acs:openapiexplorer::<accountId>:connection/<product>` (`…/*` for the list and the create page).
Writes go through `oauth.services`, whose errors land on the form field they name.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from oauth import access
from oauth.audit import console_write
from oauth.forms import AccessKeyForm, ConnectionForm
from oauth.models import AccessKey, Connection, User
from oauth.schemas import CONFIG_WIRE
from oauth.selectors import (
    connection_get,
    connections_for_account,
    decide_for_user,
    secret_names,
    stored_secrets,
)
from oauth.services import access_key_create, access_key_revoke, connection_delete, connection_set
from servers.errors import ApiError

AUTH_LABELS = dict(Connection.AUTH_TYPES)

# Access ---------------------------------------------------------------------------------------


def _decision(request: HttpRequest, operation: str, resource: str) -> access.Decision:
    user: Any = request.user
    context = access.request_context(source_ip=request.META.get("REMOTE_ADDR", ""))
    return decide_for_user(user, access.management_action(operation), resource, context)


def console_allowed(request: HttpRequest, operation: str, resource: str) -> bool:
    """Whether the user's policies allow the management API `operation` on `resource` (to show a button)."""
    if not getattr(request.user, "account_id", None):
        return False
    return _decision(request, operation, resource).allowed


def console_authorize(request: HttpRequest, operation: str, resource: str) -> None:
    """403 with the decision's message (the one the management API answers) unless the policies allow it."""
    if not getattr(request.user, "account_id", None):
        raise PermissionDenied("Your user belongs to no account, so it has no MCP servers. Operators use /admin/.")
    decision = _decision(request, operation, resource)
    if not decision.allowed:
        raise PermissionDenied(decision.message)


# AccessKeys -----------------------------------------------------------------------------------


@never_cache  # the answer to a create carries the secret: no cache may keep it
@login_required
@require_http_methods(["GET", "POST"])
def access_key_list(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = AccessKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        if not user.account_id:
            form.add_error(None, "Only users that belong to an account can have AccessKeys.")
        else:
            with console_write(request, "ram:CreateAccessKey"):
                issued = access_key_create(user=user, description=form.cleaned_data["description"])
            form = AccessKeyForm()
    keys = AccessKey.objects.filter(user=user).order_by("revoked_at", "-created_at")
    return render(request, "oauth/access_keys.html", {"form": form, "keys": keys, "issued": issued})


@login_required
@require_POST
def access_key_revoke_view(request: HttpRequest, key_id: str) -> HttpResponse:
    user: Any = request.user
    key = AccessKey.objects.filter(id=key_id, user=user).first()  # only one's own keys
    if key is None:
        raise Http404("AccessKey not found")
    if key.revoked_at is None:
        with console_write(request, "ram:DeleteAccessKey", arguments={"id": key.id}):
            access_key_revoke(access_key=key)
        messages.success(request, f"Revoked AccessKey {key.id}.")
    return redirect("access-key-list")


# Connections ----------------------------------------------------------------------------------


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
    console_authorize(request, operation, access.connection_resource(_account_id(request), connection.product))
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
    console_authorize(request, "ListConnections", access.connection_resource(account_id))

    def resource(product: str = "*") -> str:
        return access.connection_resource(account_id, product)

    rows = [
        {
            "connection": c,
            "auth_label": AUTH_LABELS.get(c.auth_type, c.auth_type),
            "summary": _summary(c),
            "secrets": secret_names(c),
            "can_edit": console_allowed(request, "SetConnection", resource(c.product)),
            "can_delete": console_allowed(
                request, "DeleteConnection", access.connection_resource(account_id, c.product)
            ),
        }
        for c in connections_for_account(account_id)
    ]
    can_create = console_allowed(request, "SetConnection", resource())
    return render(request, "connections/list.html", {"rows": rows, "can_create": can_create})


@login_required
@require_http_methods(["GET", "POST"])
def connection_create_view(request: HttpRequest) -> HttpResponse:
    account_id = _account_id(request)
    console_authorize(request, "SetConnection", access.connection_resource(account_id))
    user: Any = request.user
    form = ConnectionForm(request.POST or None, usernames=_usernames(account_id))
    if request.method == "POST" and form.is_valid():
        product = form.cleaned_data["product"]
        console_authorize(request, "SetConnection", access.connection_resource(account_id, product))
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
