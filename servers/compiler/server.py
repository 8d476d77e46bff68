"""A server's settings + the catalog → its compiled tools (SPEC §5.1)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from servers.compiler.schema import Finaliser
from servers.compiler.texts import texts_for
from servers.compiler.tools import ToolInput, build_tool
from servers.compiler.types import CompiledServer, ToolBinding

MAX_RECOMMENDED_APIS = 30
TOOL_NAME_MAX = 128
_TOOL_INVALID = re.compile(r"[^A-Za-z0-9_.-]+")

Catalog = Mapping[tuple[str, str], Mapping[str, Any]]


@lru_cache(maxsize=4096)
def _selector(pattern: str) -> re.Pattern[str]:
    # Case-sensitive glob (`*`, `?`): fnmatch.translate without normcase.
    return re.compile(fnmatch.translate(pattern))


def select(names: list[str], selectors: list[str]) -> list[str]:
    """Names matched by any selector, in the order of `names`."""
    compiled = [_selector(s) for s in selectors if isinstance(s, str)]
    return [n for n in names if any(c.match(n) for c in compiled)]


def tool_name_candidate(product: str, version: str, api_name: str) -> str:
    """`{Product}-{versionWithoutDashes}-{ApiName}`, limited to 128 characters of `A-Za-z0-9_-.`."""
    name = _TOOL_INVALID.sub("_", f"{product}-{version.replace('-', '')}-{api_name}")
    if len(name) > TOOL_NAME_MAX:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[: TOOL_NAME_MAX - 9]}_{digest}"
    return name


def tool_names(refs: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """Tool name per API; clashes get `_2`, `_3`… in (product, version, api) order, whatever the server's order."""
    by_candidate: dict[str, list[tuple[str, str, str]]] = {}
    for ref in refs:
        by_candidate.setdefault(tool_name_candidate(*ref), []).append(ref)
    names: dict[tuple[str, str, str], str] = {}
    taken = set(by_candidate)
    for candidate, group in sorted(by_candidate.items()):
        group.sort()
        names[group[0]] = candidate
        n = 2
        for ref in group[1:]:
            while True:
                suffix = f"_{n}"
                name = candidate[: TOOL_NAME_MAX - len(suffix)] + suffix
                n += 1
                if name not in taken:
                    break
            taken.add(name)
            names[ref] = name
    return names


def resolve(server: Mapping[str, Any], catalog: Catalog, warnings: list[str]) -> list[tuple[str, str, str]]:
    """The server's APIs (product, version, api name), deduplicated, in selector order."""
    seen: dict[tuple[str, str, str], None] = {}
    for entry in server.get("apis") or []:
        if not isinstance(entry, dict):
            continue
        product, version = str(entry.get("product") or ""), str(entry.get("apiVersion") or "")
        document = catalog.get((product, version))
        if document is None:
            warnings.append(f"{product} {version} is not in the catalog; its APIs are skipped")
            continue
        selectors = [s for s in entry.get("selectors") or [] if isinstance(s, str)]
        names = sorted(document.get("apis") or {})
        matched = select(names, selectors)
        if not matched:
            warnings.append(f"Selectors {selectors} match no API of {product} {version}")
        for name in matched:
            seen[(product, version, name)] = None
    return list(seen)


def required_ram_policy(refs: list[tuple[str, str, str]]) -> str:
    actions = sorted({f"{product.lower()}:{name}" for product, _, name in refs})
    statements = [{"Effect": "Allow", "Action": actions, "Resource": "*"}] if actions else []
    return json.dumps({"Version": "1", "Statement": statements}, indent=2, ensure_ascii=False)


def compile_server(server: Mapping[str, Any], catalog: Catalog) -> CompiledServer:
    """Compile a server (its management API JSON, camelCase) against the catalog.

    `catalog` maps (product, apiVersion) to the normalised document; only the products the
    server uses are needed. Never raises for bad customisations: they are skipped and listed in
    `warnings` (save-time validation is `validate_additional_descriptions`).
    """
    language = str(server.get("language") or "EN_US")
    texts = texts_for(language)
    warnings: list[str] = []
    refs = resolve(server, catalog, warnings)
    if len(refs) > MAX_RECOMMENDED_APIS:
        warnings.append(
            f"The server exposes {len(refs)} APIs; more than {MAX_RECOMMENDED_APIS} tools make models choose worse. "
            "Consider splitting it into several servers."
        )
    descriptions: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for entry in server.get("additionalApiDescriptions") or []:
        if isinstance(entry, dict):
            key = (str(entry.get("product")), str(entry.get("apiVersion")), str(entry.get("apiName")))
            descriptions[key] = entry
    wanted = set(refs)
    for key in descriptions:
        if key not in wanted:
            warnings.append(f"additionalApiDescriptions for {' '.join(key)} match no selected API; ignored")

    names = tool_names(refs)
    finalisers: dict[tuple[str, str], Finaliser] = {}
    assume_role = bool(server.get("enableAssumeRole"))
    role_name = str(server.get("assumeRoleName") or "")
    tools: list[dict[str, Any]] = []
    bindings: dict[str, ToolBinding] = {}
    for ref in refs:
        product, version, api_name = ref
        document = catalog[(product, version)]
        finaliser = finalisers.get((product, version))
        if finaliser is None:
            components = (document.get("components") or {}).get("schemas") or {}
            finaliser = finalisers[(product, version)] = Finaliser(components, language)
        tool, binding, tool_warnings = build_tool(
            ToolInput(
                tool_name=names[ref],
                product=product,
                version=version,
                api_name=api_name,
                api=document["apis"][api_name],
                document=document,
                finaliser=finaliser,
                description=descriptions.get(ref, {}),
                texts=texts,
                language=language,
                assume_role=assume_role,
                assume_role_name=role_name,
            )
        )
        tools.append(tool)
        bindings[tool["name"]] = binding
        warnings.extend(tool_warnings)

    payload = json.dumps({"tools": tools}, ensure_ascii=False, separators=(",", ":")).encode()
    return CompiledServer(
        server_id=str(server.get("id") or ""),
        language=language,
        tools=tuple(tools),
        bindings=bindings,
        api_infos=tuple({"product": p, "apiVersion": v, "apiName": n} for p, v, n in refs),
        required_ram_policy=required_ram_policy(refs),
        warnings=tuple(warnings),
        tools_json=payload,
        prompts=tuple(p for p in server.get("prompts") or [] if isinstance(p, dict)),
        instructions=str(server.get("instructions") or ""),
    )
