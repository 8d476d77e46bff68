"""The HCL parse itself, as run in the checking child process (see `terraform.syntax`).

Importing this module loads python-hcl2 and builds its parser (about 0.3 s), which is why it is
preloaded by the forkserver rather than imported by the web process.
"""

from __future__ import annotations

import resource
from multiprocessing.connection import Connection
from typing import Any

import hcl2
from lark.exceptions import UnexpectedInput

NESTED_TOO_DEEPLY = "expressions are nested too deeply (brackets, blocks or chains of operators)"

hcl2.loads("warm = 1\n")  # lark builds the parser on first use: do it once, in the forkserver


def syntax_error(code: str) -> str | None:
    """None when `code` parses as HCL, else "line L, column C: …" or what else is wrong."""
    try:
        hcl2.loads(code)
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        text = str(token) if token is not None else ""
        if token is not None and getattr(token, "type", "") == "$END":
            found = "unexpected end of input"
        elif text[:1] in ("\n", "\r"):
            found = "unexpected end of line"
        else:
            found = f"unexpected {text.strip()[:40]!r}" if text.strip() else "unexpected input"
        return f"line {exc.line}, column {exc.column}: {found}"
    except Exception as exc:  # noqa: BLE001 - python-hcl2 raises several types for semantic slips
        # Deep nesting exhausts Python's recursion limit, raw or wrapped in lark's VisitError.
        if any(isinstance(e, RecursionError) for e in (exc, getattr(exc, "orig_exc", None), exc.__context__)):
            return NESTED_TOO_DEEPLY
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def run(conn: Connection, code: str, memory_bytes: int) -> None:
    """Child entry point: cap the address space, check `code`, send ("ok", problem) back."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        result: Any = ("ok", syntax_error(code))
    except MemoryError:
        result = ("memory", None)
    conn.send(result)
    conn.close()
