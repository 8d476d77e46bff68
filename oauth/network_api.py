"""Networks in the management API (SPEC §6.3): an extension of this product, not part of OpenAPIExplorer.

`GET /networks`, `GET /network?id=`, `POST /network`, `PATCH /network?id=`, `DELETE /network?id=`;
actions `openapiexplorer:ListNetworks`, `GetNetwork`, `CreateNetwork`, `UpdateNetwork`,
`DeleteNetwork` on `acs:openapiexplorer::<account>:network/<id>` (`network/*` to list and create).
Same gate, errors and strict bodies as the rest of the API; the writes are `oauth.networks`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router
from pydantic import BaseModel, ConfigDict, Field

from oauth import access
from oauth.networks import (
    MAX_CIDRS,
    MAX_DESCRIPTION,
    MAX_NAME,
    network_create,
    network_delete,
    network_get,
    network_to_dict,
    network_update,
    networks_for_account,
)
from oauth.schemas import optional
from servers.api.common import authorize, ok, principal_account, query
from servers.schemas import NO_NUL_RE, ErrorResponse

router = Router(tags=["Networks (extension)"])
ERRORS = {frozenset({400, 401, 403, 404, 409}): ErrorResponse, 500: ErrorResponse}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# Limits declared in the document (the services check them, with their own codes).
_NAME: dict[str, Any] = {
    "minLength": 1,
    "maxLength": MAX_NAME,
    "pattern": r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f\x85][^\x00-\x1f\x7f]*$",  # not blank, no controls
}
_CIDRS: dict[str, Any] = {
    "minItems": 1,
    "maxItems": MAX_CIDRS,
    # Declared as addresses (an address is a network of one); networks such as 10.0.0.0/8 are accepted too.
    "items": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
}
_DESCRIPTION: dict[str, Any] = {"maxLength": MAX_DESCRIPTION, "pattern": NO_NUL_RE}
NETWORK_ID = query("The network's id (vpc-…)", required=True, minLength=1)


class CreateNetworkBody(_Input):
    # Required, but checked by the service so that an absence is Missing.Name / Missing.Cidrs. As in
    # servers/schemas.py, an optional field is absent or of its type, never null.
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"required": ["name", "cidrs"]})

    name: str = optional("1-128 characters, unique in the account", **_NAME)
    cidrs: list[str] = optional('1-100 IP networks, e.g. ["10.0.0.0/8"]', **_CIDRS)
    description: str = Field(default="", description="At most 1024 characters", json_schema_extra=_DESCRIPTION)


class UpdateNetworkBody(_Input):
    name: str = optional("A new name", **_NAME)
    cidrs: list[str] = optional("Replaces the whole list", **_CIDRS)
    description: str = optional(**_DESCRIPTION)


class NetworkOut(BaseModel):
    id: str = Field(description="vpc-… id, named in vpcWhitelists")
    name: str
    description: str
    cidrs: list[str]
    createTime: str
    updateTime: str


class NetworkResponse(NetworkOut):
    requestId: str


class ListNetworksResponse(BaseModel):
    requestId: str
    totalCount: int
    networks: list[NetworkOut]


class NetworkRequestIdResponse(BaseModel):
    requestId: str


def _resource(request: HttpRequest, network_id: str = "*") -> str:
    return access.account_resource(principal_account(request), f"network/{network_id}")


def _responses(success: Any) -> dict[Any, Any]:
    return {200: success, **ERRORS}


@router.get(
    "/networks",
    operation_id="ListNetworks",
    summary="List the account's networks (extension)",
    response=_responses(ListNetworksResponse),
)
def list_networks(request: HttpRequest) -> dict[str, Any]:
    authorize(request, "ListNetworks", _resource(request))
    items = [network_to_dict(n) for n in networks_for_account(principal_account(request))]
    return ok(request, {"totalCount": len(items), "networks": items})


@router.get(
    "/network", operation_id="GetNetwork", summary="Get a network (extension)", response=_responses(NetworkResponse)
)
def get_network(request: HttpRequest, id: str | None = NETWORK_ID) -> dict[str, Any]:
    network = network_get(principal_account(request), id)
    authorize(request, "GetNetwork", _resource(request, network.id))
    return ok(request, network_to_dict(network))


@router.post(
    "/network",
    operation_id="CreateNetwork",
    summary="Create a network (extension)",
    response=_responses(NetworkResponse),
)
def create_network(request: HttpRequest, payload: CreateNetworkBody) -> dict[str, Any]:
    principal = authorize(request, "CreateNetwork", _resource(request))
    network = network_create(
        account=principal.user.account,  # type: ignore[arg-type]
        name=payload.name or "",
        cidrs=payload.cidrs or [],
        description=payload.description,
    )
    return ok(request, network_to_dict(network))


@router.patch(
    "/network",
    operation_id="UpdateNetwork",
    summary="Change a network's name, CIDRs or description (extension)",
    response=_responses(NetworkResponse),
)
def update_network(request: HttpRequest, payload: UpdateNetworkBody, id: str | None = NETWORK_ID) -> dict[str, Any]:
    network = network_get(principal_account(request), id)
    authorize(request, "UpdateNetwork", _resource(request, network.id))
    network = network_update(network=network, name=payload.name, cidrs=payload.cidrs, description=payload.description)
    return ok(request, network_to_dict(network))


@router.delete(
    "/network",
    operation_id="DeleteNetwork",
    summary="Delete a network that no whitelist names (extension)",
    response=_responses(NetworkRequestIdResponse),
)
def delete_network(request: HttpRequest, id: str | None = NETWORK_ID) -> dict[str, Any]:
    network = network_get(principal_account(request), id)
    authorize(request, "DeleteNetwork", _resource(request, network.id))
    network_delete(network=network)
    return ok(request, {})
