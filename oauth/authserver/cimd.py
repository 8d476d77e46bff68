"""Fetching Client ID Metadata Documents (DOT's `CIMD_METADATA_FETCHER`).

DOT's own `SafeMetadataFetcher` with two site settings:

- `OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES`: also fetch documents on loopback and private addresses
  (intranet deployments, tests). Off by default: a client id is a URL anyone can choose, so it
  must not make this server reach its own network.
- `OAUTH_CIMD_CA_FILE`: a PEM bundle to verify the document's TLS certificate with instead of
  the system's (an intranet CA).

Everything else is DOT's guard: https only, the host resolved once and the connection made to
that checked address (SNI and certificate verification on the host name), no redirects, one
deadline for the whole fetch, a size cap, JSON only. The document's redirect URIs must also pass
the policy of dynamically registered clients (`oauth.authserver.clients`).
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

import urllib3
from django.conf import settings
from oauth2_provider import cimd as dot_cimd
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher
from oauth2_provider.settings import oauth2_settings

from oauth.authserver import clients


def _addresses(host: str, port: int) -> list[str]:
    """The addresses to try for `host`; all of them public unless private ones are allowed."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise CIMDError(f"could not resolve client_id host: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise CIMDError("client_id host did not resolve to any address")
    if not settings.OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES:
        for address in addresses:
            if not dot_cimd._ip_is_public(address):
                raise CIMDError(
                    f"client_id host resolves to a non-public address ({address}); "
                    "see OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES"
                )
    return addresses


class MetadataFetcher(SafeMetadataFetcher):
    def fetch(self, client_id: str) -> tuple[dict[str, Any], int]:
        parsed = dot_cimd._validate_client_id_url(client_id)
        port = parsed.port or 443
        addresses = _addresses(parsed.hostname, port)
        ssl_context = ssl.create_default_context(cafile=settings.OAUTH_CIMD_CA_FILE or None)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        headers = {"Host": parsed.netloc, "Accept": "application/json, application/*+json"}
        deadline = time.monotonic() + oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS
        last: Exception | None = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            pool = urllib3.HTTPSConnectionPool(
                host=address,
                port=port,
                timeout=urllib3.Timeout(connect=remaining, read=remaining, total=remaining),
                retries=False,
                maxsize=1,
                ssl_context=ssl_context,
                server_hostname=parsed.hostname,
            )
            try:
                response = pool.urlopen("GET", path, headers=headers, redirect=False, preload_content=False)
                try:
                    document, max_age = self._read_document(response)
                finally:
                    response.release_conn()
            except urllib3.exceptions.HTTPError as exc:
                last = exc
                continue
            finally:
                pool.close()
            problem = clients.redirect_uris_problem(document.get("redirect_uris"))
            if problem:
                raise CIMDError(f"redirect_uris: {problem}")
            return document, max_age
        raise CIMDError(f"could not fetch client_id document: {last}")
