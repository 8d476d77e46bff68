"""Console views for the signed-in user's own credentials."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from oauth.audit import console_write
from oauth.forms import AccessKeyForm
from oauth.models import AccessKey
from oauth.services import access_key_create, access_key_revoke


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
