"""Fetching an API description from a URL, safely.

- https only (plain http is accepted only together with `allow_private`, for local development);
- the host name is resolved here and every address it resolves to must pass `servers.outbound`
  (public, or loopback and private too with `allow_private`; link-local, metadata, multicast,
  reserved and unspecified addresses never); the connection then goes to that checked address
  (the TLS server name stays the host name), so a DNS answer that changes between the check and
  the connection cannot redirect it;
- redirects are followed by hand (at most 5), each hop checked the same way;
- the body is streamed with a byte cap and an overall deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from servers.catalog.types import CatalogImportError
from servers.outbound import host_refusal, is_public_address, resolve, resolved_refusal

__all__ = ["FetchLimits", "fetch_url", "is_public_address", "resolve_checked"]

MAX_REDIRECTS = 5
SETTING = "IMPORT_ALLOW_PRIVATE_URLS"


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_seconds: float
    allow_private: bool = False


def resolve_checked(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for `host`, refusing those `servers.outbound` does not allow."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise CatalogImportError("InvalidParam.Url", f"Cannot resolve host {host!r}: {exc}") from None
    if not addresses:
        raise CatalogImportError("InvalidParam.Url", f"Host {host!r} has no address")
    problem = resolved_refusal(addresses, allow_private=allow_private, setting=SETTING)
    if problem:
        raise CatalogImportError("InvalidParam.Url", f"Host {host!r} resolves to a non-public address ({problem})")
    problem = host_refusal(host, allow_private=allow_private, setting=SETTING)
    if problem:
        raise CatalogImportError("InvalidParam.Url", f"Importing from {problem}")
    return addresses[0]


def _check_url(url: str, *, allow_private: bool) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CatalogImportError("InvalidParam.Url", f"Not an https URL: {url!r}")
    if parts.scheme == "http" and not allow_private:
        raise CatalogImportError("InvalidParam.Url", "Only https URLs can be imported")
    if parts.username or parts.password:
        raise CatalogImportError("InvalidParam.Url", "URLs with credentials are not accepted")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port


def fetch_url(url: str, limits: FetchLimits, *, transport: httpx.BaseTransport | None = None) -> bytes:
    """GET `url` within `limits`; CatalogImportError says why it was refused or failed."""
    deadline = time.monotonic() + limits.timeout_seconds
    timeout = httpx.Timeout(limits.timeout_seconds)
    with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            scheme, host, port = _check_url(url, allow_private=limits.allow_private)
            address = resolve_checked(host, port, allow_private=limits.allow_private)
            parts = urlsplit(url)
            netloc = f"[{address}]" if ":" in address else address
            if parts.port:
                netloc += f":{parts.port}"
            pinned = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
            headers = {"Host": parts.netloc, "Accept": "application/json, application/yaml, text/yaml, */*"}
            extensions = {"sni_hostname": host} if scheme == "https" else {}
            try:
                with client.stream("GET", pinned, headers=headers, extensions=extensions) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        url = urljoin(url, location)
                        continue
                    if response.status_code != 200:
                        raise CatalogImportError(
                            "InvalidParam.Url", f"Fetching {url} answered HTTP {response.status_code}"
                        )
                    return _read_capped(response, limits.max_bytes, deadline)
            except httpx.TimeoutException:
                raise CatalogImportError(
                    "InvalidParam.Url", f"Fetching {url} timed out after {limits.timeout_seconds:g} s"
                ) from None
            except httpx.HTTPError as exc:
                raise CatalogImportError("InvalidParam.Url", f"Fetching {url} failed: {exc}") from None
    raise CatalogImportError("InvalidParam.Url", f"Too many redirects (more than {MAX_REDIRECTS})")


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise CatalogImportError("InvalidParam.Url", f"The description is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise CatalogImportError("InvalidParam.Url", f"The description is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise CatalogImportError("InvalidParam.Url", "Fetching the description took too long")
        chunks.append(chunk)
    return b"".join(chunks)
