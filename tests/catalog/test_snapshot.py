"""`compiled_for_server`: light catalog documents, the same tools as a full compile, and the cache."""

from __future__ import annotations

import json

import pytest

from servers.catalog.selectors import api_names, catalog_for_validation, resolve_apis
from servers.catalog.services import catalog_import
from servers.compiler import compile_server, compiled_cache, validate_additional_descriptions
from servers.models import McpServer
from servers.snapshot import compiled_for_server, compiled_for_settings, server_settings

from .conftest import SPECS


@pytest.fixture
def imported_catalog(db):
    compiled_cache.clear()
    for name in ("alibaba/cs-2015-12-15.json", "alibaba/sts-2015-04-01.json", "openapi/slack-web.json"):
        catalog_import(source=str(SPECS / name))


@pytest.fixture
def server(alice, imported_catalog):
    return McpServer.objects.create(
        account=alice.account,
        name="mixed",
        language="ZH_CN",
        enable_assume_role=True,
        assume_role_name="ops",
        apis=[
            {"product": "CS", "apiVersion": "2015-12-15", "selectors": ["Describe*Cluster*", "CreateCluster"]},
            {"product": "Sts", "apiVersion": "2015-04-01", "selectors": ["*"]},
            {"product": "Slack", "apiVersion": "1.7.0", "selectors": ["chat_*"]},
        ],
        additional_api_descriptions=[
            {
                "product": "CS",
                "apiVersion": "2015-12-15",
                "apiName": "CreateCluster",
                "constParameters": [{"key": "body.region_id", "value": "cn-beijing"}],
                "enableOutputSchema": True,
            }
        ],
        prompts=[{"name": "p", "content": "{{a}}", "arguments": [{"name": "a", "required": True}]}],
        instructions="Be careful.",
    )


def test_light_documents_give_exactly_the_full_compile(server, imported):
    full = {
        (r.product, r.version): r.document
        for r in (
            imported("alibaba/cs-2015-12-15.json"),
            imported("alibaba/sts-2015-04-01.json"),
            imported("openapi/slack-web.json"),
        )
    }
    compiled = compiled_for_server(server)
    expected = compile_server(server_settings(server), full)
    # Equal as JSON: PostgreSQL's jsonb does not keep the key order of stored documents.
    assert json.loads(compiled.tools_json) == json.loads(expected.tools_json)
    assert [t["name"] for t in compiled.tools] == [t["name"] for t in expected.tools]
    assert compiled.required_ram_policy == expected.required_ram_policy
    assert compiled.warnings == expected.warnings
    assert compiled.instructions == "Be careful." and compiled.prompts[0]["name"] == "p"
    refs = resolve_apis(server.apis)  # the management API's resolution agrees with the compiler's
    assert [(r.product, r.api_version, r.api_name) for r in refs] == [
        (i["product"], i["apiVersion"], i["apiName"]) for i in compiled.api_infos
    ]
    assert len(compiled.tools) > 30 and any("more than 30" in w for w in compiled.warnings)


def test_the_cache_follows_server_versions_and_catalog_revisions(server, django_assert_max_num_queries, tmp_path):
    first = compiled_for_server(server)
    with django_assert_max_num_queries(1):
        assert compiled_for_server(server) is first
    server.version += 1
    server.save()
    second = compiled_for_server(server)
    assert second is not first and second.tools_json == first.tools_json  # same database, same bytes
    doc = json.loads((SPECS / "alibaba" / "sts-2015-04-01.json").read_text(encoding="utf-8"))
    doc["apis"]["GetCallerIdentity"]["summary"] = "Who am I?"
    changed = tmp_path / "sts.json"
    changed.write_text(json.dumps(doc), encoding="utf-8")
    catalog_import(source=str(changed))
    server.refresh_from_db()  # the import bumped the version of servers that use Sts
    third = compiled_for_server(server)
    assert third is not second
    assert third.bindings["Sts-20150401-GetCallerIdentity"].api["summary"] == "Who am I?"


def test_unsaved_settings_compile_without_the_cache(imported_catalog):
    settings = {
        "id": "",
        "language": "EN_US",
        "apis": [{"product": "Sts", "apiVersion": "2015-04-01", "selectors": ["AssumeRole"]}],
    }
    compiled = compiled_for_settings(settings)
    assert [t["name"] for t in compiled.tools] == ["Sts-20150401-AssumeRole"]
    assert len(compiled_cache) == 0


def test_validation_catalog_tells_unknown_versions_from_unknown_products(imported_catalog):
    entries = [
        {
            "product": "Sts",
            "apiVersion": "2015-04-01",
            "apiName": "AssumeRole",
            "constParameters": [{"key": "RoleArn"}],
        },
        {"product": "Sts", "apiVersion": "1999-01-01", "apiName": "AssumeRole"},
        {"product": "Nope", "apiVersion": "1", "apiName": "X"},
    ]
    catalog = catalog_for_validation(entries)
    assert set(catalog) == {("Sts", "2015-04-01")}
    assert list(catalog[("Sts", "2015-04-01")]["apis"]) == ["AssumeRole"]
    codes = [p.code for p in validate_additional_descriptions(entries, catalog)]
    assert codes == [
        "InvalidParam.AdditionalApiDescription.ConstParameters",
        "InvalidParam.AdditionalApiDescription.PopVersion",
        "InvalidParam.AdditionalApiDescription.PopCode",
    ]
    assert api_names("Sts", "2015-04-01") == [
        "AssumeRole",
        "AssumeRoleWithOIDC",
        "AssumeRoleWithSAML",
        "GetCallerIdentity",
    ]
