"""Reads for MCP servers: ownership-scoped lookups, listing pages and the §3.1 JSON of a server."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from oauth.models import Account, User
from servers.catalog.selectors import (
    ApiRef,
    api_definition,
    api_names,
    product_exists,
    product_version_get,
    resolve_apis,
    select,
)
from servers.errors import ApiError, server_not_found
from servers.models import McpServer
from servers.pagination import NextTokenError, decode_next_token, encode_next_token, fingerprint

MANY_APIS = 30


def iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def servers_for_account(account: Account | str) -> QuerySet[McpServer]:
    account_id = account if isinstance(account, str) else account.pk
    return McpServer.objects.filter(account_id=account_id)


def server_get_for_user(*, user: User, server_id: str) -> McpServer:
    """The server `server_id` of the user's own account; NotFound.ApiMcpServer for anybody else's."""
    if not server_id:
        raise ApiError("Missing.Id", "Id is mandatory for this action.", field="id")
    server = None
    if user.account_id:
        server = servers_for_account(str(user.account_id)).filter(pk=server_id).first()
    if server is None:
        raise server_not_found(server_id)
    return server


# The server's JSON ---------------------------------------------------------------------------


def server_urls(server: McpServer) -> dict[str, str]:
    path = f"/accounts/{server.account_id}/{server.source_type}/{server.name}/id/{server.id}"
    if server.source_type == "system" and server.system_product and server.system_name:
        path = f"/accounts/{server.account_id}/system/{server.system_product}/{server.system_name}/id/{server.id}"
    public, internal = settings.PUBLIC_BASE_URL.rstrip("/"), settings.INTERNAL_BASE_URL.rstrip("/")
    return {
        "sse": f"{public}{path}/sse",
        "mcp": f"{public}{path}/mcp",
        "vpcSse": f"{internal}{path}/sse",
        "vpcMcp": f"{internal}{path}/mcp",
    }


def required_ram_policy(refs: list[ApiRef]) -> str:
    """A policy document allowing exactly `{productcode}:{ApiName}` for every resolved API."""
    actions = sorted({f"{ref.product.lower()}:{ref.api_name}" for ref in refs})
    statements = [{"Effect": "Allow", "Action": actions, "Resource": "*"}] if actions else []
    return json.dumps({"Version": "1", "Statement": statements}, indent=2)


def server_to_dict(server: McpServer, *, include_resolved: bool = True) -> dict[str, Any]:
    """The server as GetApiMcpServer returns it (SPEC §3.1), without `requestId`.

    With `include_resolved=False` (list items) the catalog is not consulted and `apiInfos` and
    `requiredRAMPolicy` are left out.
    """
    data: dict[str, Any] = {
        "id": server.id,
        "name": server.name,
        "description": server.description,
        "language": server.language,
        "apis": server.apis,
        "additionalApiDescriptions": server.additional_api_descriptions,
        "prompts": server.prompts,
        "urls": server_urls(server),
        "systemTools": server.system_tools,
        "sourceType": server.source_type,
        "systemMcpServerInfo": {"product": server.system_product, "name": server.system_name},
        "oauthClientId": server.oauth_client_id,
        "terraformTools": server.terraform_tools,
        "instructions": server.instructions,
        "enableAssumeRole": server.enable_assume_role,
        "assumeRoleName": server.assume_role_name,
        "assumeRoleExtraPolicy": server.assume_role_extra_policy,
        "publicAccess": server.public_access,
        "enableCustomVpcWhitelist": server.enable_custom_vpc_whitelist,
        "vpcWhitelists": server.vpc_whitelists,
        "createTime": iso_utc(server.created_at),
        "updateTime": iso_utc(server.updated_at),
    }
    if include_resolved:
        refs = resolve_apis(server.apis)
        data["requiredRAMPolicy"] = required_ram_policy(refs)
        data["apiInfos"] = [{"product": r.product, "apiVersion": r.api_version, "apiName": r.api_name} for r in refs]
    return data


def server_warnings(server: McpServer) -> list[str]:
    """Advice about a saved server that does not prevent saving it."""
    warnings = []
    for i, entry in enumerate(server.apis):
        names = api_names(entry["product"], entry["apiVersion"])
        for selector in entry["selectors"]:
            if not select(names, [selector]):
                warnings.append(
                    f"apis[{i}]: selector {selector!r} matches no API of {entry['product']} {entry['apiVersion']}."
                )
    count = len(resolve_apis(server.apis))
    if count > MANY_APIS:
        warnings.append(
            f"The server exposes {count} APIs; more than {MANY_APIS} tools make it hard for models to pick the "
            "right one. Narrow the selectors or enable the SearchApis, GetApiDefinition and CallApi system tools."
        )
    return warnings


# The catalog, as server validation sees it ---------------------------------------------------


@dataclass
class CatalogView:
    """`servers.server_validation.Catalog` over the database, memoised for one validation."""

    _versions: dict[tuple[str, str], Any] = field(default_factory=dict)

    def product_exists(self, product: str) -> bool:
        return product_exists(product)

    def _version(self, product: str, version: str) -> Any:
        if (product, version) not in self._versions:
            self._versions[product, version] = product_version_get(product, version)
        return self._versions[product, version]

    def version_exists(self, product: str, version: str) -> bool:
        return self._version(product, version) is not None

    def api_names(self, product: str, version: str) -> list[str]:
        return api_names(product, version)

    def api_definition(self, product: str, version: str, api_name: str) -> Mapping[str, Any] | None:
        return api_definition(product, version, api_name)


# Listing -------------------------------------------------------------------------------------


def _token_key() -> bytes:
    return hashlib.sha256(("next-token:" + settings.SECRET_KEY).encode()).digest()


def _parse_time(value: str, name: str) -> datetime:
    """An ISO-8601 time (UTC when it has no offset) between the years 1 and 9999 once in UTC."""
    code = f"InvalidParam.{name[:1].upper()}{name[1:]}"
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            code, f"{name} must be an ISO-8601 time such as 2025-01-31T08:00:00Z; got {value[:64]!r}.", field=name
        ) from None
    try:
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is in the year 10000 in UTC
        raise ApiError(
            code,
            f"{name} {value[:64]!r} is out of range: in UTC it must fall between the years 1 and 9999.",
            field=name,
        ) from None


@dataclass(frozen=True)
class ServerPage:
    servers: list[McpServer]
    total_count: int
    next_token: str | None


def server_page(
    *,
    account_id: str,
    filters: Mapping[str, str | None],
    max_results: int,
    next_token: str | None = None,
    skip: int = 0,
) -> ServerPage:
    """One page of an account's servers, newest first, with a signed token for the next one.

    filters: keyword (fuzzy name or exact id), id, description (fuzzy), language, sourceType,
    createTime / updateTime (ISO-8601: created / updated at or after). `skip` applies to the first
    page only; a `nextToken` already carries its position.
    """
    qs = servers_for_account(account_id)
    given = {name: value for name, value in filters.items() if value}
    if "keyword" in given:
        qs = qs.filter(Q(name__icontains=given["keyword"]) | Q(pk=given["keyword"]))
    if "id" in given:
        qs = qs.filter(pk=given["id"])
    if "description" in given:
        qs = qs.filter(description__icontains=given["description"])
    if "language" in given:
        qs = qs.filter(language=given["language"])
    if "sourceType" in given:
        qs = qs.filter(source_type=given["sourceType"])
    if "createTime" in given:
        qs = qs.filter(created_at__gte=_parse_time(given["createTime"], "createTime"))
    if "updateTime" in given:
        qs = qs.filter(updated_at__gte=_parse_time(given["updateTime"], "updateTime"))
    total = qs.count()
    qs = qs.order_by("-created_at", "-id")
    digest = fingerprint({"account": account_id, **filters})
    if next_token:
        try:
            state = decode_next_token(next_token, key=_token_key())
            created, last_id = datetime.fromisoformat(state["after"][0]), str(state["after"][1])
        except (NextTokenError, KeyError, IndexError, TypeError, ValueError):
            raise ApiError(
                "InvalidParam.NextToken", "The specified NextToken is not valid.", field="nextToken"
            ) from None
        if state.get("filters") != digest:
            raise ApiError(
                "NextTokenParameterMismatch",
                "The nextToken was issued for a query with other filters; repeat the same filters or start over.",
                field="nextToken",
            )
        qs = qs.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=last_id))
    elif skip:
        qs = qs[skip:]
    rows = list(qs[: max_results + 1]) if max_results else []
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        last = rows[-1]
        token = encode_next_token(
            {"after": [last.created_at.isoformat(), last.pk], "filters": digest}, key=_token_key()
        )
    return ServerPage(rows, total, token)


def offset_page_token(offset: int, scope: str) -> str:
    return encode_next_token({"offset": offset, "scope": scope}, key=_token_key())


def offset_from_token(token: str, scope: str) -> int:
    """The offset inside a token issued by `offset_page_token` for the same `scope`."""
    try:
        state = decode_next_token(token, key=_token_key())
        offset = state["offset"]
    except (NextTokenError, KeyError):
        raise ApiError("InvalidParam.NextToken", "The specified NextToken is not valid.", field="nextToken") from None
    if state.get("scope") != scope or not isinstance(offset, int) or offset < 0:
        raise ApiError("InvalidParam.NextToken", "The specified NextToken is not valid.", field="nextToken")
    return offset
