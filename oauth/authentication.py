"""Who is calling the management API (SPEC §3.2): AccessKey signature, OAuth bearer token or console session.

A thin Django layer: signature maths live in `oauth.acs3`, tokens in django-oauth-toolkit's
AccessToken model, sessions and CSRF in Django. Every refusal is an `ApiError` with a precise code.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.encoding import escape_uri_path

from oauth import acs3, internal_credentials, throttle
from oauth.crypto import decrypt
from oauth.models import AccessKey, UsedNonce, User
from servers.errors import ApiError

logger = logging.getLogger(__name__)

MANAGEMENT_SCOPES = frozenset({"openapiexplorer", "/acs/mcp-server"})
_CHALLENGE = {"WWW-Authenticate": f'{acs3.ALGORITHM}, Bearer realm="openapiexplorer"'}
_prune_lock = threading.Lock()
_last_prune = 0.0
_LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the user, its account, and how it proved who it is."""

    user: User
    account_id: str
    method: str  # "accesskey", "oauth", "session" or "internal" (oauth.internal_credentials)
    credential: str  # AccessKey id, OAuth client id, or "" for a session
    source_ip: str


def _unauthorized(code: str, message: str, status: int = 401) -> ApiError:
    return ApiError(code, message, status, headers=_CHALLENGE if status == 401 else None)


def _principal(user: User | None, method: str, credential: str, request: HttpRequest) -> Principal:
    if user is None or not user.is_active:
        raise _unauthorized("InvalidCredential.UserInactive", "The user behind this credential is disabled.")
    if not user.account_id:
        raise ApiError(
            "Forbidden.NoAccount", f"User {user.username} belongs to no account, so it has no servers to manage.", 403
        )
    return Principal(user, str(user.account_id), method, credential, throttle.client_address(request))


def _throttled(exc: throttle.Throttled) -> ApiError:
    return ApiError(exc.code, exc.message, 429, headers={"Retry-After": str(exc.retry_after)})


# AccessKey signatures --------------------------------------------------------------------------


def _signed_request(request: HttpRequest) -> acs3.SignedRequest:
    scope = getattr(request, "scope", None)
    raw_path = scope.get("raw_path") if isinstance(scope, dict) else None
    path = raw_path.decode("latin-1") if raw_path else escape_uri_path(request.path)
    query = parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True)
    headers = {name.lower(): value for name, value in request.headers.items()}
    return acs3.SignedRequest(request.method or "GET", path, query, headers, request.body)


def _prune_nonces(window: timedelta) -> None:
    """Forget nonces that can no longer be replayed (at most once a minute per process)."""
    global _last_prune
    with _prune_lock:
        if time.monotonic() - _last_prune < 60:
            return
        _last_prune = time.monotonic()
    UsedNonce.objects.filter(seen_at__lt=timezone.now() - window).delete()


def _use_nonce(access_key_id: str, nonce: str) -> None:
    # A request dated up to `skew` ahead stays acceptable for 2 × skew, so keep nonces that long.
    window = timedelta(seconds=2 * settings.SIGNATURE_MAX_SKEW_SECONDS)
    _prune_nonces(window)
    try:
        with transaction.atomic():
            UsedNonce.objects.create(nonce=f"{access_key_id}:{nonce}")
    except IntegrityError:
        raise ApiError("SignatureNonceUsed", "Specified signature nonce was used already.", 400) from None


def authenticate_signature(request: HttpRequest, header: str) -> Principal:
    """Wrong secrets and unknown AccessKey ids count as failed sign-ins (oauth.throttle): per key
    and per address; at a limit the request is refused with 429 before its signature is checked."""
    try:
        auth = acs3.parse_authorization(header)
    except acs3.SignatureError as exc:
        raise ApiError(exc.code, exc.message, exc.status) from None
    address = throttle.client_address(request)
    by_key = throttle.for_user("accesskey", auth.access_key_id, "AccessKey")
    by_address = throttle.for_address("accesskey", address)
    try:
        counts = throttle.check(by_key, by_address)
    except throttle.Throttled as exc:
        raise _throttled(exc) from None
    try:
        signed = _signed_request(request)
        acs3.check_request(signed, auth, now=timezone.now(), max_skew_seconds=settings.SIGNATURE_MAX_SKEW_SECONDS)
        key = AccessKey.objects.select_related("user").filter(pk=auth.access_key_id).first()
        if key is None:
            throttle.fail(by_address)
            raise acs3.SignatureError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        if key.revoked_at is not None:
            raise acs3.SignatureError("InvalidAccessKeyId.Inactive", "Specified access key is disabled.", 400)
        try:
            acs3.verify_signature(signed, auth, decrypt(key.secret_encrypted))
        except acs3.SignatureError:
            tripped = throttle.fail(by_key, by_address)
            if tripped:
                from oauth.signin import record_tripped

                record_tripped(tripped, user=key.user, action="signin:AccessKey", source_ip=address)
            raise
    except acs3.SignatureError as exc:
        raise ApiError(exc.code, exc.message, exc.status) from None
    if counts.get(by_key):
        throttle.reset(by_key)
    _use_nonce(key.pk, signed.headers["x-acs-signature-nonce"])
    now = timezone.now()
    AccessKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - _LAST_USED_GRANULARITY)
    ).update(last_used_at=now)
    return _principal(key.user, "accesskey", key.pk, request)


# OAuth bearer tokens ---------------------------------------------------------------------------


def _audiences(request: HttpRequest) -> set[str]:
    own = {settings.PUBLIC_BASE_URL, settings.INTERNAL_BASE_URL, request.build_absolute_uri("/")}
    return {url.rstrip("/") for url in own}


def authenticate_bearer(request: HttpRequest, token_value: str) -> Principal:
    """Unknown tokens count as failed sign-ins of the address (oauth.throttle); at the limit the
    address's bearer requests are refused with 429 before the token is looked up."""
    from oauth2_provider.models import get_access_token_model

    by_address = throttle.for_address("bearer", throttle.client_address(request))
    try:
        throttle.check(by_address)
    except throttle.Throttled as exc:
        raise _throttled(exc) from None
    checksum = hashlib.sha256(token_value.encode("utf-8")).hexdigest()
    token: Any = (
        get_access_token_model().objects.select_related("user", "application").filter(token_checksum=checksum).first()
    )
    if token is None:
        throttle.fail(by_address)
        raise _unauthorized("InvalidToken", "The access token is not valid (unknown or revoked).")
    if token.is_expired():
        raise _unauthorized("InvalidToken.Expired", "The access token has expired; refresh it or sign in again.")
    resources = [str(r).rstrip("/") for r in (token.resource or [])]
    if resources and not set(resources) & _audiences(request):
        raise _unauthorized(
            "InvalidToken.Audience",
            "The access token is bound to another resource (RFC 8707) and cannot call the management API.",
        )
    if not set(token.scope.split()) & MANAGEMENT_SCOPES:
        raise ApiError(
            "Forbidden.TokenScope",
            "The access token has none of the scopes openapiexplorer or /acs/mcp-server.",
            403,
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openapiexplorer"'},
        )
    client_id = token.application.client_id if token.application_id else ""
    return _principal(token.user, "oauth", client_id, request)


def authenticate_internal(request: HttpRequest, token: str) -> Principal:
    """A credential the MCP runtime minted for the user who called a tool (oauth.internal_credentials)."""
    claims = internal_credentials.verify(token)
    peer, server = request.META.get("REMOTE_ADDR", ""), request.META.get("SERVER_NAME", "")
    if claims is None or not internal_credentials.same_host(peer, server):
        raise _unauthorized("InvalidToken", "The internal credential is invalid, expired or used from elsewhere.")
    user = User.objects.filter(pk=claims.user_id).first()
    if user is not None and str(user.account_id) != claims.account_id:
        user = None
    principal = _principal(user, "internal", f"mcp:{claims.server_id}", request)
    return replace(principal, source_ip=claims.source_ip or principal.source_ip)


# Console sessions ------------------------------------------------------------------------------


def authenticate_session(request: HttpRequest) -> Principal | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        from ninja.utils import check_csrf

        if check_csrf(request) is not None:
            raise ApiError(
                "Forbidden.CSRF",
                "CSRF verification failed: send the csrftoken cookie's value in the X-CSRFToken header.",
                403,
            )
    return _principal(user, "session", "", request)


def authenticate(request: HttpRequest) -> Principal:
    """The caller of a management API request, or an ApiError saying precisely why not."""
    header = request.headers.get("Authorization", "").strip()
    if header.startswith("ACS3-"):
        return authenticate_signature(request, header)
    if header[:7].lower() == "bearer ":
        if internal_credentials.is_internal(header[7:].strip()):
            return authenticate_internal(request, header[7:].strip())
        return authenticate_bearer(request, header[7:].strip())
    if request.headers.get("x-acs-bearer-token"):  # the official SDK's bearer-token credential
        return authenticate_bearer(request, request.headers["x-acs-bearer-token"].strip())
    if header:
        raise _unauthorized("IncompleteSignature", "Unsupported Authorization scheme; use ACS3-HMAC-SHA256 or Bearer.")
    principal = authenticate_session(request)
    if principal is None:
        raise _unauthorized(
            "MissingAuthorization",
            "Authentication is required: sign the request with an AccessKey (ACS3-HMAC-SHA256), send an "
            "OAuth bearer token, or sign in to the console.",
        )
    return principal
