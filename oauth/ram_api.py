"""Policies and roles in the management API: an extension of this product under `/ram/`, not part of
OpenAPIExplorer 2024-11-30 (docs/management-api.md, docs/access.md).

Each operation is itself a policy action `ram:<Operation>` on `acs:ram::<accountId>:policy/<name>`,
`…:role/<name>` or `…:user/<name>` (`…/*` for the lists), decided by `oauth.access` through the same
`authorize` as every other operation, before anything is looked up (so a caller without the
permission learns nothing about what exists). A caller sees and changes only its own account.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Router
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from oauth import access
from oauth.models import ACCOUNT_ID_RE, POLICY_NAME_RE, ROLE_NAME_RE, Policy, Role
from oauth.schemas import optional
from oauth.selectors import policies_for_account, policy_get, role_get, roles_for_account, user_get
from oauth.services import (
    MAX_RAM_DESCRIPTION,
    policy_attach,
    policy_create,
    policy_delete,
    policy_detach,
    policy_update,
    role_create,
    role_delete,
    role_update,
)
from servers.api.common import authorize, ok, principal_account, query
from servers.errors import ApiError
from servers.schemas import NO_NUL_RE, ErrorResponse, RequestIdResponse
from servers.selectors import iso_utc

router = Router(tags=["Policies and roles (extension)"])
ERRORS = {frozenset({400, 401, 403, 404, 409}): ErrorResponse, 500: ErrorResponse}


def _responses(success: Any) -> dict[Any, Any]:
    return {200: success, **ERRORS}


def _allow(request: HttpRequest, operation: str, kind: str, name: str = "*") -> Any:
    return authorize(request, operation, access.ram_resource(principal_account(request), kind, name), product="ram")


def _required(value: str | None, field: str, code: str) -> str:
    if not value:
        raise ApiError(f"Missing.{code}", f"{field} is mandatory for this action.", field=field)
    return value


def _document(value: dict[str, Any] | str) -> Any:
    """A policy document as a JSON object, or as JSON text (as RAM and assumeRoleExtraPolicy take it)."""
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError(
            "InvalidParam.PolicyDocument", "policyDocument is not valid JSON.", field="policyDocument"
        ) from None


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# Limits declared in the document (the services check them, with their own codes).
_POLICY_NAME: dict[str, Any] = {"pattern": f"^{POLICY_NAME_RE.pattern}$"}
_ROLE_NAME: dict[str, Any] = {"pattern": f"^{ROLE_NAME_RE.pattern}$"}
_DESCRIPTION: dict[str, Any] = {"maxLength": MAX_RAM_DESCRIPTION, "pattern": NO_NUL_RE}
_NAME: dict[str, Any] = {"pattern": NO_NUL_RE}  # of something that exists (looked up)
_NAMES: dict[str, Any] = {"items": {"type": "string", "pattern": NO_NUL_RE}}
# A policy document as an object, or as JSON text (which declares no NUL, like every string).
PolicyDocument = dict[str, Any] | Annotated[str, WithJsonSchema({"type": "string", "pattern": NO_NUL_RE})]
_TRUSTED: dict[str, Any] = {"maxItems": 100, "items": {"type": "string", "pattern": f"^{ACCOUNT_ID_RE.pattern}$"}}
POLICY_NAME = query("The policy's name", required=True, minLength=1)
ROLE_NAME = query("The role's name", required=True, minLength=1)


class CreatePolicyBody(_Input):
    policyName: str = Field(
        description="1-128 of A-Z a-z 0-9 . _ -, unique in the account", json_schema_extra=_POLICY_NAME
    )
    policyDocument: PolicyDocument = Field(description='{"Version": "1", "Statement": [...]}, object or JSON text')
    description: str = Field(default="", json_schema_extra=_DESCRIPTION)


class UpdatePolicyBody(_Input):
    policyDocument: PolicyDocument = optional("Replaces the document")
    description: str = optional(**_DESCRIPTION)


class CreateRoleBody(_Input):
    roleName: str = Field(description="1-64 of A-Z a-z 0-9 . -, unique in the account", json_schema_extra=_ROLE_NAME)
    trustedAccountIds: list[str] = Field(
        description="Accounts whose users may assume the role (not the role's own)", json_schema_extra=_TRUSTED
    )
    description: str = Field(default="", json_schema_extra=_DESCRIPTION)
    policyNames: list[str] = Field(
        default_factory=list, description="Policies of the account to attach", json_schema_extra=_NAMES
    )


class UpdateRoleBody(_Input):
    trustedAccountIds: list[str] = optional("Replaces the list", **_TRUSTED)
    description: str = optional(**_DESCRIPTION)


class UserPolicyBody(_Input):
    policyName: str = Field(json_schema_extra=_NAME)
    userName: str = Field(json_schema_extra=_NAME)


class RolePolicyBody(_Input):
    policyName: str = Field(json_schema_extra=_NAME)
    roleName: str = Field(json_schema_extra=_NAME)


class PolicyOut(BaseModel):
    policyName: str
    description: str
    policyDocument: dict[str, Any]
    attachedUsers: list[str]
    attachedRoles: list[str]
    createTime: str
    updateTime: str


class RoleOut(BaseModel):
    roleName: str
    arn: str
    description: str
    trustedAccountIds: list[str]
    policies: list[str]
    createTime: str
    updateTime: str


class PolicyResponse(PolicyOut):
    requestId: str


class RoleResponse(RoleOut):
    requestId: str


class ListPoliciesResponse(BaseModel):
    requestId: str
    totalCount: int
    policies: list[PolicyOut]


class ListRolesResponse(BaseModel):
    requestId: str
    totalCount: int
    roles: list[RoleOut]


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    return {
        "policyName": policy.name,
        "description": policy.description,
        "policyDocument": policy.document,
        # (the reverse accessor of User.policies, declared by name, is unknown to the type stubs)
        "attachedUsers": sorted(u.username for u in policy.users.all()),  # type: ignore[attr-defined]
        "attachedRoles": sorted(r.name for r in policy.roles.all()),
        "createTime": iso_utc(policy.created_at),
        "updateTime": iso_utc(policy.updated_at),
    }


def role_to_dict(role: Role) -> dict[str, Any]:
    return {
        "roleName": role.name,
        "arn": access.role_resource(str(role.account_id), role.name),
        "description": role.description,
        "trustedAccountIds": list(role.trusted_account_ids or []),
        "policies": sorted(p.name for p in role.policies.all()),
        "createTime": iso_utc(role.created_at),
        "updateTime": iso_utc(role.updated_at),
    }


# Policies ----------------------------------------------------------------------------------------


@router.get("/ram/policies", operation_id="ListPolicies", response=_responses(ListPoliciesResponse))
def list_policies(request: HttpRequest) -> dict[str, Any]:
    """The account's policies, by name, with the users and roles each is attached to."""
    _allow(request, "ListPolicies", "policy")
    items = [policy_to_dict(p) for p in policies_for_account(principal_account(request))]
    return ok(request, {"totalCount": len(items), "policies": items})


@router.get("/ram/policy", operation_id="GetPolicy", response=_responses(PolicyResponse))
def get_policy(request: HttpRequest, policyName: str | None = POLICY_NAME) -> dict[str, Any]:
    name = _required(policyName, "policyName", "PolicyName")
    _allow(request, "GetPolicy", "policy", name)
    return ok(request, policy_to_dict(policy_get(account_id=principal_account(request), name=name)))


@router.post("/ram/policy", operation_id="CreatePolicy", response=_responses(PolicyResponse))
def create_policy(request: HttpRequest, payload: CreatePolicyBody) -> dict[str, Any]:
    principal = _allow(request, "CreatePolicy", "policy", payload.policyName)
    policy = policy_create(
        account=principal.user.account,
        name=payload.policyName,
        document=_document(payload.policyDocument),
        description=payload.description,
    )
    return ok(request, policy_to_dict(policy))


@router.patch("/ram/policy", operation_id="UpdatePolicy", response=_responses(PolicyResponse))
def update_policy(
    request: HttpRequest, payload: UpdatePolicyBody, policyName: str | None = POLICY_NAME
) -> dict[str, Any]:
    """Replace the document and/or the description; the change applies to every user and role it is attached to."""
    name = _required(policyName, "policyName", "PolicyName")
    _allow(request, "UpdatePolicy", "policy", name)
    policy = policy_update(
        policy=policy_get(account_id=principal_account(request), name=name),
        document=_document(payload.policyDocument) if payload.policyDocument is not None else None,
        description=payload.description,
    )
    return ok(request, policy_to_dict(policy))


@router.delete("/ram/policy", operation_id="DeletePolicy", response=_responses(RequestIdResponse))
def delete_policy(request: HttpRequest, policyName: str | None = POLICY_NAME) -> dict[str, Any]:
    name = _required(policyName, "policyName", "PolicyName")
    _allow(request, "DeletePolicy", "policy", name)
    policy_delete(policy=policy_get(account_id=principal_account(request), name=name))
    return ok(request, {})


@router.post("/ram/attachPolicyToUser", operation_id="AttachPolicyToUser", response=_responses(RequestIdResponse))
def attach_policy_to_user(request: HttpRequest, payload: UserPolicyBody) -> dict[str, Any]:
    _allow(request, "AttachPolicyToUser", "user", payload.userName)
    account_id = principal_account(request)
    policy = policy_get(account_id=account_id, name=payload.policyName)
    policy_attach(policy=policy, user=user_get(account_id=account_id, username=payload.userName))
    return ok(request, {})


@router.post("/ram/detachPolicyFromUser", operation_id="DetachPolicyFromUser", response=_responses(RequestIdResponse))
def detach_policy_from_user(request: HttpRequest, payload: UserPolicyBody) -> dict[str, Any]:
    _allow(request, "DetachPolicyFromUser", "user", payload.userName)
    account_id = principal_account(request)
    policy = policy_get(account_id=account_id, name=payload.policyName)
    policy_detach(policy=policy, user=user_get(account_id=account_id, username=payload.userName))
    return ok(request, {})


@router.post("/ram/attachPolicyToRole", operation_id="AttachPolicyToRole", response=_responses(RequestIdResponse))
def attach_policy_to_role(request: HttpRequest, payload: RolePolicyBody) -> dict[str, Any]:
    _allow(request, "AttachPolicyToRole", "role", payload.roleName)
    account_id = principal_account(request)
    policy = policy_get(account_id=account_id, name=payload.policyName)
    policy_attach(policy=policy, role=role_get(account_id=account_id, name=payload.roleName))
    return ok(request, {})


@router.post("/ram/detachPolicyFromRole", operation_id="DetachPolicyFromRole", response=_responses(RequestIdResponse))
def detach_policy_from_role(request: HttpRequest, payload: RolePolicyBody) -> dict[str, Any]:
    _allow(request, "DetachPolicyFromRole", "role", payload.roleName)
    account_id = principal_account(request)
    policy = policy_get(account_id=account_id, name=payload.policyName)
    policy_detach(policy=policy, role=role_get(account_id=account_id, name=payload.roleName))
    return ok(request, {})


# Roles -------------------------------------------------------------------------------------------


@router.get("/ram/roles", operation_id="ListRoles", response=_responses(ListRolesResponse))
def list_roles(request: HttpRequest) -> dict[str, Any]:
    _allow(request, "ListRoles", "role")
    items = [role_to_dict(r) for r in roles_for_account(principal_account(request))]
    return ok(request, {"totalCount": len(items), "roles": items})


@router.get("/ram/role", operation_id="GetRole", response=_responses(RoleResponse))
def get_role(request: HttpRequest, roleName: str | None = ROLE_NAME) -> dict[str, Any]:
    name = _required(roleName, "roleName", "RoleName")
    _allow(request, "GetRole", "role", name)
    return ok(request, role_to_dict(role_get(account_id=principal_account(request), name=name)))


@router.post("/ram/role", operation_id="CreateRole", response=_responses(RoleResponse))
def create_role(request: HttpRequest, payload: CreateRoleBody) -> dict[str, Any]:
    principal = _allow(request, "CreateRole", "role", payload.roleName)
    account_id = principal_account(request)
    role = role_create(
        account=principal.user.account,
        name=payload.roleName,
        trusted_account_ids=payload.trustedAccountIds,
        description=payload.description,
        policies=[policy_get(account_id=account_id, name=n) for n in payload.policyNames],
    )
    return ok(request, role_to_dict(role))


@router.patch("/ram/role", operation_id="UpdateRole", response=_responses(RoleResponse))
def update_role(request: HttpRequest, payload: UpdateRoleBody, roleName: str | None = ROLE_NAME) -> dict[str, Any]:
    name = _required(roleName, "roleName", "RoleName")
    _allow(request, "UpdateRole", "role", name)
    role = role_update(
        role=role_get(account_id=principal_account(request), name=name),
        trusted_account_ids=payload.trustedAccountIds,
        description=payload.description,
    )
    return ok(request, role_to_dict(role))


@router.delete("/ram/role", operation_id="DeleteRole", response=_responses(RequestIdResponse))
def delete_role(request: HttpRequest, roleName: str | None = ROLE_NAME) -> dict[str, Any]:
    name = _required(roleName, "roleName", "RoleName")
    _allow(request, "DeleteRole", "role", name)
    role_delete(role=role_get(account_id=principal_account(request), name=name))
    return ok(request, {})
