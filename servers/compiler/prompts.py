"""Prompts (SPEC §5.2): `{{var}}` variables checked at save time, rendered at `prompts/get`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from servers.compiler.types import ValidationProblem

VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


class PromptError(ValueError):
    """A prompt cannot be rendered with the given arguments (the message says why)."""


def prompt_variables(content: str) -> list[str]:
    """Variable names used in `content`, in first-use order."""
    return list(dict.fromkeys(m.group(1) for m in VARIABLE.finditer(content or "")))


def validate_prompts(prompts: Any) -> list[ValidationProblem]:
    """Save-time checks: names, unique names, declared arguments, every `{{var}}` declared."""
    code = "InvalidParam.Prompts"
    if prompts is None:
        return []
    if not isinstance(prompts, list):
        return [ValidationProblem(code, "prompts must be a list", "prompts")]
    problems: list[ValidationProblem] = []
    names: set[str] = set()
    for i, prompt in enumerate(prompts):
        where = f"prompts[{i}]"
        if not isinstance(prompt, dict):
            problems.append(ValidationProblem(code, f"{where} must be an object", where))
            continue
        name = prompt.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            problems.append(
                ValidationProblem(
                    f"{code}.Name",
                    f"{where}.name {name!r} is not a valid prompt name (letters, digits, _ . -; up to 64)",
                    f"{where}.name",
                )
            )
        elif name in names:
            problems.append(ValidationProblem(f"{code}.Name", f"Prompt {name!r} is defined twice", f"{where}.name"))
        else:
            names.add(name)
        content = prompt.get("content")
        if not isinstance(content, str) or not content.strip():
            problems.append(
                ValidationProblem(f"{code}.Content", f"Prompt {name!r} needs a content", f"{where}.content")
            )
            content = ""
        declared: set[str] = set()
        arguments = prompt.get("arguments") or []
        if not isinstance(arguments, list):
            problems.append(
                ValidationProblem(
                    f"{code}.Arguments", f"arguments of prompt {name!r} must be a list", f"{where}.arguments"
                )
            )
            arguments = []
        for j, arg in enumerate(arguments):
            arg_name = arg.get("name") if isinstance(arg, dict) else None
            if not isinstance(arg_name, str) or not NAME.fullmatch(arg_name):
                problems.append(
                    ValidationProblem(
                        f"{code}.Arguments",
                        f"Prompt {name!r}: argument {j} has an invalid name {arg_name!r}",
                        f"{where}.arguments[{j}].name",
                    )
                )
            elif arg_name in declared:
                problems.append(
                    ValidationProblem(
                        f"{code}.Arguments",
                        f"Prompt {name!r}: argument {arg_name!r} is declared twice",
                        f"{where}.arguments[{j}].name",
                    )
                )
            else:
                declared.add(arg_name)
        for var in prompt_variables(content):
            if var not in declared:
                problems.append(
                    ValidationProblem(
                        f"{code}.Content",
                        f"Prompt {name!r} uses {{{{{var}}}}} but does not declare an argument with that name",
                        f"{where}.content",
                    )
                )
    return problems


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
