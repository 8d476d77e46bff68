"""The one access decision (SPEC §6.2, §6.4), for the management API, the console and the MCP runtime.

Pure (no Django): callers pass the caller's parsed policies (`oauth.selectors.policies_for_user`
in Django, the cached principal in the runtime). This module names the actions and resources,
builds the request context of conditions, and turns the evaluator's answer (`oauth.policy`) into
a `Decision` that carries the action, the resource, the deciding statement and one message, so a
refusal reads the same wherever it happens.

Names:
- management operation: action `openapiexplorer:<Operation>` (or `ram:<Operation>` for policies and
  roles) on `acs:openapiexplorer::<account>:apimcpserver/<id>` (`…:<kind>` for other kinds) or
  `acs:ram::<account>:<kind>/<name>`;
- tool call: action `<productcode>:<ApiName>` (product code lower-cased, e.g. `ecs:DescribeInstances`)
  on `acs:<productcode>:<region or *>:<account>:*`;
- system tool: action `mcp:<ToolName>` on `acs:mcp::<account>:server/<server id>`;
- assuming a role: `sts:AssumeRole` on `acs:ram::<account>:role/<name>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from oauth.policy import Policies, PolicyError, evaluate, evaluate_intersection, parse_policy

MANAGEMENT_PRODUCT = "openapiexplorer"
RAM_PRODUCT = "ram"
ASSUME_ROLE_ACTION = "sts:AssumeRole"
EXTRA_POLICY_SCOPE = "assumeRoleExtraPolicy"

# Condition keys of the request context.
SOURCE_IP = "acs:SourceIp"
SERVER_ID = "mcp:ServerId"
CLIENT_ID = "mcp:ClientId"


# Names -------------------------------------------------------------------------------------------


def management_action(operation: str, product: str = MANAGEMENT_PRODUCT) -> str:
    return f"{product}:{operation}"


def tool_action(product: str, api_name: str) -> str:
    return f"{product.lower()}:{api_name}"


def server_resource(account_id: str, server_id: str = "*") -> str:
    return f"acs:openapiexplorer::{account_id}:apimcpserver/{server_id}"


def account_resource(account_id: str, kind: str) -> str:
    return f"acs:openapiexplorer::{account_id}:{kind}"


def connection_resource(account_id: str, product: str = "*") -> str:
    """A connection's resource (`…/*` for the list and for creating)."""
    return account_resource(account_id, f"connection/{product}")


def tool_resource(product: str, region: str, account_id: str) -> str:
    return f"acs:{product.lower()}:{region or '*'}:{account_id}:*"


def system_tool_action(name: str) -> str:
    return f"mcp:{name}"


def system_tool_resource(account_id: str, server_id: str) -> str:
    return f"acs:mcp::{account_id}:server/{server_id}"


def ram_resource(account_id: str, kind: str, name: str = "*") -> str:
    return f"acs:ram::{account_id}:{kind}/{name}"


def role_resource(account_id: str, role_name: str) -> str:
    return ram_resource(account_id, "role", role_name)


def request_context(*, source_ip: str, server_id: str = "", client_id: str = "") -> dict[str, str]:
    """The condition keys a request supplies (absent ones are left out, so only negated operators match)."""
    context = {SOURCE_IP: source_ip}
    if server_id:
        context[SERVER_ID] = server_id
    if client_id:
        context[CLIENT_ID] = client_id
    return context


# Decisions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Whether `action` on `resource` is allowed, and which statement of which policy decided it."""

    allowed: bool
    action: str
    resource: str
    reason: str  # "allow", "explicit-deny" or "implicit-deny"
    policy_name: str | None = None
    statement: dict[str, Any] | None = None
    statement_index: int | None = None
    scope: str = ""  # "" (the caller's own policies), "role:<name>" or EXTRA_POLICY_SCOPE

    @property
    def why(self) -> str:
        """What decided, in words, with the deciding statement when there is one."""
        if self.statement is not None:
            verb = "allowed" if self.allowed else "explicitly denied"
            where = f"policy {self.policy_name}" + (f" of {_scope_words(self.scope)}" if self.scope else "")
            shown = json.dumps(_in_document_order(self.statement), separators=(",", ":"), ensure_ascii=False)
            return f"{verb} by {where} (Statement[{self.statement_index}]: {shown})"
        if self.scope == EXTRA_POLICY_SCOPE:
            return "not allowed by the server's assumeRoleExtraPolicy"
        if self.scope:
            return f"not allowed by any policy of {_scope_words(self.scope)}"
        return "not allowed by any of your policies"

    @property
    def message(self) -> str:
        """The sentence a caller sees (a refusal names the action, the resource and the deciding statement)."""
        if self.allowed:
            return f"Action {self.action} on resource {self.resource} is {self.why}."
        return (
            f"User not authorized to operate on the specified resource: action {self.action} on resource "
            f"{self.resource} is {self.why}."
        )

    def to_dict(self) -> dict[str, Any]:
        """The decision as the permission diagnosis (FetchRamActionDetails) shows it."""
        return {
            "action": self.action,
            "resource": self.resource,
            "allowed": self.allowed,
            "decision": self.reason,
            "policyName": self.policy_name,
            "statement": self.statement,
        }


def _scope_words(scope: str) -> str:
    if scope.startswith("role:"):
        return f"role {scope[5:]}"
    return "the server's assumeRoleExtraPolicy" if scope == EXTRA_POLICY_SCOPE else scope


def decide(policies: Policies, action: str, resource: str, context: dict[str, str] | None = None) -> Decision:
    """The caller's own decision: its policies, Deny wins, then Allow, default deny."""
    d = evaluate(policies, action, resource, context)
    return Decision(d.allowed, action, resource, d.reason, d.policy_name, d.statement, d.statement_index)


def decide_as_role(
    role_name: str,
    role_policies: Policies,
    extra_policy: Policies | None,
    action: str,
    resource: str,
    context: dict[str, str] | None = None,
) -> Decision:
    """An assumed role's decision: the role's policies ∩ the server's extra policy (when it has one)."""
    sets = [(f"role:{role_name}", role_policies)]
    if extra_policy is not None:
        sets.append((EXTRA_POLICY_SCOPE, extra_policy))
    d = evaluate_intersection(sets, action, resource, context)
    return Decision(d.allowed, action, resource, d.reason, d.policy_name, d.statement, d.statement_index, d.scope)


@lru_cache(maxsize=1024)
def _parsed_json(text: str) -> tuple[tuple[str, Any], ...] | None:
    try:
        return (("assumeRoleExtraPolicy", parse_policy(json.loads(text))),)
    except (ValueError, PolicyError):
        return None


def extra_policy(text: str) -> Policies | None:
    """A server's `assumeRoleExtraPolicy` (JSON text), parsed once; None when unset.

    Saved documents are validated (`servers.server_validation`); one that no longer parses allows
    nothing rather than everything.
    """
    if not text.strip():
        return None
    parsed = _parsed_json(text)
    if parsed is None:
        return []
    return list(parsed)


def parse_named(documents: Any) -> Policies:
    """`[(name, document), …]` → parsed policies, skipping documents that no longer parse.

    A policy stored before validation existed must not lock everyone out of everything else.
    """
    parsed: Policies = []
    for name, document in documents:
        try:
            parsed.append((name, parse_policy(document)))
        except PolicyError:
            continue
    return parsed


# A statement's keys in the order policy documents write them, whatever order storage kept
# (PostgreSQL's jsonb reorders keys), so a refusal reads the same on every database.
_STATEMENT_KEYS = ("Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition")


def _in_document_order(statement: dict[str, Any]) -> dict[str, Any]:
    known = {key: _sorted(statement[key]) for key in _STATEMENT_KEYS if key in statement}
    return {**known, **{key: _sorted(value) for key, value in sorted(statement.items()) if key not in known}}


def _sorted(value: Any) -> Any:
    """Nested objects (a Condition's operators and keys) with their keys sorted."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    return value
