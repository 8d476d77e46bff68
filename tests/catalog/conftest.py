"""Fixtures for the catalog and the tool compiler.

Imports of the reference descriptions are pure and deterministic, so they are parsed once per test
session (`imported(name)`); tests that change a document work on a deep copy.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from servers.catalog import ImportResult, import_bytes

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
SPEC_FILES = sorted(
    p.relative_to(SPECS).as_posix() for p in SPECS.glob("*/*") if p.suffix in (".json", ".yml", ".yaml")
)
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@cache
def _imported(name: str) -> ImportResult:
    path = SPECS / name
    return import_bytes(path.read_bytes(), source=str(path))


@pytest.fixture(scope="session")
def imported() -> Callable[[str], ImportResult]:
    """`imported("alibaba/ecs-2014-05-26.json")` → the (shared, read-only) import result."""
    if not SPECS.is_dir():
        pytest.fail(f"reference API descriptions not found at {SPECS}")
    return _imported


@pytest.fixture
def fresh_document() -> Callable[[str], dict[str, Any]]:
    """A deep copy of an imported document, free to modify."""
    return lambda name: copy.deepcopy(_imported(name).document)


def catalog_of(*results: ImportResult) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.product, r.version): r.document for r in results}


@pytest.fixture(scope="session")
def catalog_for() -> Callable[..., dict[tuple[str, str], dict[str, Any]]]:
    return lambda *names: catalog_of(*(_imported(n) for n in names))


def server_for(result: ImportResult, selectors: list[str], **settings: Any) -> dict[str, Any]:
    return {
        "id": settings.pop("id", "srv"),
        "language": settings.pop("language", "EN_US"),
        "apis": [{"product": result.product, "apiVersion": result.version, "selectors": selectors}],
        **settings,
    }


@pytest.fixture(scope="session")
def make_server() -> Callable[..., dict[str, Any]]:
    """`make_server(result, ["Describe*"], additionalApiDescriptions=[...], language="ZH_CN")`."""
    return server_for


def count_operations(path: Path) -> int:
    """Operations in a description, counted from the raw file (independently of the importer)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        doc = json.loads(text)
    else:
        import yaml

        doc = yaml.safe_load(text)
    if "apis" in doc and "info" in doc and "style" in doc["info"]:
        return len(doc["apis"])
    return sum(1 for item in doc["paths"].values() for method in item if method in HTTP_METHODS)


def readme_counts() -> dict[str, int]:
    """The operation counts the specs README states (its table's third column, when filled)."""
    counts = {}
    for line in (SPECS / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"\d+", cells[2]):
            counts[cells[0]] = int(cells[2])
    return counts


# Meta-schema validation ------------------------------------------------------------------------

_MAP = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_ONE = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


class MetaSchemaChecker:
    """`Draft202012Validator.check_schema` over thousands of tool schemas, in seconds.

    Meta-schema validity is compositional: a schema is valid iff its own keywords are valid and each
    of its subschemas (the values of `properties`, `$defs`, `items`, `allOf`…) is valid, since the
    2020-12 meta-schema applies itself to every subschema position. So each schema node is checked
    by `check_schema` with its subschemas replaced by `true` (always valid), and identical nodes
    are checked once. For the cache key only, values whose validity does not depend on their
    content are normalised: any string for `description`/`title`, any array for `examples`/`enum`,
    any value for `default`/`const`, a list of distinct strings for `required`, any property names.
    """

    def __init__(self) -> None:
        self.checked: set[str] = set()
        self.calls = 0

    def check(self, schema: Any) -> None:
        stack = [schema]
        while stack:
            node = stack.pop()
            if isinstance(node, bool):
                continue
            assert isinstance(node, dict), f"not a schema: {node!r}"
            local: dict[str, Any] = {}
            key: dict[str, Any] = {}
            for name, value in node.items():
                if name in _MAP and isinstance(value, dict):
                    local[name] = dict.fromkeys(value, True)
                    key[name] = {"p": True} if value else {}
                    stack.extend(value.values())
                elif name in _ONE and isinstance(value, dict | bool):
                    local[name] = key[name] = True
                    stack.append(value)
                elif name in _LIST and isinstance(value, list):
                    local[name] = key[name] = [True] * len(value)
                    stack.extend(value)
                else:
                    local[name] = value
                    key[name] = self._normalised(name, value)
            fingerprint = json.dumps(key, sort_keys=True, default=str)
            if fingerprint not in self.checked:
                self.checked.add(fingerprint)
                self.calls += 1
                Draft202012Validator.check_schema(local)

    @staticmethod
    def _normalised(name: str, value: Any) -> Any:
        if name in ("description", "title") and isinstance(value, str):
            return ""
        if name in ("examples", "enum") and isinstance(value, list):
            return []
        if name in ("default", "const"):
            return None
        if name == "required" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [] if len(set(value)) == len(value) else value
        return value


@pytest.fixture(scope="session")
def meta_checker() -> MetaSchemaChecker:
    return MetaSchemaChecker()


def refs_resolve(schema: dict[str, Any]) -> list[str]:
    """`$ref`s of a tool schema that do not point into its own `$defs`."""
    defs = schema.get("$defs") or {}
    missing = []
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                from urllib.parse import unquote

                name = unquote(ref.removeprefix("#/$defs/")).replace("~1", "/").replace("~0", "~")
                if not ref.startswith("#/$defs/") or name not in defs:
                    missing.append(ref)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return missing
