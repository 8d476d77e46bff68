"""Re-importing a changed description: a new revision with a diff, and servers' customisations kept."""

from __future__ import annotations

import copy
import json
from io import StringIO

import pytest
from django.core.management import call_command

from servers import events
from servers.catalog.services import catalog_import
from servers.models import ApiDefinition, CatalogRevision, McpServer
from servers.snapshot import compiled_for_server

from .conftest import SPECS

CS_FILE = SPECS / "alibaba" / "cs-2015-12-15.json"


def older_copy(tmp_path):
    """CS metadata as it might have looked before: one API missing, one retired, parameters since changed."""
    doc = json.loads(CS_FILE.read_text(encoding="utf-8"))
    del doc["apis"]["DeleteCluster"]
    doc["apis"]["LegacyThing"] = {**copy.deepcopy(doc["apis"]["DescribeClustersV1"]), "path": "/api/v0/legacy"}
    body = doc["apis"]["CreateCluster"]["parameters"][0]["schema"]["properties"]
    body["legacy_flag"] = {"type": "boolean", "required": False, "description": "Gone in the new version."}
    describe = doc["apis"]["DescribeClustersV1"]["parameters"]
    describe.append({"name": "OldFilter", "in": "query", "schema": {"type": "string", "required": False}})
    describe[:] = [p for p in describe if p["name"] != "cluster_id"]  # added upstream since
    path = tmp_path / "cs-old.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


CUSTOMISATIONS = [
    {
        "product": "CS",
        "apiVersion": "2015-12-15",
        "apiName": "CreateCluster",
        "apiOverrideJson": json.dumps(
            {
                "summary": "Create a Kubernetes cluster.",
                "parameters": [
                    {"name": "body", "schema": {"properties": {"name": {}, "region_id": {}, "legacy_flag": {}}}}
                ],
            }
        ),
        "constParameters": [
            {"key": "body.region_id", "value": "cn-beijing"},
            {"key": "body.legacy_flag", "value": True},
        ],
        "executeCliCommand": False,
        "enableOutputSchema": True,
    },
    {
        "product": "CS",
        "apiVersion": "2015-12-15",
        "apiName": "DescribeClustersV1",
        "apiOverrideJson": json.dumps(
            {"parameters": [{"name": "name", "description": "Cluster name filter."}, {"name": "OldFilter"}]}
        ),
        "constParameters": [{"key": "page_size", "value": 50}],
    },
    {"product": "CS", "apiVersion": "2015-12-15", "apiName": "LegacyThing", "apiOverrideJson": '{"summary": "Old"}'},
]


@pytest.fixture
def notified(monkeypatch):
    """Server change notifications sent (delivery itself, in-process or through Redis, is servers.events')."""
    seen: list[str] = []
    monkeypatch.setattr(events, "server_changed", seen.append)
    return seen


def test_reimport_reports_the_diff_and_keeps_customisations(
    db, tmp_path, alice, notified, django_capture_on_commit_callbacks
):
    first = catalog_import(source=str(older_copy(tmp_path)))
    assert first.created and first.revision.number == 1 and first.diff["initial"]
    server = McpServer.objects.create(
        account=alice.account,
        name="cs-tools",
        apis=[
            {
                "product": "CS",
                "apiVersion": "2015-12-15",
                "selectors": ["DescribeClustersV1", "LegacyThing", "CreateCluster"],
            }
        ],
        additional_api_descriptions=copy.deepcopy(CUSTOMISATIONS),
    )
    before = compiled_for_server(server)
    assert before.warnings == ()
    assert {t["name"] for t in before.tools} == {
        "CS-20151215-CreateCluster",
        "CS-20151215-DescribeClustersV1",
        "CS-20151215-LegacyThing",
    }

    with django_capture_on_commit_callbacks(execute=True):
        second = catalog_import(source=str(CS_FILE))
    revision = second.revision
    assert second.created and revision.number == 2
    assert revision.product_version.current_revision_id == revision.id
    assert ApiDefinition.objects.filter(revision=revision).count() == 129
    diff = revision.diff
    assert (diff["fromRevision"], diff["toRevision"]) == (1, 2)
    assert diff["added"] == ["DeleteCluster"] and diff["removed"] == ["LegacyThing"]
    changed = {c["api"]: c for c in diff["changed"]}
    assert set(changed) == {"CreateCluster", "DescribeClustersV1"}
    assert changed["CreateCluster"]["parametersRemoved"] == ["body.legacy_flag"]
    assert changed["DescribeClustersV1"]["parametersRemoved"] == ["OldFilter"]
    assert changed["DescribeClustersV1"]["parametersAdded"] == ["cluster_id"]
    assert diff["unchanged"] == 126
    assert [s["serverId"] for s in diff["servers"]] == [server.id]
    issues = {(i["kind"], i["api"]): i["message"] for i in diff["servers"][0]["issues"]}
    assert issues == {
        ("apiRemoved", "LegacyThing"): "LegacyThing is no longer in CS 2015-12-15",
        ("constantInvalid", "CreateCluster"): "constant 'body.legacy_flag' of CS 2015-12-15 CreateCluster: "
        "the body has no property 'legacy_flag'.",
        ("overrideInvalid", "CreateCluster"): "apiOverrideJson of CS 2015-12-15 CreateCluster: body has no property "
        "'legacy_flag' (in 'body').",
        ("overrideInvalid", "DescribeClustersV1"): "apiOverrideJson of CS 2015-12-15 DescribeClustersV1: no parameter "
        "'OldFilter'.",
        ("parameterHidden", "DescribeClustersV1"): "new optional parameter cluster_id of DescribeClustersV1 is hidden "
        "by the override's parameters",
    }
    assert (
        second.summary
        == "+1 API, -1 API, 2 changed, 0 documentation-only, 5 customisations of 1 server no longer apply"
    )

    # The server's settings are untouched; its version moved so every process recompiles it.
    server_before_version = server.version
    server.refresh_from_db()
    assert server.additional_api_descriptions == CUSTOMISATIONS
    assert server.version == server_before_version + 1
    assert notified == [server.id]

    after = compiled_for_server(server)
    assert after is not before
    tools = {t["name"]: t for t in after.tools}
    assert set(tools) == {"CS-20151215-CreateCluster", "CS-20151215-DescribeClustersV1"}
    create = tools["CS-20151215-CreateCluster"]
    assert create["description"].startswith("Create a Kubernetes cluster.")
    assert list(create["inputSchema"]["properties"]["body"]["properties"]) == ["name"]  # region_id is constant
    assert after.bindings["CS-20151215-CreateCluster"].constants == {"body.region_id": "cn-beijing"}
    describe = tools["CS-20151215-DescribeClustersV1"]["inputSchema"]["properties"]
    assert set(describe) == {"name", "x_mcp_region_id"}  # page_size constant, others deleted
    assert describe["name"]["description"] == "Cluster name filter."
    assert any("constant body.legacy_flag matches no parameter" in w for w in after.warnings)
    assert any("LegacyThing match no selected API" in w for w in after.warnings)


def test_importing_the_same_document_again_creates_no_revision(db):
    first = catalog_import(source=str(SPECS / "alibaba" / "sts-2015-04-01.json"))
    again = catalog_import(source=str(SPECS / "alibaba" / "sts-2015-04-01.json"))
    assert first.created and not again.created
    assert again.revision.pk == first.revision.pk
    assert CatalogRevision.objects.count() == 1
    assert again.summary == "no change (same document as the current revision)"


def test_product_and_version_options_make_a_separate_product_version(db):
    outcome = catalog_import(source=str(SPECS / "alibaba" / "sts-2015-04-01.json"), product="StsCopy", version="v2")
    pv = outcome.revision.product_version
    assert (pv.product.code, pv.version, pv.style, pv.source_format) == ("StsCopy", "v2", "RPC", "alibaba")
    assert outcome.revision.document["info"]["product"] == "StsCopy"


def test_the_import_command_prints_what_it_imported(db, tmp_path):
    out = StringIO()
    call_command("import_api", str(older_copy(tmp_path)), stdout=out)
    out = StringIO()
    call_command("import_api", str(CS_FILE), "--product", "CS", "--version", "2015-12-15", stdout=out)
    text = out.getvalue()
    assert "Product:   CS" in text
    assert "Version:   2015-12-15 (alibaba, style ROA)" in text
    assert "Revision:  2" in text
    assert "APIs:      129" in text
    assert "Problems:  3" in text and "Hugepage" in text
    assert "Changes:   +1 API, -1 API, 2 changed, 0 documentation-only" in text
    assert "added: DeleteCluster" in text and "removed: LegacyThing" in text
    assert "changed CreateCluster: parametersRemoved body.legacy_flag" in text


def test_the_import_command_reports_errors(db, tmp_path):
    from django.core.management.base import CommandError

    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(CommandError, match="InvalidParam.Document: Unrecognised description"):
        call_command("import_api", str(bad), stdout=StringIO())
    with pytest.raises(CommandError, match="InvalidParam.Source: Cannot read"):
        call_command("import_api", str(tmp_path / "missing.json"), stdout=StringIO())
