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
    network_create,
    network_delete,
    network_get,
    network_to_dict,
    network_update,
    networks_for_account,
)
from servers.api.common import authorize, ok, principal_account
from servers.schemas import ErrorResponse

router = Router(tags=["Networks (extension)"])
ERRORS = {frozenset({400, 401, 403, 404, 409}): ErrorResponse, 500: ErrorResponse}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateNetworkBody(_Input):
    # Required, but checked by the service so that an absence is Missing.Name / Missing.Cidrs.
    name: str | None = Field(default=None, description="Required. 1-128 characters, unique in the account")
    cidrs: list[str] | None = Field(default=None, description='Required. 1-100 IP networks, e.g. ["10.0.0.0/8"]')
    description: str = Field(default="", description="At most 1024 characters")


class UpdateNetworkBody(_Input):
    name: str | None = Field(default=None, description="A new name")
    cidrs: list[str] | None = Field(default=None, description="Replaces the whole list")
    description: str | None = None


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
def get_network(request: HttpRequest, id: str | None = None) -> dict[str, Any]:
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
def update_network(request: HttpRequest, payload: UpdateNetworkBody, id: str | None = None) -> dict[str, Any]:
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
def delete_network(request: HttpRequest, id: str | None = None) -> dict[str, Any]:
    network = network_get(principal_account(request), id)
    authorize(request, "DeleteNetwork", _resource(request, network.id))
    network_delete(network=network)
    return ok(request, {})
