"""RAM-style policy documents: parsing, validation and evaluation (pure, no Django).

Explicit Deny wins, then Allow, default deny. `Action` and `Resource` are globs in which `*`
matches any run of characters and `?` one character (nothing else is special): case-insensitive
for actions (as RAM does), case-sensitive for resources. Conditions: `IpAddress`/`NotIpAddress`
(IPs or CIDRs, IPv4 and IPv6) on `acs:SourceIp`, and `StringEquals`/`StringNotEquals`/
`StringLike`/`StringNotLike` on any key (e.g. `mcp:ServerId`, `mcp:ClientId`). Condition keys are
case-insensitive, values case-sensitive; the operators of one statement must all hold (AND), the
values of one key are alternatives (OR). A key missing from the request context satisfies only the
negated operators.

`evaluate_intersection` decides against several policy sets at once (an assumed role's policies
and a server's `assumeRoleExtraPolicy`): allowed only when every set allows.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any


class PolicyError(ValueError):
    """A policy document is malformed; the message names the offending element."""


CONDITION_OPERATORS = {"IpAddress", "NotIpAddress", "StringEquals", "StringNotEquals", "StringLike", "StringNotLike"}


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    index: int = 0
    source: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation, with the statement that decided it (none for a default deny)."""

    allowed: bool
    reason: str  # "allow", "explicit-deny" or "implicit-deny"
    statement: dict[str, Any] | None = None
    policy_name: str | None = None
    statement_index: int | None = None
    scope: str = ""  # which policy set decided (evaluate_intersection), "" for a single set


Policies = list[tuple[str, list[Statement]]]
"""Named, parsed policies: `[(policy name, statements), …]`."""


def _as_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(f"{where} must be a non-empty string or list of strings")
    return tuple(value)


def parse_policy(document: Any) -> list[Statement]:
    """Validate a policy document and return its statements."""
    if not isinstance(document, dict):
        raise PolicyError("Policy document must be a JSON object")
    unknown = set(document) - {"Version", "Statement"}
    if unknown:
        raise PolicyError(f"Unknown key in policy document: {sorted(unknown)[0]}")
    if document.get("Version") != "1":
        raise PolicyError('Policy document Version must be "1"')
    raw = document.get("Statement")
    if not isinstance(raw, list) or not raw:
        raise PolicyError("Statement must be a non-empty list")
    statements = []
    for i, st in enumerate(raw):
        where = f"Statement[{i}]"
        if not isinstance(st, dict):
            raise PolicyError(f"{where} must be an object")
        unknown = set(st) - {"Effect", "Action", "Resource", "Condition"}
        if unknown:
            raise PolicyError(f"Unknown key in {where}: {sorted(unknown)[0]}")
        effect = st.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f'{where}.Effect must be "Allow" or "Deny"')
        actions = _as_list(st.get("Action"), f"{where}.Action")
        resources = _as_list(st.get("Resource", "*"), f"{where}.Resource")
        conditions = []
        cond = st.get("Condition", {})
        if not isinstance(cond, dict):
            raise PolicyError(f"{where}.Condition must be an object")
        for op, pairs in cond.items():
            if op not in CONDITION_OPERATORS:
                raise PolicyError(f"{where}.Condition operator {op} is not supported")
            if not isinstance(pairs, dict) or not pairs:
                raise PolicyError(f"{where}.Condition.{op} must be a non-empty object")
            for key, values in pairs.items():
                vals = _as_list(values, f"{where}.Condition.{op}.{key}")
                if op in ("IpAddress", "NotIpAddress"):
                    for v in vals:
                        try:
                            ipaddress.ip_network(v, strict=False)
                        except ValueError:
                            raise PolicyError(f"{where}.Condition.{op}.{key}: {v!r} is not an IP or CIDR") from None
                conditions.append((op, key, vals))
        statements.append(Statement(effect, actions, resources, tuple(conditions), i, st))
    return statements


@lru_cache(maxsize=4096)
def _glob(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    """`*` and `?` are wildcards; everything else (brackets included) matches itself."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"(?s:{body})\\Z", re.IGNORECASE if case_insensitive else 0)


def _match_any(patterns: tuple[str, ...], value: str, case_insensitive: bool) -> bool:
    return any(_glob(p, case_insensitive).match(value) for p in patterns)


def _condition_holds(op: str, key: str, values: tuple[str, ...], context: dict[str, str]) -> bool:
    actual = context.get(key.lower())
    if op in ("IpAddress", "NotIpAddress"):
        if actual is None:
            return op == "NotIpAddress"
        try:
            addr = ipaddress.ip_address(actual)
        except ValueError:
            return False
        inside = any(addr in ipaddress.ip_network(v, strict=False) for v in values)
        return inside if op == "IpAddress" else not inside
    if actual is None:
        return op in ("StringNotEquals", "StringNotLike")
    if op == "StringEquals":
        return actual in values
    if op == "StringNotEquals":
        return actual not in values
    like = _match_any(values, actual, False)
    return like if op == "StringLike" else not like


def _statement_applies(st: Statement, action: str, resource: str, context: dict[str, str]) -> bool:
    return (
        _match_any(st.actions, action, True)
        and _match_any(st.resources, resource, False)
        and all(_condition_holds(op, k, v, context) for op, k, v in st.conditions)
    )


def evaluate(policies: Policies, action: str, resource: str, context: dict[str, str] | None = None) -> Decision:
    """Decide `action` on `resource` against named, parsed policies (the first allowing statement is named)."""
    lowered = {k.lower(): v for k, v in (context or {}).items()}
    allow: Decision | None = None
    for name, statements in policies:
        for st in statements:
            if not _statement_applies(st, action, resource, lowered):
                continue
            if st.effect == "Deny":
                return Decision(False, "explicit-deny", st.source, name, st.index)
            if allow is None:
                allow = Decision(True, "allow", st.source, name, st.index)
    return allow or Decision(False, "implicit-deny")


def evaluate_intersection(
    sets: list[tuple[str, Policies]], action: str, resource: str, context: dict[str, str] | None = None
) -> Decision:
    """Decide against every named policy set: allowed only if all allow; an explicit Deny in any set wins.

    The decision carries the name of the set that decided it (`scope`): the first set that denies
    explicitly, else the first that does not allow, else the first set (whose statement allowed).
    """
    decisions = [replace(evaluate(policies, action, resource, context), scope=label) for label, policies in sets]
    if not decisions:
        return Decision(False, "implicit-deny")
    for wanted in ("explicit-deny", "implicit-deny"):
        for decision in decisions:
            if decision.reason == wanted:
                return decision
    return decisions[0]


ADMIN_POLICY: dict[str, Any] = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
