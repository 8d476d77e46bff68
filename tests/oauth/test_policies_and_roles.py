"""Policies and roles through the management API (`/ram/…`) and the management commands.

alice (account admin) manages them; bob (limited) is refused naming the `ram:` action; charlie's
account is invisible (its names do not exist here).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from oauth.models import Policy, Role
from runtime.models import AuditEvent

READ_ECS = {"Version": "1", "Statement": [{"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "*"}]}


def call(user, method, path, params=None, body=None):
    client = Client()
    client.force_login(user)
    url = path + ("?" + urlencode(params) if params else "")
    if body is None:
        return client.generic(method, url)
    return client.generic(method, url, data=json.dumps(body), content_type="application/json")


def test_an_admin_creates_a_policy_and_a_role_and_attaches_them(alice, bob, charlie):
    created = call(alice, "POST", "/ram/policy", body={"policyName": "ReadEcs", "policyDocument": READ_ECS})
    assert created.status_code == 200, created.content
    assert created.json()["policyDocument"] == READ_ECS and created.json()["requestId"]
    role = call(
        alice,
        "POST",
        "/ram/role",
        body={"roleName": "ops", "trustedAccountIds": [charlie.account_id], "policyNames": ["ReadEcs"]},
    ).json()
    assert role["arn"] == f"acs:ram::{alice.account_id}:role/ops"
    assert role["trustedAccountIds"] == [charlie.account_id] and role["policies"] == ["ReadEcs"]
    attached = call(alice, "POST", "/ram/attachPolicyToUser", body={"policyName": "ReadEcs", "userName": "bob"})
    assert attached.status_code == 200
    assert bob.policies.filter(name="ReadEcs").exists()
    policy = call(alice, "GET", "/ram/policy", {"policyName": "ReadEcs"}).json()
    assert (policy["attachedUsers"], policy["attachedRoles"]) == (["bob"], ["ops"])
    updated = call(alice, "PATCH", "/ram/role", {"roleName": "ops"}, {"trustedAccountIds": []}).json()
    assert updated["trustedAccountIds"] == []
    names = [r["roleName"] for r in call(alice, "GET", "/ram/roles").json()["roles"]]
    assert names == ["ops"]
    operations = set(AuditEvent.objects.filter(kind="management").values_list("action", flat=True))
    assert {"CreatePolicy", "CreateRole", "AttachPolicyToUser", "UpdateRole"} <= {o.split(":")[-1] for o in operations}


def test_the_document_may_be_json_text_and_is_validated(alice):
    ok = call(alice, "POST", "/ram/policy", body={"policyName": "AsText", "policyDocument": json.dumps(READ_ECS)})
    assert ok.status_code == 200 and Policy.objects.get(name="AsText").document == READ_ECS
    bad = call(alice, "POST", "/ram/policy", body={"policyName": "Bad", "policyDocument": {"Version": "2"}})
    assert (bad.status_code, bad.json()["code"]) == (400, "InvalidParam.PolicyDocument")
    assert "Version" in bad.json()["message"]
    assert not Policy.objects.filter(name="Bad").exists()


@pytest.mark.parametrize(
    "path, body, status, code",
    [
        ("/ram/policy", {"policyName": "has space", "policyDocument": READ_ECS}, 400, "InvalidParam.PolicyName"),
        (
            "/ram/policy",
            {"policyName": "AdministratorAccess", "policyDocument": READ_ECS},
            409,
            "EntityAlreadyExists.Policy",
        ),
        ("/ram/role", {"roleName": "bad/name", "trustedAccountIds": []}, 400, "InvalidParam.RoleName"),
        ("/ram/role", {"roleName": "ops", "trustedAccountIds": ["12ab"]}, 400, "InvalidParam.TrustedAccountIds"),
        (
            "/ram/role",
            {"roleName": "ops", "trustedAccountIds": [], "policyNames": ["Nope"]},
            404,
            "EntityNotExist.Policy",
        ),
        ("/ram/role", {"roleName": "ops"}, 400, "Missing.TrustedAccountIds"),
        ("/ram/role", {"roleName": "taken", "trustedAccountIds": []}, 409, "EntityAlreadyExists.Role"),
        (
            "/ram/attachPolicyToUser",
            {"policyName": "AdministratorAccess", "userName": "charlie"},
            404,
            "EntityNotExist.User",
        ),
    ],
)
def test_bad_input_is_refused_precisely_and_writes_nothing(alice, charlie, path, body, status, code):
    Role.objects.create(account=alice.account, name="taken")
    before = (Policy.objects.count(), Role.objects.count(), charlie.policies.count())
    response = call(alice, "POST", path, body=body)
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert (Policy.objects.count(), Role.objects.count(), charlie.policies.count()) == before


@pytest.mark.parametrize(
    "path, params, body, code",
    [
        ("/ram/policy", {"policyName": "AdministratorAccess"}, {"description": None}, "InvalidParam.Description"),
        ("/ram/role", {"roleName": "taken"}, {"trustedAccountIds": None}, "InvalidParam.TrustedAccountIds"),
    ],
)
def test_null_is_not_an_omitted_field(alice, path, params, body, code):
    Role.objects.create(account=alice.account, name="taken", description="kept")
    response = call(alice, "PATCH", path, params=params, body=body)
    assert (response.status_code, response.json()["code"]) == (400, code), response.content
    assert Role.objects.get(name="taken").description == "kept"


def test_a_role_and_its_policy_are_deleted_in_order(alice):
    call(alice, "POST", "/ram/policy", body={"policyName": "ReadEcs", "policyDocument": READ_ECS})
    call(alice, "POST", "/ram/role", body={"roleName": "ops", "trustedAccountIds": [], "policyNames": ["ReadEcs"]})
    conflict = call(alice, "DELETE", "/ram/policy", {"policyName": "ReadEcs"})
    assert (conflict.status_code, conflict.json()["code"]) == (409, "DeleteConflict.Policy.Attachment")
    assert call(alice, "DELETE", "/ram/role", {"roleName": "ops"}).status_code == 200
    assert call(alice, "DELETE", "/ram/policy", {"policyName": "ReadEcs"}).status_code == 200
    assert not Role.objects.exists() and not Policy.objects.filter(name="ReadEcs").exists()
    builtin = call(alice, "DELETE", "/ram/policy", {"policyName": "AdministratorAccess"})
    assert (builtin.status_code, builtin.json()["code"]) == (403, "Forbidden.BuiltInPolicy")
    changed = call(alice, "PATCH", "/ram/policy", {"policyName": "AdministratorAccess"}, {"description": "x"})
    assert (changed.status_code, changed.json()["code"]) == (403, "Forbidden.BuiltInPolicy")


def test_a_role_never_trusts_its_own_account(alice):
    response = call(alice, "POST", "/ram/role", body={"roleName": "ops", "trustedAccountIds": [alice.account_id]})
    assert (response.status_code, response.json()["code"]) == (400, "InvalidParam.TrustedAccountIds")
    assert "its own account" in response.json()["message"]


def test_attaching_and_detaching_are_idempotent(alice, bob):
    body = {"policyName": "AdministratorAccess", "userName": "bob"}
    for _ in range(2):
        assert call(alice, "POST", "/ram/attachPolicyToUser", body=body).status_code == 200
    assert bob.policies.filter(name="AdministratorAccess").count() == 1
    for _ in range(2):
        assert call(alice, "POST", "/ram/detachPolicyFromUser", body=body).status_code == 200
    assert not bob.policies.filter(name="AdministratorAccess").exists()


@pytest.mark.parametrize(
    "method, path, params, body, action, resource",
    [
        ("GET", "/ram/policies", None, None, "ram:ListPolicies", "policy/*"),
        ("GET", "/ram/role", {"roleName": "ops"}, None, "ram:GetRole", "role/ops"),
        (
            "POST",
            "/ram/policy",
            None,
            {"policyName": "Mine", "policyDocument": READ_ECS},
            "ram:CreatePolicy",
            "policy/Mine",
        ),
        (
            "POST",
            "/ram/attachPolicyToUser",
            None,
            {"policyName": "AdministratorAccess", "userName": "bob"},
            "ram:AttachPolicyToUser",
            "user/bob",
        ),
        ("DELETE", "/ram/role", {"roleName": "ops"}, None, "ram:DeleteRole", "role/ops"),
    ],
)
def test_the_limited_user_is_refused_naming_the_ram_action(bob, method, path, params, body, action, resource):
    response = call(bob, method, path, params, body)
    assert (response.status_code, response.json()["code"]) == (403, "Forbidden.RAM")
    assert f"action {action} on resource acs:ram::{bob.account_id}:{resource}" in response.json()["message"]
    assert not bob.policies.filter(name="AdministratorAccess").exists()


def test_another_accounts_roles_and_policies_do_not_exist_here(alice, charlie):
    call(alice, "POST", "/ram/role", body={"roleName": "ops", "trustedAccountIds": []})
    response = call(charlie, "GET", "/ram/role", {"roleName": "ops"})
    assert (response.status_code, response.json()["code"]) == (404, "EntityNotExist.Role")
    assert call(charlie, "GET", "/ram/roles").json()["totalCount"] == 0


# Management commands ---------------------------------------------------------------------------


def test_commands_create_a_policy_and_a_role_and_attach_them(alice, bob, charlie, tmp_path, capsys):
    path = tmp_path / "read-ecs.json"
    path.write_text(json.dumps(READ_ECS))
    account = alice.account_id
    call_command("create_policy", "--account", account, "--name", "ReadEcs", "--document", f"@{path}")
    call_command(
        "create_role", "--account", account, "--name", "ops", "--trust", charlie.account_id, "--policy", "ReadEcs"
    )
    call_command("attach_policy", "--account", account, "--policy", "ReadEcs", "--user", "bob")
    out = capsys.readouterr().out
    assert f"created role ops in account {account}, trusted by {charlie.account_id}" in out
    assert "attached policy ReadEcs to user bob" in out
    role = Role.objects.get(account_id=account, name="ops")
    assert [p.name for p in role.policies.all()] == ["ReadEcs"] and bob.policies.filter(name="ReadEcs").exists()
    call_command("attach_policy", "--account", account, "--policy", "ReadEcs", "--role", "ops", "--detach")
    assert not role.policies.exists()
    replaced = {"Version": "1", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    call_command(
        "create_policy", "--account", account, "--name", "ReadEcs", "--document", json.dumps(replaced), "--replace"
    )
    assert Policy.objects.get(account_id=account, name="ReadEcs").document == replaced


@pytest.mark.parametrize(
    "command, args, message",
    [
        ("create_policy", ["--name", "P", "--document", "{nope"], "not JSON"),
        ("create_policy", ["--name", "P", "--document", '{"Version": "2"}'], "InvalidParam.PolicyDocument"),
        ("create_role", ["--name", "ops", "--trust", "abc"], "InvalidParam.TrustedAccountIds"),
        ("create_role", ["--name", "ops", "--policy", "Missing"], "EntityNotExist.Policy"),
        ("attach_policy", ["--policy", "AdministratorAccess", "--user", "charlie"], "EntityNotExist.User"),
    ],
)
def test_commands_refuse_bad_input_and_write_nothing(alice, charlie, command, args, message):
    before = (Policy.objects.count(), Role.objects.count(), charlie.policies.count())
    with pytest.raises(CommandError, match=message):
        call_command(command, "--account", alice.account_id, *args)
    assert (Policy.objects.count(), Role.objects.count(), charlie.policies.count()) == before
