"""Reads for the catalog: product versions, selector resolution, documents for the compiler, and the
catalog operations of the management API (ListApiDefinitions, GetApiDefinition, GetProductEndpoints,
GetErrorCodeSolutions).

Revisions are immutable, so what is read from one is cached in-process by revision id: the
document header (info, endpoints, servers, components, security), its API names, and single API
definitions. The compiler gets "light" documents holding only the APIs a server uses.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from servers.compiler.server import select as _select
from servers.models import ApiDefinition, CatalogRevision, Product, ProductVersion

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class ApiRef:
    product: str
    api_version: str
    api_name: str


class _LRU(Generic[K, V]):
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: K) -> tuple[bool, V | None]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return True, self._items[key]
        return False, None

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def get(self, key: K, load: Callable[[], V]) -> V:
        found, value = self.peek(key)
        if found:
            return value  # type: ignore[return-value]
        value = load()
        self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# Cached reads are keyed by (revision id, sha256): on SQLite an id can come back after a rolled-back
# transaction, so the id alone does not name one document.
RevisionKey = tuple[int, str]
_HEADER_KEYS = ("info", "endpoints", "servers", "components", "security", "errorCodes")
_headers: _LRU[RevisionKey, dict[str, Any]] = _LRU(64)
_names: _LRU[RevisionKey, list[str]] = _LRU(256)
_definitions: _LRU[tuple[RevisionKey, str], dict[str, Any] | None] = _LRU(8192)


def clear_caches() -> None:
    for cache in (_headers, _names, _definitions):
        cache.clear()


# Product versions -----------------------------------------------------------------------------


def product_exists(product: str) -> bool:
    return ProductVersion.objects.filter(product__code=product).exists()


def product_version_get(product: str, version: str) -> ProductVersion | None:
    return (
        ProductVersion.objects.select_related("product", "current_revision")
        .filter(product__code=product, version=version)
        .first()
    )


def product_versions() -> list[ProductVersion]:
    """Every product version with a current revision, by product code then version."""
    return list(
        ProductVersion.objects.select_related("product")
        .filter(current_revision__isnull=False)
        .order_by("product__code", "version")
    )


def revisions_list(product: str, version: str) -> list[CatalogRevision]:
    """Revisions of a product version, newest first (documents not loaded)."""
    return list(
        CatalogRevision.objects.filter(product_version__product__code=product, product_version__version=version)
        .defer("document")
        .order_by("-number")
    )


def current_revision_keys(pairs: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], RevisionKey]:
    """(product, version) → (current revision id, sha256), for the given pairs (all when None) that exist."""
    qs = ProductVersion.objects.filter(current_revision__isnull=False)
    wanted = set(pairs) if pairs is not None else None
    if wanted is not None:
        qs = qs.filter(product__code__in={p for p, _ in wanted})
    rows = qs.values_list("product__code", "version", "current_revision_id", "current_revision__sha256")
    return {
        (code, version): (int(rid), str(sha))
        for code, version, rid, sha in rows
        if rid is not None and (wanted is None or (code, version) in wanted)
    }


def current_revisions(pairs: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
    """(product, version) → current revision id, for the given pairs (all when None) that exist."""
    return {pair: key[0] for pair, key in current_revision_keys(pairs).items()}


def _key(revision: int | RevisionKey) -> RevisionKey:
    if isinstance(revision, tuple):
        return revision
    sha = CatalogRevision.objects.filter(pk=revision).values_list("sha256", flat=True).first()
    return (int(revision), str(sha or ""))


def revision_api_names(revision: int | RevisionKey) -> list[str]:
    key = _key(revision)

    def load() -> list[str]:
        return sorted(ApiDefinition.objects.filter(revision_id=key[0]).values_list("name", flat=True))

    return _names.get(key, load)


def api_names(product: str, version: str) -> list[str]:
    """Names of the APIs in the current revision of a product version (sorted)."""
    key = current_revision_keys([(product, version)]).get((product, version))
    return revision_api_names(key) if key is not None else []


def select(names: list[str], selectors: list[str]) -> list[str]:
    """Names matched by any selector (`*`, `?` globs, case-sensitive), in catalog order."""
    return _select(names, selectors)


def resolve_apis(apis: list[dict[str, Any]]) -> list[ApiRef]:
    """Resolve a server's `apis[{product, apiVersion, selectors}]` to concrete APIs (deduplicated)."""
    seen: dict[ApiRef, None] = {}
    for entry in apis:
        names = api_names(entry["product"], entry["apiVersion"])
        for name in select(names, entry.get("selectors") or []):
            seen[ApiRef(entry["product"], entry["apiVersion"], name)] = None
    return list(seen)


# Documents for the compiler -------------------------------------------------------------------


def revision_header(revision: int | RevisionKey) -> dict[str, Any]:
    """The document of a revision without its `apis`."""
    key = _key(revision)

    def load() -> dict[str, Any]:
        fields = [f"document__{k}" for k in _HEADER_KEYS]
        row = CatalogRevision.objects.filter(pk=key[0]).values_list(*fields).first()
        if row is None:
            return {}
        return {k: v for k, v in zip(_HEADER_KEYS, row, strict=True) if v is not None}

    return _headers.get(key, load)


def revision_definitions(revision: int | RevisionKey, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """API definitions of a revision by name (missing names are left out)."""
    key = _key(revision)
    out: dict[str, dict[str, Any]] = {}
    missing = []
    for name in sorted(set(names)):
        found, definition = _definitions.peek((key, name))
        if not found:
            missing.append(name)
        elif definition is not None:
            out[name] = definition
    if missing:
        rows = dict(
            ApiDefinition.objects.filter(revision_id=key[0], name__in=missing).values_list("name", "definition")
        )
        for name in missing:
            _definitions.put((key, name), rows.get(name))
            if rows.get(name) is not None:
                out[name] = rows[name]
    return dict(sorted(out.items()))


def light_document(revision: int | RevisionKey, names: Iterable[str]) -> dict[str, Any]:
    """A revision's document with only the named APIs."""
    key = _key(revision)
    return {**revision_header(key), "apis": revision_definitions(key, names)}


def catalog_for_server(server: dict[str, Any]) -> tuple[dict[tuple[str, str], dict[str, Any]], tuple[int, ...]]:
    """The catalog a server compiles against (light documents) and the revision ids it comes from.

    `server` is the camelCase settings (`apis`, `additionalApiDescriptions`).
    """
    apis = [e for e in server.get("apis") or [] if isinstance(e, dict)]
    extra = [e for e in server.get("additionalApiDescriptions") or [] if isinstance(e, dict)]
    pairs = {(str(e.get("product")), str(e.get("apiVersion"))) for e in [*apis, *extra]}
    revisions = current_revision_keys(pairs)
    wanted: dict[tuple[str, str], set[str]] = {pair: set() for pair in revisions}
    for entry in apis:
        pair = (str(entry.get("product")), str(entry.get("apiVersion")))
        if pair in revisions:
            wanted[pair].update(select(revision_api_names(revisions[pair]), entry.get("selectors") or []))
    for entry in extra:
        pair = (str(entry.get("product")), str(entry.get("apiVersion")))
        if pair in revisions and isinstance(entry.get("apiName"), str):
            wanted[pair].add(entry["apiName"])
    catalog = {pair: light_document(revisions[pair], names) for pair, names in wanted.items()}
    return catalog, tuple(sorted(key[0] for key in revisions.values()))


def catalog_for_validation(entries: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """What `validate_additional_descriptions(entries, catalog)` needs: every version of the products
    the entries name (so an unknown version is told apart from an unknown product), with the named APIs."""
    entries = [e for e in entries or [] if isinstance(e, dict)] if isinstance(entries, list) else []
    products = {str(e.get("product")) for e in entries}
    revisions = {pair: key for pair, key in current_revision_keys().items() if pair[0] in products}
    names: dict[tuple[str, str], set[str]] = {pair: set() for pair in revisions}
    for entry in entries:
        pair = (str(entry.get("product")), str(entry.get("apiVersion")))
        if pair in names and isinstance(entry.get("apiName"), str):
            names[pair].add(entry["apiName"])
    return {pair: light_document(revisions[pair], names[pair]) for pair in revisions}


# Management API: catalog operations -----------------------------------------------------------


def api_definitions(product: str, api_version: str) -> dict[str, Any] | None:
    """ListApiDefinitions: the current normalised document of a product version."""
    pv = ProductVersion.objects.filter(product__code=product, version=api_version).first()
    if pv is None or pv.current_revision_id is None:
        return None
    return CatalogRevision.objects.values_list("document", flat=True).get(pk=pv.current_revision_id)


def api_definition(product: str, api_version: str, api: str) -> dict[str, Any] | None:
    """GetApiDefinition: one API of the current revision."""
    key = current_revision_keys([(product, api_version)]).get((product, api_version))
    if key is None:
        return None
    return revision_definitions(key, [api]).get(api)


def product_endpoints(product: str) -> dict[str, Any] | None:
    """GetProductEndpoints: region endpoints (and base URLs) of a product, newest version first."""
    rows = list(
        ProductVersion.objects.filter(product__code=product, current_revision__isnull=False)
        .order_by("-version")
        .values_list("product__code", "version", "current_revision_id", "current_revision__sha256")
    )
    if not rows:
        return None
    endpoints: dict[str, dict[str, Any]] = {}
    servers: list[str] = []
    for _, _, rid, sha in rows:
        header = revision_header((int(rid), str(sha)))
        for item in header.get("endpoints") or []:
            if isinstance(item, dict) and item.get("regionId"):
                endpoints.setdefault(str(item["regionId"]), item)
        for url in header.get("servers") or []:
            if url not in servers:
                servers.append(url)
    return {
        "product": rows[0][0],
        "versions": [row[1] for row in rows],
        "endpoints": list(endpoints.values()),
        "servers": servers,
    }


def _error_entries(document_errors: Any, definitions: Iterable[tuple[str, Any]]) -> Iterable[dict[str, Any]]:
    """Normalise both metadata forms: document-level `[{code, message, http_code, description}]` and
    API-level `{status: [{errorCode, errorMessage, description}]}`."""
    if isinstance(document_errors, list):
        for item in document_errors:
            if isinstance(item, dict) and item.get("code"):
                yield {
                    "code": str(item["code"]),
                    "message": str(item.get("message") or ""),
                    "status": str(item.get("http_code") or ""),
                    "description": str(item.get("description") or ""),
                    "api": "",
                }
    for api, codes in definitions:
        if not isinstance(codes, dict):
            continue
        for status, items in codes.items():
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and item.get("errorCode"):
                    yield {
                        "code": str(item["errorCode"]),
                        "message": str(item.get("errorMessage") or ""),
                        "status": str(status),
                        "description": str(item.get("description") or ""),
                        "api": api,
                    }


_SOLUTION_TEXT = {
    "en-US": {"cause": "Cause", "apis": "Returned by", "status": "HTTP status", "none": "No further documentation."},
    "zh-CN": {"cause": "原因", "apis": "返回该错误的接口", "status": "HTTP 状态码", "none": "暂无更多说明。"},
}


def error_code_solutions(
    *, error_code: str, error_message: str | None = None, product: str | None = None, accept_language: str = "en-US"
) -> list[dict[str, Any]]:
    """GetErrorCodeSolutions: the documented meaning of an error code, from the catalog's metadata.

    One solution per (product, code, message); restricted to `product` when given; when
    `error_message` is given, only entries with that message (case-insensitive) are kept.
    """
    text = _SOLUTION_TEXT.get(accept_language, _SOLUTION_TEXT["en-US"])
    qs = (
        ProductVersion.objects.filter(current_revision__isnull=False)
        .select_related("product", "current_revision")
        .only("version", "title", "product__code", "product__name", "current_revision__sha256")
    )
    if product:
        qs = qs.filter(product__code=product)
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for pv in qs.order_by("product__code", "-version"):
        rid = int(pv.current_revision_id or 0)
        header = revision_header((rid, str(pv.current_revision.sha256 if pv.current_revision else "")))
        definitions = (
            ApiDefinition.objects.filter(revision_id=rid).order_by("name").values_list("name", "definition__errorCodes")
        )
        for entry in _error_entries(header.get("errorCodes"), definitions):
            if entry["code"] != error_code:
                continue
            if error_message and entry["message"].strip().lower() != error_message.strip().lower():
                continue
            key = (pv.product.code, entry["code"], entry["message"])
            solution = found.setdefault(
                key,
                {
                    "product": pv.product.code,
                    "productName": pv.product.name or pv.title or pv.product.code,
                    "errorCode": entry["code"],
                    "errorMessage": entry["message"],
                    "_apis": [],
                    "_status": set(),
                    "_descriptions": [],
                },
            )
            if entry["api"] and entry["api"] not in solution["_apis"]:
                solution["_apis"].append(entry["api"])
            if entry["status"]:
                solution["_status"].add(entry["status"])
            if entry["description"] and entry["description"] not in solution["_descriptions"]:
                solution["_descriptions"].append(entry["description"])
    solutions = []
    for (code_product, code, message), s in found.items():
        lines = [f"# {code}", "", message] if message else [f"# {code}"]
        lines += ["", f"## {text['cause']}", "", *(s["_descriptions"] or [text["none"]])]
        if s["_status"]:
            lines += ["", f"{text['status']}: {', '.join(sorted(s['_status']))}"]
        if s["_apis"]:
            lines += ["", f"{text['apis']}: {', '.join(s['_apis'])}"]
        digest = hashlib.sha1(f"{code_product}\n{code}\n{message}".encode()).hexdigest()[:12]
        solutions.append(
            {
                "solutionId": f"{code_product}-{digest}",
                "product": s["product"],
                "productName": s["productName"],
                "errorCode": code,
                "errorMessage": message,
                "content": "\n".join(lines).strip(),
            }
        )
    return solutions


def product_code_exists(product: str) -> bool:
    return Product.objects.filter(code=product).exists()
