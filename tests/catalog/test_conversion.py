"""Conversion details on small documents: schemas, names, parameters, bodies, servers, problems."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from servers.catalog import CatalogImportError, import_bytes, import_document, parse_bytes
from servers.catalog.naming import product_code_from_title
from servers.compiler import compile_server


def oas(paths, schemas=None, version="3.0.3", **extra):
    return {
        "openapi": version,
        "info": {"title": "Widget Store API", "version": "1.2.0"},
        "servers": [{"url": "https://{region}.widgets.test/v1", "variables": {"region": {"default": "eu"}}}],
        "paths": paths,
        "components": {"schemas": schemas or {}},
        **extra,
    }


def tools_of(result, **server):
    settings = {
        "apis": [{"product": result.product, "apiVersion": result.version, "selectors": ["*"]}],
        "additionalApiDescriptions": [
            {"product": result.product, "apiVersion": result.version, "apiName": n, "enableOutputSchema": True}
            for n in result.document["apis"]
        ],
        **server,
    }
    compiled = compile_server(settings, {(result.product, result.version): result.document})
    return {t["name"].split("-", 2)[2]: t for t in compiled.tools}, compiled


TREE = {
    "Node": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            "parent": {"$ref": "#/components/schemas/Node", "nullable": True},
        },
    },
    "Pet": {
        "oneOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}],
        "discriminator": {"propertyName": "kind", "mapping": {"cat": "#/components/schemas/Cat"}},
    },
    "Cat": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"properties": {"kind": {"enum": ["cat"]}}}]},
    "Dog": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"required": ["bark"]}], "nullable": True},
    "Base": {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0, "exclusiveMinimum": True}}},
}


def test_circular_refs_all_of_one_of_nullable_and_discriminator():
    doc = oas(
        {
            "/trees": {
                "post": {
                    "operationId": "createTree",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}},
                    },
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}
                    },
                }
            }
        },
        TREE,
    )
    result = import_document(doc)
    assert result.problems == []
    components = result.document["components"]["schemas"]
    assert components["Node"]["properties"]["parent"] == {
        "anyOf": [{"$ref": "#/components/schemas/Node"}, {"type": "null"}]
    }
    assert components["Base"]["properties"]["age"] == {"type": "integer", "exclusiveMinimum": 0}
    assert components["Dog"] == {
        "anyOf": [{"allOf": [{"$ref": "#/components/schemas/Base"}, {"required": ["bark"]}]}, {"type": "null"}]
    }
    tools, _ = tools_of(result)
    tool = tools["createTree"]
    schema = tool["inputSchema"]
    Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["body"]
    assert schema["properties"]["body"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    validator = Draft202012Validator(schema)
    assert validator.is_valid({"body": {"name": "root", "children": [{"name": "a", "children": [{"name": "b"}]}]}})
    assert not validator.is_valid({"body": {"name": "root", "children": [{"children": []}]}})  # nested name missing
    output = tool["outputSchema"]
    assert output["type"] == "object" and output["properties"]["result"]["$ref"] == "#/$defs/Pet"
    assert output["$defs"]["Pet"]["discriminator"] == {"propertyName": "kind", "mapping": {"cat": "#/$defs/Cat"}}
    assert set(output["$defs"]) == {"Pet", "Cat", "Dog", "Base"}
    assert Draft202012Validator(output).is_valid({"result": {"age": 3, "kind": "cat"}})
    assert not Draft202012Validator(output).is_valid({"result": {"age": 0}})  # exclusive minimum


def test_openapi_31_and_30_idioms_end_up_the_same():
    schema_30 = {"type": "string", "nullable": True, "enum": ["a", "b"], "example": "a"}
    schema_31 = {"type": ["string", "null"], "enum": ["a", "b", None], "examples": ["a"]}
    got = []
    for version, schema in (("3.0.3", schema_30), ("3.1.0", schema_31)):
        doc = oas(
            {"/x": {"get": {"operationId": "getX", "parameters": [{"name": "mode", "in": "query", "schema": schema}]}}},
            version=version,
        )
        got.append(import_document(doc).document["apis"]["getX"]["parameters"][0]["schema"])
    assert got[0] == got[1] == {"type": ["string", "null"], "enum": ["a", "b", None], "examples": ["a"]}


def test_operations_without_operation_id_get_stable_derived_names():
    doc = oas(
        {
            "/users/{user-id}/repos": {"get": {}, "post": {"operationId": "getUsersByUserIdRepos"}},
            "/": {"get": {}},
            "/a b": {"delete": {"operationId": "remove thing"}},
            "/dup": {"get": {"operationId": "dup"}, "put": {"operationId": "dup"}},
        }
    )
    names = list(import_document(doc).document["apis"])
    assert names == ["getUsersByUserIdRepos_2", "getUsersByUserIdRepos", "getRoot", "remove_thing", "dup", "dup_2"]
    assert names == list(import_document(json.loads(json.dumps(doc))).document["apis"])  # stable


def test_parameters_keep_location_style_and_get_unique_argument_names():
    doc = oas(
        {
            "/items/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "get": {
                    "operationId": "getItem",
                    "parameters": [
                        {"name": "id", "in": "query", "schema": {"type": "string"}, "description": "Other id"},
                        {
                            "name": "tags",
                            "in": "query",
                            "style": "pipeDelimited",
                            "explode": False,
                            "schema": {"type": "array", "items": {"type": "string"}},
                        },
                        {"name": "X-Trace Id", "in": "header", "schema": {"type": "string"}},
                        {"name": "x_mcp_region_id", "in": "query", "schema": {"type": "string"}},
                        {"name": "session", "in": "cookie", "schema": {"type": "string"}, "example": "abc"},
                        {
                            "name": "filter",
                            "in": "query",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                    ],
                },
            }
        }
    )
    api = import_document(doc).document["apis"]["getItem"]
    params = {(p["name"], p["in"]): p for p in api["parameters"]}
    assert params[("id", "path")].get("x-argName") is None and params[("id", "path")]["required"] is True
    assert params[("id", "query")]["x-argName"] == "id_query"
    assert params[("tags", "query")]["x-style"] == "pipeDelimited" and params[("tags", "query")]["x-explode"] is False
    assert params[("X-Trace Id", "header")]["x-argName"] == "X-Trace_Id"
    assert params[("x_mcp_region_id", "query")]["x-argName"] == "x_mcp_region_id_query"
    assert params[("session", "cookie")]["schema"]["examples"] == ["abc"]
    assert params[("filter", "query")]["x-contentType"] == "application/json"
    result = import_document(doc)
    tools, _ = tools_of(result)
    assert set(tools["getItem"]["inputSchema"]["properties"]) == {
        "id",
        "id_query",
        "tags",
        "X-Trace_Id",
        "x_mcp_region_id_query",
        "session",
        "filter",
    }


def test_request_bodies_prefer_json_and_keep_every_media_type():
    doc = oas(
        {
            "/upload": {
                "post": {
                    "operationId": "upload",
                    "requestBody": {
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                },
                                "encoding": {"file": {"contentType": "image/png"}},
                            },
                        }
                    },
                },
                "put": {
                    "operationId": "replace",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
                            "application/vnd.api+json": {"schema": {"type": "object"}},
                        },
                    },
                },
            }
        }
    )
    apis = import_document(doc).document["apis"]
    upload = apis["upload"]["parameters"][0]
    assert upload["x-mediaType"] == "multipart/form-data" and upload["x-encoding"] == {
        "file": {"contentType": "image/png"}
    }
    assert "style" not in upload
    replace = apis["replace"]["parameters"][0]
    assert replace["x-mediaType"] == "application/vnd.api+json" and replace["style"] == "json"
    assert replace["x-mediaTypes"] == ["application/x-www-form-urlencoded", "application/vnd.api+json"]
    assert replace["required"] is True and apis["replace"]["consumes"] == replace["x-mediaTypes"]


SWAGGER = {
    "swagger": "2.0",
    "info": {"title": "Files", "version": "v2 (beta)"},
    "host": "files.test",
    "basePath": "/api",
    "schemes": ["http", "https"],
    "securityDefinitions": {"key": {"type": "apiKey", "name": "X-Key", "in": "header"}, "basic": {"type": "basic"}},
    "security": [{"key": []}],
    "definitions": {"File": {"type": "object", "properties": {"size": {"type": "integer", "x-nullable": True}}}},
    "paths": {
        "/files": {
            "post": {
                "operationId": "files.upload",
                "consumes": ["multipart/form-data"],
                "parameters": [
                    {"name": "file", "in": "formData", "type": "file", "required": True},
                    {
                        "name": "ids",
                        "in": "query",
                        "type": "array",
                        "items": {"type": "integer"},
                        "collectionFormat": "multi",
                    },
                    {"name": "names", "in": "query", "type": "array", "items": {"type": "string"}},
                ],
                "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/File"}}},
                "security": [],
            }
        }
    },
}


def test_swagger_2_forms_collection_formats_and_security():
    result = import_document(json.loads(json.dumps(SWAGGER)))
    doc = result.document
    assert result.source_format == "swagger-2.0" and result.version == "v2_beta" and result.product == "Files"
    assert doc["servers"] == ["https://files.test/api", "http://files.test/api"]
    assert doc["components"]["securitySchemes"]["basic"] == {"type": "http", "scheme": "basic"}
    api = doc["apis"]["files.upload"]
    params = {p["name"]: p for p in api["parameters"]}
    assert params["file"]["schema"] == {"type": "string", "format": "binary"}
    assert params["file"]["x-mediaType"] == "multipart/form-data"
    assert (params["ids"]["x-style"], params["ids"]["x-explode"], params["ids"]["x-collectionFormat"]) == (
        "form",
        True,
        "multi",
    )
    assert (params["names"]["x-style"], params["names"]["x-explode"]) == ("form", False)
    assert api["x-security"] == []
    assert api["responses"]["200"]["schema"] == {"$ref": "#/components/schemas/File"}
    assert doc["components"]["schemas"]["File"]["properties"]["size"]["type"] == ["integer", "null"]


def test_what_cannot_be_represented_is_reported_per_operation():
    doc = oas(
        {
            "/a": {
                "get": {
                    "operationId": "getA",
                    "parameters": [
                        {"name": "x", "in": "query", "schema": {"$ref": "other.yaml#/X"}},
                        {"name": "y", "in": "query", "schema": {"$ref": "#/components/schemas/Missing"}},
                        {"name": "z", "in": "query", "schema": {"type": "strange"}},
                    ],
                    "callbacks": {"done": {}},
                }
            }
        }
    )
    result = import_document(doc)
    messages = {(p["api"], p["message"].split(";")[0]) for p in result.problems}
    assert ("getA", "external reference 'other.yaml#/X' is not supported") in messages
    assert ("getA", "reference '#/components/schemas/Missing' points to a missing schema") in messages
    assert ("getA", "unknown type 'strange'") in messages
    assert ("getA", "callbacks describe calls made by the API") in messages
    tools, _ = tools_of(result)
    Draft202012Validator.check_schema(tools["getA"]["inputSchema"])


def test_relative_servers_resolve_against_the_source_url():
    doc = oas({}, servers=[{"url": "/v3"}])
    assert import_document(doc, source="https://specs.test/petstore/openapi.json").document["servers"] == [
        "https://specs.test/v3"
    ]
    result = import_document(oas({}, servers=[{"url": "/v3"}]), source="petstore.json")
    assert result.document["servers"] == ["/v3"] and "relative base URL" in result.problems[0]["message"]


def test_server_variables_take_their_defaults():
    assert import_document(oas({})).document["servers"] == ["https://eu.widgets.test/v1"]


@pytest.mark.parametrize(
    "title, code",
    [
        ("GitHub v3 REST API", "GitHub"),
        ("Netlify's API documentation", "Netlify"),
        ("Discord HTTP API (Preview)", "Discord"),
        ("", "Api"),
        ("123 Numbers API", "Numbers"),
    ],
)
def test_product_codes_from_titles(title, code):
    assert product_code_from_title(title) == code


def test_product_and_version_can_be_given_and_are_checked():
    result = import_document(oas({}), product="Widgets", version="2024-01-01")
    assert (result.product, result.version) == ("Widgets", "2024-01-01")
    with pytest.raises(CatalogImportError) as err:
        import_document(oas({}), product="bad code!")
    assert err.value.code == "InvalidParam.Product"


def test_yaml_json_and_refusals():
    assert parse_bytes(b"openapi: 3.0.0\ninfo: {title: T, version: '1'}\npaths: {}\n")["openapi"] == "3.0.0"
    with pytest.raises(CatalogImportError, match="Invalid JSON at line 1"):
        parse_bytes(b"{nope")
    with pytest.raises(CatalogImportError, match="Unrecognised description"):
        import_bytes(b'{"hello": "world"}')
    with pytest.raises(CatalogImportError, match="must be a JSON or YAML object"):
        parse_bytes(b"- a\n- b\n")
    bomb = "a: &a ['x','x','x','x','x','x','x','x','x','x']\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    bomb += "z: [" + ",".join(["*i"] * 2000) + "]\n"
    with pytest.raises(CatalogImportError, match="expands too much"):
        parse_bytes(bomb.encode())


@pytest.mark.parametrize(
    "text",
    [
        '{"a":' * 100_000 + "1" + "}" * 100_000,  # JSON
        "a:\n  b: " + "[" * 100_000 + "]" * 100_000,  # YAML flow (libyaml would crash composing it)
        "x: " + "{a: " * 5_000 + "1" + "}" * 5_000,
        "\n".join(" " * i + f"k{i}:" for i in range(300)) + " 1\n",  # YAML block, 300 levels
    ],
)
def test_descriptions_nested_absurdly_deep_are_refused(text):
    with pytest.raises(CatalogImportError, match="nested (too deeply|more than 256 levels deep)"):
        import_bytes(text.encode())


def test_alibaba_metadata_is_checked():
    with pytest.raises(CatalogImportError, match="Unsupported API style"):
        import_document({"info": {"style": "SOAP", "product": "X", "version": "1"}, "apis": {}})
    doc = {
        "info": {"style": "RPC", "product": "Demo", "version": "2024-01-01"},
        "apis": {
            "GetThing": {
                "methods": ["POST"],
                "parameters": [
                    {"name": "Id", "in": "query", "schema": {"type": "string", "required": True}},
                    {"name": "Odd", "in": "cookie", "style": "weird", "schema": {"type": "string"}},
                    {"in": "query", "schema": {}},
                ],
            }
        },
    }
    result = import_document(doc)
    api = result.document["apis"]["GetThing"]
    assert api["methods"] == ["post"] and api["parameters"][0]["required"] is True
    assert [p["message"] for p in result.problems] == [
        "unknown location 'cookie'",
        "unknown style 'weird'; sent as a plain value",
        "parameter without a name; ignored",
    ]
