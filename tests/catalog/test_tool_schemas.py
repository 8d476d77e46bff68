"""Every API of every reference description compiles into a valid MCP tool (pure compiler, no database)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from mcp.shared.tool_name_validation import validate_tool_name
from mcp.types import Tool

from servers.compiler import compile_server

from .conftest import SPEC_FILES, refs_resolve


def everything(result):
    """A server exposing every API with every option on: output schemas, assume-role, constants-free."""
    return {
        "id": "all",
        "language": "EN_US",
        "enableAssumeRole": True,
        "assumeRoleName": "ops",
        "apis": [{"product": result.product, "apiVersion": result.version, "selectors": ["*"]}],
        "additionalApiDescriptions": [
            {"product": result.product, "apiVersion": result.version, "apiName": name, "enableOutputSchema": True}
            for name in result.document["apis"]
        ],
    }


@pytest.mark.parametrize("name", SPEC_FILES)
def test_every_tool_is_valid_json_schema_2020_12_and_mcp(name, imported, meta_checker):
    result = imported(name)
    compiled = compile_server(everything(result), {(result.product, result.version): result.document})
    assert len(compiled.tools) == result.api_count
    names = [tool["name"] for tool in compiled.tools]
    assert len(set(names)) == len(names)
    for tool in compiled.tools:
        assert validate_tool_name(tool["name"]).is_valid, tool["name"]
        assert tool["name"].startswith(f"{result.product}-{result.version.replace('-', '')}-")
        schema = tool["inputSchema"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema.get("required", [])) <= set(schema["properties"])
        assert "x_assume_account_id" in schema["properties"]
        meta_checker.check(schema)
        assert refs_resolve(schema) == [], tool["name"]
        if "outputSchema" in tool:
            assert tool["outputSchema"]["type"] == "object"
            meta_checker.check(tool["outputSchema"])
            assert refs_resolve(tool["outputSchema"]) == [], tool["name"]
        Tool.model_validate(tool)
    # Cross-check the decomposition on whole schemas: the first tools, and the largest one.
    largest = max(compiled.tools, key=lambda t: len(str(t)))
    for tool in [*compiled.tools[:3], largest]:
        Draft202012Validator.check_schema(tool["inputSchema"])
        if "outputSchema" in tool:
            Draft202012Validator.check_schema(tool["outputSchema"])


def test_the_meta_schema_check_catches_what_check_schema_catches(meta_checker):
    from jsonschema.exceptions import SchemaError

    for bad in (
        {"type": "object", "properties": {"a": {"type": "any"}}},
        {"$defs": {"x": {"minimum": "1"}}},
        {"items": {"required": True}},
        {"anyOf": [{"pattern": "(?<x>a)"}]},
        {"required": ["a", "a"]},
    ):
        with pytest.raises(SchemaError):
            Draft202012Validator.check_schema(bad)
        with pytest.raises(SchemaError):
            meta_checker.check(bad)


def test_circular_definitions_stay_circular_and_validate(imported):
    """Discord's ErrorDetails refers to itself: it becomes a recursive $defs entry validators follow."""
    from servers.compiler.schema import Finaliser

    document = imported("openapi/discord.json").document
    finaliser = Finaliser(document["components"]["schemas"])
    refs: set[str] = set()
    root = finaliser.schema({"$ref": "#/components/schemas/ErrorDetails"}, refs)
    schema = {**root, "$defs": finaliser.definitions(refs)}
    Draft202012Validator.check_schema(schema)
    assert "#/$defs/ErrorDetails" in str(schema["$defs"]["ErrorDetails"])
    validator = Draft202012Validator(schema)
    error = {"code": 50035, "message": "Invalid Form Body"}
    assert validator.is_valid({"embeds": {"0": {"title": {"_errors": [error]}}}})
    assert not validator.is_valid({"embeds": {"0": {"title": {"_errors": "nope"}}}})
