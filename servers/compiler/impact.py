"""Which of a server's customisations stop applying when a product version is re-imported (pure).

Customisations live on the server and are never rewritten by an import; this only reports what
the new revision makes ineffective, so an admin can fix it: selected APIs that disappeared,
selectors that now match nothing, overrides/constants that name parameters that are gone or a
parameter that became required, and new optional parameters an override's parameter list hides
(the list predates them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from servers.compiler.overrides import (
    is_required,
    override_entries,
    parse_override,
    validate_additional_descriptions,
)
from servers.compiler.server import select


def customisation_impact(
    server: Mapping[str, Any], product: str, version: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[dict[str, str]]:
    """Issues `{kind, api, message}` for one server (camelCase settings) and one product version."""
    issues: list[dict[str, str]] = []
    old_names, new_names = sorted(old.get("apis") or {}), sorted(new.get("apis") or {})
    for entry in server.get("apis") or []:
        if not isinstance(entry, dict) or (entry.get("product"), entry.get("apiVersion")) != (product, version):
            continue
        selectors = [s for s in entry.get("selectors") or [] if isinstance(s, str)]
        before, after = select(old_names, selectors), select(new_names, selectors)
        for name in sorted(set(before) - set(after)):
            issues.append({"kind": "apiRemoved", "api": name, "message": f"{name} is no longer in {product} {version}"})
        if before and not after:
            issues.append({"kind": "selectorEmpty", "api": "", "message": f"selectors {selectors} now match no API"})

    entries = [
        e
        for e in server.get("additionalApiDescriptions") or []
        if isinstance(e, dict) and (e.get("product"), e.get("apiVersion")) == (product, version)
    ]
    if not entries:
        return issues
    key = (product, version)
    before_problems = {(p.code, p.message) for p in validate_additional_descriptions(entries, {key: old})}
    for problem in validate_additional_descriptions(entries, {key: new}):
        if (problem.code, problem.message) in before_problems:
            continue
        index = int(problem.field.split("[", 1)[1].split("]", 1)[0]) if problem.field.startswith("additional") else -1
        api = str(entries[index].get("apiName")) if 0 <= index < len(entries) else ""
        if problem.code.endswith(".ApiName") and any(i["api"] == api and i["kind"] == "apiRemoved" for i in issues):
            continue  # already reported through the selectors
        kind = (
            "apiRemoved"
            if problem.code.endswith(".ApiName")
            else ("constantInvalid" if problem.code.endswith(".ConstParameters") else "overrideInvalid")
        )
        issues.append({"kind": kind, "api": api, "message": problem.message})

    for entry in entries:
        override, error = parse_override(entry.get("apiOverrideJson"))
        listed = override_entries(override) if not error else None
        api_name = str(entry.get("apiName"))
        old_api, new_api = (old.get("apis") or {}).get(api_name), (new.get("apis") or {}).get(api_name)
        if listed is None or not isinstance(old_api, dict) or not isinstance(new_api, dict):
            continue
        old_params = {p.get("name") for p in old_api.get("parameters") or []}
        for param in new_api.get("parameters") or []:
            pname = param.get("name")
            if pname not in old_params and pname not in listed and not is_required(param):
                message = f"new optional parameter {pname} of {api_name} is hidden by the override's parameters"
                issues.append({"kind": "parameterHidden", "api": api_name, "message": message})
    return issues
