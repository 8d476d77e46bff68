"""Sign-in doors with throttling (oauth.throttle): the console login and the OAuth token endpoints.

- Console login: failures count per username and per address; at a limit the form answers 429
  with the reason as its error, without checking the password.
- OAuth token and revocation endpoints (django-oauth-toolkit's views): wrong authorization codes or
  refresh tokens (`invalid_grant`) and wrong client secrets (`invalid_client`) count per address,
  and per client for confidential clients only. A public client's id (a Client ID Metadata
  Document URL, a registered MCP client) is shared by every user of that client software, so one
  stranger's guesses must not lock all of them out; its codes are single-use, short-lived and bound
  to a PKCE verifier.

Failed logins of a known user, and every counter that reaches its limit with a known user behind
it, are written to that user's account as audit events of kind `signin` (never a password).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any
from urllib.parse import unquote_plus

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from oauth2_provider import views as oauth2_views

from oauth import throttle

logger = logging.getLogger("oauth.signin")

LOGIN, TOKEN = "login", "token"
# Token endpoint errors that mean a guessed credential (RFC 6749 §5.2).
_GUESS_ERRORS = frozenset({"invalid_grant", "invalid_client"})


def record_event(
    *,
    user: Any,
    action: str,
    code: str,
    message: str,
    source_ip: str,
    client_id: str = "",
) -> None:
    """File a `signin` audit event in the user's account (oauth.audit); users without one have none."""
    if user is None or not getattr(user, "account_id", None):
        return
    from oauth.audit import record_event as write
    from runtime.models import AuditEvent

    try:
        write(
            kind=AuditEvent.KIND_SIGNIN,
            account_id=str(user.account_id),
            user=user,
            action=action,
            outcome="denied",
            client_id=client_id[:200],
            source_ip=source_ip,
            error_code=code,
            error_message=message,
        )
    except Exception:  # the refusal stands whether or not its record could be written
        logger.exception("could not write the audit event of %s %s", action, code)


def record_tripped(tripped: list[throttle.Counter], *, user: Any, action: str, source_ip: str, **extra: str) -> None:
    """One audit event per counter that has just reached its limit."""
    minutes = throttle.describe_seconds(int(settings.SIGNIN_LOCKOUT_SECONDS))
    for counter in tripped:
        who = f"{counter.noun} {counter.ident}" if counter.kind == throttle.USER else f"address {counter.ident}"
        message = (
            f"{counter.limit} failed attempts for {who} in this window: further attempts are refused "
            f"for up to {minutes}."
        )
        code = "Throttling.User" if counter.kind == throttle.USER else "Throttling"
        logger.warning("%s throttled (%s): %s", action, code, message)
        record_event(user=user, action=action, code=code, message=message, source_ip=source_ip, **extra)


# Console login ---------------------------------------------------------------------------------


class SignInForm(AuthenticationForm):
    """Django's login form, refusing throttled attempts before it authenticates anyone."""

    throttled: throttle.Throttled | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        if self.request is None or not username or not self.cleaned_data.get("password"):
            return super().clean()  # a missing field: nothing is checked, nothing counts
        address = throttle.client_address(self.request)
        by_user, by_address = throttle.for_user(LOGIN, username), throttle.for_address(LOGIN, address)
        try:
            counts = throttle.check(by_user, by_address)
        except throttle.Throttled as exc:
            self.throttled = exc
            raise ValidationError(exc.message, code="throttled") from None
        try:
            cleaned = super().clean()
        except ValidationError as exc:
            if exc.code == "invalid_login":
                self._failed(username, address, throttle.fail(by_user, by_address))
            raise
        if counts.get(by_user):
            throttle.reset(by_user)
        return cleaned

    def _failed(self, username: str, address: str, tripped: list[throttle.Counter]) -> None:
        model = get_user_model()
        user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
        action = "signin:ConsoleLogin"
        if user is not None:  # an unknown name is counted all the same: no hint that it is unknown
            record_event(
                user=user,
                action=action,
                code="InvalidCredentials",
                message="Wrong password (or the user is disabled).",
                source_ip=address,
            )
        record_tripped(tripped, user=user, action=action, source_ip=address)


class LoginView(auth_views.LoginView):
    """django.contrib.auth's LoginView; a throttled attempt answers 429 with the form and its reason."""

    authentication_form = SignInForm

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        throttled = getattr(form, "throttled", None)
        if throttled is not None:
            response.status_code = 429
            response["Retry-After"] = str(throttled.retry_after)
        return response


# OAuth token and revocation endpoints -------------------------------------------------------------


def _client_id(request: HttpRequest) -> str:
    """The client id a token request names: HTTP Basic credentials first, as DOT reads them."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote_plus(decoded.split(":", 1)[0])
    return str(request.POST.get("client_id", ""))


def _confidential_application(client_id: str) -> Any:
    from oauth2_provider.models import get_application_model

    model = get_application_model()
    return (
        model.objects.select_related("user").filter(client_id=client_id, client_type=model.CLIENT_CONFIDENTIAL).first()
        if client_id
        else None
    )


def oauth_throttled(exc: throttle.Throttled) -> JsonResponse:
    """RFC 6749 §5.2's error object with status 429 (RFC 6585) and Retry-After.

    RFC 6749 answers 400 "unless specified otherwise" and defines no throttling error; 429 with
    Retry-After is what HTTP clients understand as "come back later", and `slow_down` is the one
    registered token-endpoint error code about request rate (RFC 8628 §3.5).
    """
    response = JsonResponse({"error": "slow_down", "error_description": exc.message}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    response["Cache-Control"] = "no-store"
    return response


def _oauth_error(response: HttpResponse) -> str:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


class _ThrottledClientEndpoint:
    """Counts guessed credentials at a DOT endpoint that authenticates clients (token, revoke)."""

    action = "signin:OAuthToken"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        client_id = _client_id(request)
        address = throttle.client_address(request)
        by_address = throttle.for_address(TOKEN, address)
        by_client = throttle.for_user(TOKEN, client_id, "client") if client_id else None
        try:
            throttle.check(*(c for c in (by_client, by_address) if c is not None))
        except throttle.Throttled as exc:
            return oauth_throttled(exc)
        response: HttpResponse = super().post(request, *args, **kwargs)  # type: ignore[misc]
        if response.status_code in (400, 401) and _oauth_error(response) in _GUESS_ERRORS:
            application = _confidential_application(client_id)
            counters = [by_address] + ([by_client] if application is not None and by_client is not None else [])
            tripped = throttle.fail(*counters)
            if tripped:
                owner = getattr(application, "user", None)
                record_tripped(tripped, user=owner, action=self.action, source_ip=address, client_id=client_id)
        return response


class TokenView(_ThrottledClientEndpoint, oauth2_views.TokenView):
    action = "signin:OAuthToken"


class RevokeTokenView(_ThrottledClientEndpoint, oauth2_views.RevokeTokenView):
    action = "signin:OAuthRevokeToken"
