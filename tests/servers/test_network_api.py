"""Networks in the management API (an extension, SPEC §6.3) and their commands."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from oauth.models import Network

pytestmark = pytest.mark.django_db(transaction=True)


def test_alice_manages_networks_bob_reads_them_charlie_sees_none(signed_client, alice, bob, charlie):
    api = signed_client(alice)
    created = api.request("POST", "/network", json_body={"name": "office", "cidrs": ["10.1.2.3/16", "fd00::/8"]})
    assert created.status_code == 200, created.text
    network = created.json()
    assert network["id"].startswith("vpc-") and network["cidrs"] == ["10.1.0.0/16", "fd00::/8"]
    nid = network["id"]
    assert api.request("POST", "/network", json_body={"name": "office", "cidrs": ["10.0.0.0/8"]}).json()["code"] == (
        "Exists.Name"
    )
    bad = api.request("POST", "/network", json_body={"name": "lab", "cidrs": ["10.0.0.300/8"]})
    assert (bad.status_code, bad.json()["code"]) == (400, "InvalidParam.Cidrs") and "cidrs[0]" in bad.json()["message"]
    assert api.request("POST", "/network", json_body={"name": "lab"}).json()["code"] == "Missing.Cidrs"
    changed = api.request("PATCH", "/network", params={"id": nid}, json_body={"cidrs": ["192.168.0.0/24"]})
    assert changed.json()["cidrs"] == ["192.168.0.0/24"] and changed.json()["name"] == "office"

    reader = signed_client(bob)
    assert reader.request("GET", "/networks").json()["totalCount"] == 1
    assert reader.request("GET", "/network", params={"id": nid}).json()["name"] == "office"
    refused = reader.request("DELETE", "/network", params={"id": nid})
    assert (refused.status_code, refused.json()["code"]) == (403, "Forbidden.RAM")
    stranger = signed_client(charlie)
    assert stranger.request("GET", "/networks").json()["totalCount"] == 0
    assert stranger.request("GET", "/network", params={"id": nid}).status_code == 404

    alice.account.vpc_whitelists = [nid]
    alice.account.save()
    in_use = api.request("DELETE", "/network", params={"id": nid})
    assert (in_use.status_code, in_use.json()["code"]) == (409, "InUse.Network")
    alice.account.vpc_whitelists = []
    alice.account.save()
    assert api.request("DELETE", "/network", params={"id": nid}).status_code == 200
    assert not Network.objects.exists()


def test_null_is_not_an_omitted_field(signed_client, alice):
    """As everywhere in the management API (the document declares no null): null is the wrong type."""
    api = signed_client(alice)
    nid = api.request("POST", "/network", json_body={"name": "office", "cidrs": ["10.0.0.0/8"]}).json()["id"]
    refused = api.request("PATCH", "/network", params={"id": nid}, json_body={"name": None})
    assert (refused.status_code, refused.json()["code"]) == (400, "InvalidParam.Name"), refused.text
    assert Network.objects.get(pk=nid).name == "office"


def test_network_commands(alice):
    out = io.StringIO()
    call_command("set_network", "--account", alice.account_id, "--name", "vpn", "--cidr", "10.8.0.0/16", stdout=out)
    made = json.loads(out.getvalue())
    assert made["created"] and made["cidrs"] == ["10.8.0.0/16"]
    out = io.StringIO()
    call_command("set_network", "--account", alice.account_id, "--name", "vpn", "--cidr", "10.9.0.0/16", stdout=out)
    assert json.loads(out.getvalue())["id"] == made["id"] and Network.objects.get().cidrs == ["10.9.0.0/16"]
    out = io.StringIO()
    call_command("list_networks", "--account", alice.account_id, stdout=out)
    assert [json.loads(line)["name"] for line in out.getvalue().splitlines()] == ["vpn"]
    with pytest.raises(CommandError, match="InvalidParam.Cidrs"):
        call_command("set_network", "--account", alice.account_id, "--name", "x", "--cidr", "nope")
    call_command("delete_network", "--account", alice.account_id, "--id", made["id"], stdout=io.StringIO())
    assert not Network.objects.exists()
