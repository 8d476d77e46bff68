"""Clients that register themselves: what they may register, how often, and when they are forgotten.

- Redirect URIs (RFC 8252 / OAuth 2.1) of dynamically registered clients and of Client ID Metadata
  Documents: `https` anywhere; plain `http` only on a loopback host (`127.0.0.1`, `[::1]`,
  `localhost`; the port is free: DOT matches loopback redirects on any port); a private-use
  scheme of a native app (`cursor://`, `vscode://`, …) when `OAUTH_REDIRECT_SCHEMES` lists it.
  No fragment, no user info. Clients made by operators (`/admin/`) follow DOT's own checks only.
- Registrations per client address: `OAUTH_DCR_MAX_PER_ADDRESS` in each window of
  `OAUTH_DCR_WINDOW_SECONDS`, counted on the default cache (shared across processes with Redis).
- Unused registrations (DCR and CIMD clients with no live grant, access or refresh token and
  older than `OAUTH_UNUSED_CLIENT_SECONDS`) are deleted by `manage.py purge_oauth_clients`, and
  opportunistically by a registration at most every `_PURGE_EVERY_SECONDS`.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 2000
_PURGE_EVERY_SECONDS = 600
# Schemes a browser or the OS would run or read locally instead of handing to an app.
_NEVER = frozenset({"javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "ftp", "ws", "wss"})


def native_schemes() -> list[str]:
    return [s.lower() for s in settings.OAUTH_REDIRECT_SCHEMES if s and s.lower() not in _NEVER | {"http", "https"}]


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` may not be a self-registered client's redirect URI, or None when it may."""
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        return f"{uri[:60]}… is longer than {MAX_REDIRECT_URI_LENGTH} characters"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - an invalid port raises here
    except ValueError:
        return f"{uri} is not a valid URI"
    scheme = parts.scheme.lower()
    if not scheme:
        return f"{uri} is not an absolute URI"
    if parts.fragment or "#" in uri:
        return f"{uri} has a fragment, which redirect URIs must not have"
    if parts.username or parts.password:
        return f"{uri} carries user credentials"
    if scheme == "https":
        return None if parts.hostname else f"{uri} has no host"
    if scheme == "http":
        if (parts.hostname or "").lower() in LOOPBACK_HOSTS:
            return None
        return f"{uri}: plain http is accepted only on a loopback host (127.0.0.1, [::1], localhost); use https"
    if scheme in native_schemes():
        return None
    allowed = ", ".join(["https", "http on loopback", *(f"{s}://" for s in native_schemes())])
    return f"{uri}: the scheme {scheme}:// is not allowed (allowed: {allowed}; see OAUTH_REDIRECT_SCHEMES)"


def redirect_uris_problem(uris: Any) -> str | None:
    """Why a list of redirect URIs from a registration or a metadata document is refused, or None."""
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        return "redirect_uris must be a non-empty array of strings"
    if len(uris) > MAX_REDIRECT_URIS:
        return f"at most {MAX_REDIRECT_URIS} redirect_uris may be registered"
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            return problem
    return None


# Registrations per address -------------------------------------------------------------------


def registration_retry_after(address: str) -> int:
    """Count one registration from `address`; seconds to wait when it is over the limit, else 0."""
    limit = int(settings.OAUTH_DCR_MAX_PER_ADDRESS)
    window = max(1, int(settings.OAUTH_DCR_WINDOW_SECONDS))
    if limit <= 0:
        return 0
    now = int(time.time())
    start = now - now % window
    key = f"oauth:dcr:{address}:{start}"
    cache.add(key, 0, window + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, window + 60)
        count = 1
    return start + window - now if count > limit else 0


# Unused registrations ------------------------------------------------------------------------


def unused_clients(now: Any = None) -> Any:
    """Self-registered applications nobody can still be using (see the module docstring)."""
    from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken
    from oauth2_provider.settings import oauth2_settings

    now = now or timezone.now()
    idle = timedelta(seconds=int(settings.OAUTH_UNUSED_CLIENT_SECONDS))
    live_access = AccessToken.objects.filter(application=OuterRef("pk"), expires__gt=now).exclude(
        scope=oauth2_settings.DCR_REGISTRATION_SCOPE
    )
    live_refresh = RefreshToken.objects.filter(application=OuterRef("pk"), revoked__isnull=True)
    refresh_seconds = oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS
    if refresh_seconds:
        live_refresh = live_refresh.filter(created__gt=now - timedelta(seconds=int(refresh_seconds)))
    live_grant = Grant.objects.filter(application=OuterRef("pk"), expires__gt=now)
    sources = Application.RegistrationSource
    return (
        Application.objects.filter(registration_source__in=[sources.DCR, sources.CIMD], created__lt=now - idle)
        .exclude(Exists(live_access))
        .exclude(Exists(live_refresh))
        .exclude(Exists(live_grant))
    )


@transaction.atomic
def unused_clients_purge(*, now: Any = None) -> int:
    """Delete unused self-registered clients (with their expired tokens); how many were deleted."""
    ids = list(unused_clients(now).values_list("pk", flat=True))
    if not ids:
        return 0
    from oauth2_provider.models import Application

    Application.objects.filter(pk__in=ids).delete()
    logger.info("deleted %d unused OAuth client registrations", len(ids))
    return len(ids)


def maybe_purge_unused_clients() -> None:
    """Purge now and then, from registrations, so a site without a scheduler stays tidy too."""
    if not cache.add("oauth:dcr:purged", True, _PURGE_EVERY_SECONDS):
        return
    try:
        unused_clients_purge()
    except Exception:  # a failed cleanup must not fail the registration that triggered it
        logger.exception("purging unused OAuth clients failed")
