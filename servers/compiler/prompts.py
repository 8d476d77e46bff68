"""Prompts (SPEC §5.2): the one definition of a `{{var}}` variable and of rendering a prompt.

`servers.server_validation.validate_prompts` (save time) refuses a content whose variables are not
declared arguments, using `prompt_variables`; the MCP runtime's `prompts/get` renders with
`render_prompt` and answers its `PromptError` as invalid params.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


class PromptError(ValueError):
    """A prompt cannot be rendered with the given arguments (the message says why)."""


def prompt_variables(content: str) -> list[str]:
    """Variable names used in `content`, in first-use order."""
    return list(dict.fromkeys(m.group(1) for m in VARIABLE.finditer(content or "")))


def render_prompt(prompt: Mapping[str, Any], arguments: Mapping[str, Any] | None) -> str:
    """The content with `{{var}}` replaced (one pass); PromptError on missing required or unknown arguments."""
    arguments = dict(arguments or {})
    declared = {a["name"]: a for a in prompt.get("arguments") or [] if isinstance(a, dict) and a.get("name")}
    unknown = sorted(set(arguments) - set(declared))
    if unknown:
        raise PromptError(f"Unknown argument(s) for prompt {prompt.get('name')!r}: {', '.join(unknown)}")
    missing = [n for n, a in declared.items() if a.get("required") and arguments.get(n) in (None, "")]
    if missing:
        raise PromptError(f"Missing required argument(s) for prompt {prompt.get('name')!r}: {', '.join(missing)}")

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in declared:
            return match.group(0)
        value = arguments.get(name)
        return "" if value is None else str(value)

    return VARIABLE.sub(substitute, str(prompt.get("content") or ""))
