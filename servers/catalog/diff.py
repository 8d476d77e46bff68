"""What changed between two revisions of a product version (pure).

Documentation-only edits (descriptions, titles, examples) are listed apart from changes that
affect calls: parameters added, removed or changed (location, style, required, type/constraints),
newly required parameters, and changed path or methods. For object bodies the comparison goes one
level down (`body.X`), matching what `constParameters` and overrides can address.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from servers.catalog.schema import COMPONENT_PREFIX, unescape_pointer

_DOC_KEYS = frozenset({"description", "title", "example", "examples", "enumValueTitles", "docRequired", "visibility"})


def _semantic(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _semantic(v) for k, v in value.items() if k not in _DOC_KEYS}
    if isinstance(value, list):
        return [_semantic(v) for v in value]
    return value


def _fingerprint(value: Any) -> str:
    return json.dumps(_semantic(value), sort_keys=True, ensure_ascii=False, default=str)


def _required(param: Mapping[str, Any]) -> bool:
    schema = param.get("schema")
    schema = schema if isinstance(schema, dict) else {}
    return bool(param.get("required") or schema.get("required") is True)


def _body_properties(param: Mapping[str, Any], document: Mapping[str, Any]) -> dict[str, Any]:
    schema = param.get("schema")
    components = (document.get("components") or {}).get("schemas") or {}
    for _ in range(5):
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not (isinstance(ref, str) and ref.startswith(COMPONENT_PREFIX)):
            break
        schema = components.get(unescape_pointer(ref[len(COMPONENT_PREFIX) :]))
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        required = schema.get("required")
        required = required if isinstance(required, list) else []
        return {
            k: {"schema": v, "required": k in required or (isinstance(v, dict) and v.get("required") is True)}
            for k, v in schema["properties"].items()
        }
    return {}


def _flat_parameters(api: Mapping[str, Any], document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Parameters by name, plus `<body>.<property>` entries for object bodies."""
    out: dict[str, dict[str, Any]] = {}
    for param in api.get("parameters") or []:
        if not isinstance(param, dict) or "name" not in param:
            continue
        name = str(param["name"])
        props = _body_properties(param, document) if param.get("in") == "body" else {}
        if props:
            shell = {k: v for k, v in param.items() if k != "schema"}
            out[name] = {"fingerprint": _fingerprint(shell), "required": _required(param)}
            for prop, info in props.items():
                out[f"{name}.{prop}"] = {"fingerprint": _fingerprint(info["schema"]), "required": info["required"]}
        else:
            out[name] = {"fingerprint": _fingerprint(param), "required": _required(param)}
    return out


def api_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], old_doc: Mapping[str, Any], new_doc: Mapping[str, Any]
) -> dict[str, Any]:
    """Changes of one API; empty dict when it is the same for callers and readers."""
    before, after = _flat_parameters(old, old_doc), _flat_parameters(new, new_doc)
    change: dict[str, Any] = {}
    added = [n for n in after if n not in before]
    removed = [n for n in before if n not in after]
    changed = [n for n in after if n in before and after[n]["fingerprint"] != before[n]["fingerprint"]]
    newly_required = [n for n in after if after[n]["required"] and not (n in before and before[n]["required"])]
    if added:
        change["parametersAdded"] = added
    if removed:
        change["parametersRemoved"] = removed
    if changed:
        change["parametersChanged"] = changed
    if newly_required:
        change["requiredAdded"] = newly_required
    for key in ("path", "methods"):
        if old.get(key) != new.get(key):
            change.setdefault("changed", []).append(key)
    if _fingerprint(old.get("responses")) != _fingerprint(new.get("responses")):
        change.setdefault("changed", []).append("responses")
    return change


def diff_documents(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """`{added, removed, changed: [{api, ...}], documentationChanged, unchanged}` (all sorted)."""
    new_apis = new.get("apis") or {}
    if old is None:
        return {
            "initial": True,
            "added": sorted(new_apis),
            "removed": [],
            "changed": [],
            "documentationChanged": [],
            "unchanged": 0,
        }
    old_apis = old.get("apis") or {}
    changed, docs, unchanged = [], [], 0
    for name in sorted(set(old_apis) & set(new_apis)):
        a, b = old_apis[name], new_apis[name]
        if a == b:
            unchanged += 1
            continue
        change = api_changes(a, b, old, new)
        if change:
            changed.append({"api": name, **change})
        elif _fingerprint(a) != _fingerprint(b) or a != b:
            docs.append(name)
    diff: dict[str, Any] = {
        "added": sorted(set(new_apis) - set(old_apis)),
        "removed": sorted(set(old_apis) - set(new_apis)),
        "changed": changed,
        "documentationChanged": docs,
        "unchanged": unchanged,
    }
    for key in ("endpoints", "servers"):
        if (old.get(key) or []) != (new.get(key) or []):
            diff[f"{key}Changed"] = True
    return diff


def diff_summary(diff: Mapping[str, Any]) -> str:
    """One line for people: `+3 APIs, -1 API, 2 changed, 5 documentation-only`."""
    if diff.get("initial"):
        return f"first import: {len(diff.get('added') or [])} APIs"
    if diff.get("unchangedDocument"):
        return "no change (same document as the current revision)"

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    parts = [
        f"+{count(len(diff.get('added') or []), 'API')}",
        f"-{count(len(diff.get('removed') or []), 'API')}",
        f"{len(diff.get('changed') or [])} changed",
        f"{len(diff.get('documentationChanged') or [])} documentation-only",
    ]
    servers = diff.get("servers") or []
    if servers:
        issues = sum(len(s.get("issues") or []) for s in servers)
        parts.append(f"{count(issues, 'customisation')} of {count(len(servers), 'server')} no longer apply")
    return ", ".join(parts)
