"""Assuming a role of another account for one tool call (SPEC §6.4), without the ORM on the hot path.

A call to a server with `enableAssumeRole` that sets `x_assume_account_id=B` (B other than the
server's account A) runs in B as B's role `assumeRoleName`:

1. the caller needs `sts:AssumeRole` on `acs:ram::B:role/<name>` (its own policies) → else `Forbidden.RAM`;
2. B must have that role → else `EntityNotExist.Role`;
3. the role must trust A → else `Forbidden.AssumeRole`;
4. the tool's action on B's resource is decided by the role's policies ∩ the server's
   `assumeRoleExtraPolicy` (when set) → else `Forbidden.RAM` naming the set that refused.

Roles (trusted accounts and parsed policies) come through `runtime.data.role_for` and are cached
per (account, name) for `MCP_PRINCIPAL_TTL_SECONDS`, with their decisions memoised like a
principal's; a `role` event (`servers.events`, published when a role, its policies or an attached
policy document changes) drops the account's cached roles in every process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from oauth import access
from oauth.policy import Policies
from runtime import conf, data
from runtime.results import ToolError


class AssumeRoleRefused(ToolError):
    """The call may not run in the target account: a refusal (`Forbidden…`) is `denied`, else `error`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message, outcome="denied" if code.startswith("Forbidden") else "error")


@dataclass
class AssumedRole:
    """A role as the runtime caches it; `decide` memoises per (extra policy, action, resource, context)."""

    record: data.RoleRecord
    policies: Policies
    fetched_at: float
    _decisions: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], access.Decision] = field(default_factory=dict)

    def trusts(self, account_id: str) -> bool:
        return account_id in self.record.trusted_account_ids

    def decide(self, extra_policy: str, action: str, resource: str, context: dict[str, str]) -> access.Decision:
        """The role's policies ∩ the server's `assumeRoleExtraPolicy` (JSON text, '' for none)."""
        key = (extra_policy, action, resource, tuple(sorted(context.items())))
        decision = self._decisions.get(key)
        if decision is None:
            decision = access.decide_as_role(
                self.record.name, self.policies, access.extra_policy(extra_policy), action, resource, context
            )
            if len(self._decisions) > 4096:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision


class RoleCache:
    """(account id, role name) → AssumedRole or None (no such role), for the principal TTL."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[AssumedRole | None, float]] = {}
        self._epoch = 0

    async def get(self, account_id: str, name: str) -> AssumedRole | None:
        key = (account_id, name)
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and now - hit[1] < float(conf.get("MCP_PRINCIPAL_TTL_SECONDS")):
            return hit[0]
        epoch = self._epoch
        record = await data.role_for(account_id, name)
        role = AssumedRole(record, access.parse_named(record.policies), now) if record is not None else None
        if epoch == self._epoch:  # not invalidated while it was being read
            self._items[key] = (role, now)
        return role

    def drop_account(self, account_id: str) -> None:
        self._epoch += 1
        for key in [k for k in list(self._items) if k[0] == account_id]:
            self._items.pop(key, None)

    def clear(self) -> None:
        self._epoch += 1
        self._items.clear()


roles = RoleCache()


async def assume(
    principal_decide: access.Decision, *, target_account_id: str, role_name: str, server_account_id: str
) -> AssumedRole:
    """The role to run as, or AssumeRoleRefused. `principal_decide` is the caller's `sts:AssumeRole` decision."""
    if not principal_decide.allowed:
        raise AssumeRoleRefused("Forbidden.RAM", principal_decide.message)
    role = await roles.get(target_account_id, role_name)
    if role is None:
        raise AssumeRoleRefused("EntityNotExist.Role", f"Account {target_account_id} has no role {role_name}.")
    if not role.trusts(server_account_id):
        raise AssumeRoleRefused(
            "Forbidden.AssumeRole",
            f"Role {role_name} of account {target_account_id} does not trust account {server_account_id}, "
            f"the account of this MCP server.",
        )
    return role


def on_event(topic: str, key: str) -> None:
    """A `role` event: forget that account's roles (any thread; popping keys is atomic enough here)."""
    if topic == "role":
        roles.drop_account(key)
