"""Generated tool text, in the server's language (EN_US and ZH_CN)."""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "EN_US": {
        "default_summary": "Calls the {api} API of {product} ({version}).",
        "notes": "Notes:",
        "deprecated": "This API is deprecated.",
        "region": "Set x_mcp_region_id to the region to call; it selects the endpoint.",
        "assume": "Set x_assume_account_id to act in another account (as its role {role}).",
        "cli": "This tool does not call the API: it returns the equivalent CLI command to run.",
        "constants": "Fixed by the server (not arguments): {names}.",
        "region_param": "Region ID; selects the endpoint the call goes to. Omit it to use the default region. "
        "Regions: {regions}.",
        "assume_param": "ID of the account to act in (as its role {role}). Omit it to act in your own account.",
        "result": "The response.",
        "separator": ", ",
    },
    "ZH_CN": {
        "default_summary": "调用 {product}（{version}）的 {api} 接口。",
        "notes": "说明：",
        "deprecated": "该接口已废弃。",
        "region": "通过 x_mcp_region_id 指定要调用的地域，它决定请求发往的服务地址。",
        "assume": "通过 x_assume_account_id 指定要操作的其他账号（扮演该账号的角色 {role}）。",
        "cli": "该工具不会实际调用接口，而是返回等价的 CLI 命令。",
        "constants": "以下参数由服务端固定，无需传入：{names}。",
        "region_param": "地域 ID，决定请求发往的服务地址。不传则使用默认地域。可选地域：{regions}。",
        "assume_param": "要操作的账号 ID（扮演该账号的角色 {role}）。不传则操作当前账号。",
        "result": "接口的返回结果。",
        "separator": "、",
    },
}


def texts_for(language: str | None) -> dict[str, str]:
    return TEXTS.get(language or "EN_US", TEXTS["EN_US"])


def tool_description(
    texts: dict[str, str],
    *,
    summary: str,
    description: str,
    deprecated: bool,
    regional: bool,
    assume_role: str | None,
    cli_mode: bool,
    constants: list[str],
) -> str:
    parts = [summary.strip()]
    if description.strip() and description.strip() != summary.strip():
        parts.append(description.strip())
    notes: list[str] = []
    if deprecated:
        notes.append(texts["deprecated"])
    if regional:
        notes.append(texts["region"])
    if assume_role is not None:
        notes.append(texts["assume"].format(role=assume_role or "-"))
    if cli_mode:
        notes.append(texts["cli"])
    if constants:
        notes.append(texts["constants"].format(names=texts["separator"].join(constants)))
    if notes:
        parts.append("\n".join([texts["notes"], *[f"- {n}" for n in notes]]))
    return "\n\n".join(p for p in parts if p)


def region_parameter(texts: dict[str, str], regions: list[str]) -> dict[str, Any]:
    return {"type": "string", "description": texts["region_param"].format(regions=", ".join(regions))}


def assume_parameter(texts: dict[str, str], role: str) -> dict[str, Any]:
    return {"type": "string", "pattern": "^[0-9]+$", "description": texts["assume_param"].format(role=role or "-")}
