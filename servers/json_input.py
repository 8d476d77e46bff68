"""Reading untrusted JSON text and strings (pure, no Django): one door with the same limits everywhere.

`json.loads` alone is not safe for text from a client: 100,000 nested brackets raise RecursionError,
`NaN`, `Infinity` and `1e999` become floats no database column or JSON document can hold, a
`\\u0000` becomes a NUL that PostgreSQL refuses in text and jsonb, a lone `\\ud800` becomes a string
that cannot be encoded as UTF-8, and an integer of 5,000 digits raises a plain ValueError.
`loads` refuses all of these with a `JsonInputError` that names the field (and the place inside it)
and says what is wrong; `check_text` does the same for a plain string (a query or form value).

The nesting depth is checked on the text before parsing, cheaply: strings are cut out with one
regular expression, then only the brackets are counted.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused (a server model needs fewer than 10)."""

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKETS = re.compile(r"[^\[\]{}]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class JsonInputError(ValueError):
    """Refused JSON text or string: `field` is where (`body.apis[0].product`), `message` a sentence naming it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem
        self.message = f"{field} {problem}."


class _Refused:
    """What the parser's hooks put in place of a number that cannot be kept (reported with its path)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays/objects in the JSON `text` nest deeper than `limit` (brackets in strings ignored)."""
    depth = 0
    for char in _BRACKETS.sub("", _STRING.sub("", text)):
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _bad_character(value: str) -> str | None:
    if "\x00" in value:
        return "a NUL character (\\u0000), which is not allowed"
    if _SURROGATE.search(value):
        return "a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode"
    return None


def check_text(value: str, field: str) -> str:
    """`value` unchanged; JsonInputError when it holds a NUL or a lone surrogate."""
    bad = _bad_character(value)
    if bad:
        raise JsonInputError(field, f"contains {bad}")
    return value


def check_name(name: str, field: str, kind: str = "key") -> str:
    """A key or parameter name: JsonInputError (naming it escaped) when it holds a NUL or a lone surrogate."""
    bad = _bad_character(name)
    if bad:
        raise JsonInputError(field, f"is a {kind} with {bad}")
    return name


def shown(name: str) -> str:
    """A key or parameter name as it can appear in a message: as is, or JSON-quoted and escaped."""
    return name if _IDENTIFIER.fullmatch(name) else json.dumps(name)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _check_tree(value: Any, path: str) -> None:
    if isinstance(value, str):
        check_text(value, path)
    elif isinstance(value, _Refused):
        raise JsonInputError(path, value.problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_name(key, _child(path, key))
            _check_tree(item, _child(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_tree(item, f"{path}[{index}]")


def loads(text: str, *, field: str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `text`, refusing (JsonInputError naming `field`) what a database could not store.

    Refused: invalid JSON (with line and column), nesting deeper than `max_depth`, NaN, Infinity
    and numbers too large for a float, integers longer than Python reads, and strings or keys with
    a NUL or a lone surrogate.
    """
    if too_deep(text, max_depth):
        raise JsonInputError(field, f"is nested more than {max_depth} levels deep")
    refused = False

    def refuse(problem: str) -> _Refused:
        nonlocal refused
        refused = True
        return _Refused(problem)

    def parse_float(token: str) -> float | _Refused:
        number = float(token)
        return number if math.isfinite(number) else refuse(f"is {token}, a number too large to represent")

    def parse_int(token: str) -> int | _Refused:
        limit = sys.get_int_max_str_digits() or 4300
        return int(token) if len(token) <= limit else refuse(f"is an integer of more than {limit} digits")

    def parse_constant(token: str) -> _Refused:
        return refuse(f"is {token}, which is not a JSON number (only finite numbers are allowed)")

    try:
        value = json.loads(text, parse_float=parse_float, parse_int=parse_int, parse_constant=parse_constant)
    except json.JSONDecodeError as exc:
        raise JsonInputError(field, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # not expected after the depth check; kept so it can never become a 500
        raise JsonInputError(field, f"is nested more than {max_depth} levels deep") from None
    if refused or "\\u0000" in text or _ESCAPED_SURROGATE.search(text):
        _check_tree(value, field)
    return value
