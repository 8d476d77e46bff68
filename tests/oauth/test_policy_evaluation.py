import json

import pytest

from oauth.policy import PolicyError, evaluate, evaluate_intersection, parse_policy


def doc(*statements):
    return {"Version": "1", "Statement": list(statements)}


def test_explicit_deny_wins_over_allow():
    policies = [
        ("allow-all", parse_policy(doc({"Effect": "Allow", "Action": "*", "Resource": "*"}))),
        ("deny-delete", parse_policy(doc({"Effect": "Deny", "Action": "openapiexplorer:Delete*", "Resource": "*"}))),
    ]
    decision = evaluate(policies, "openapiexplorer:DeleteApiMcpServer", "acs:openapiexplorer::1:apimcpserver/x")
    assert not decision.allowed
    assert decision.reason == "explicit-deny"
    assert decision.policy_name == "deny-delete"


def test_default_is_deny():
    assert evaluate([], "ecs:DescribeInstances", "*").reason == "implicit-deny"


def test_action_glob_is_case_insensitive_and_resource_glob_is_not():
    p = [("p", parse_policy(doc({"Effect": "Allow", "Action": "ECS:Describe*", "Resource": "acs:ecs:*:1:*"})))]
    assert evaluate(p, "ecs:DescribeInstances", "acs:ecs:cn-hangzhou:1:instance/i-1").allowed
    assert not evaluate(p, "ecs:DescribeInstances", "ACS:ecs:cn-hangzhou:1:instance/i-1").allowed


def test_ip_and_string_conditions():
    p = [
        (
            "p",
            parse_policy(
                doc(
                    {
                        "Effect": "Allow",
                        "Action": "*",
                        "Resource": "*",
                        "Condition": {
                            "IpAddress": {"acs:SourceIp": "10.0.0.0/8"},
                            "StringEquals": {"mcp:ServerId": "s1"},
                        },
                    }
                )
            ),
        )
    ]
    assert evaluate(p, "a:b", "*", {"acs:SourceIp": "10.1.2.3", "mcp:ServerId": "s1"}).allowed
    assert not evaluate(p, "a:b", "*", {"acs:SourceIp": "192.168.1.1", "mcp:ServerId": "s1"}).allowed
    assert not evaluate(p, "a:b", "*", {"acs:SourceIp": "10.1.2.3", "mcp:ServerId": "s2"}).allowed


@pytest.mark.parametrize(
    "document, message",
    [
        ([], "must be a JSON object"),
        ({"Version": "2", "Statement": []}, "Version"),
        (doc({"Effect": "Maybe", "Action": "*"}), "Statement[0].Effect"),
        (doc({"Effect": "Allow"}), "Statement[0].Action"),
        (doc({"Effect": "Allow", "Action": "*", "Condition": {"Bogus": {}}}), "Bogus is not supported"),
        (doc({"Effect": "Allow", "Action": "*", "Condition": {"IpAddress": {"acs:SourceIp": "x"}}}), "not an IP"),
        (doc({"Effect": "Allow", "Action": "*", "Extra": 1}), "Unknown key in Statement[0]: Extra"),
    ],
)
def test_malformed_documents_are_named_precisely(document, message):
    with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_policy(document)


# Table-driven evaluation -----------------------------------------------------------------------

ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
ECS_READ = {"Effect": "Allow", "Action": "ecs:Describe*", "Resource": "acs:ecs:*:1:*"}
NO_DELETE = {"Effect": "Deny", "Action": "*:Delete*", "Resource": "*"}
FROM_OFFICE = {
    "Effect": "Allow",
    "Action": "*",
    "Resource": "*",
    "Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}},
}
NOT_FROM_OFFICE = {
    "Effect": "Deny",
    "Action": "*",
    "Resource": "*",
    "Condition": {"NotIpAddress": {"acs:SourceIp": ["10.0.0.0/8", "fd00::/8"]}},
}
ONE_SERVER = {
    "Effect": "Allow",
    "Action": "*",
    "Resource": "*",
    "Condition": {"StringEquals": {"mcp:ServerId": ["s1", "s2"]}},
}
CLIENTS_LIKE = {
    "Effect": "Allow",
    "Action": "*",
    "Resource": "*",
    "Condition": {"StringLike": {"mcp:ClientId": "cursor-*"}},
}
NOT_CLIENT = {
    "Effect": "Deny",
    "Action": "*",
    "Resource": "*",
    "Condition": {"StringNotEquals": {"mcp:ClientId": "trusted"}},
}
NOT_CLIENT_LIKE = {
    "Effect": "Deny",
    "Action": "*",
    "Resource": "*",
    "Condition": {"StringNotLike": {"mcp:ClientId": "corp-*"}},
}
QUESTION = {"Effect": "Allow", "Action": "ecs:Describe?nstances", "Resource": "*"}
BRACKETS = {"Effect": "Allow", "Action": "ecs:[D]escribe*", "Resource": "*"}
BOTH_CONDITIONS = {
    "Effect": "Allow",
    "Action": "*",
    "Resource": "*",
    "Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}, "StringEquals": {"MCP:serverid": "s1"}},
}

CASES = [
    # (statements, action, resource, context, allowed, reason, deciding statement index)
    ([], "ecs:DescribeInstances", "*", {}, False, "implicit-deny", None),
    ([ALLOW_ALL], "ecs:DescribeInstances", "acs:ecs:*:1:*", {}, True, "allow", 0),
    ([ALLOW_ALL, NO_DELETE], "ecs:DeleteInstance", "*", {}, False, "explicit-deny", 1),
    ([NO_DELETE, ALLOW_ALL], "ecs:DescribeInstances", "*", {}, True, "allow", 1),
    ([ECS_READ], "ECS:describeinstances", "acs:ecs:cn-hangzhou:1:*", {}, True, "allow", 0),
    ([ECS_READ], "ecs:DescribeInstances", "acs:ecs:cn-hangzhou:2:*", {}, False, "implicit-deny", None),
    ([ECS_READ], "ecs:DescribeInstances", "ACS:ECS:cn-hangzhou:1:*", {}, False, "implicit-deny", None),
    ([ECS_READ], "ecs:RunInstances", "acs:ecs:cn-hangzhou:1:*", {}, False, "implicit-deny", None),
    ([QUESTION], "ecs:DescribeInstances", "*", {}, True, "allow", 0),
    ([QUESTION], "ecs:DescribeXXInstances", "*", {}, False, "implicit-deny", None),
    ([BRACKETS], "ecs:DescribeInstances", "*", {}, False, "implicit-deny", None),  # brackets are literal
    ([BRACKETS], "ecs:[D]escribeInstances", "*", {}, True, "allow", 0),
    ([FROM_OFFICE], "a:b", "*", {"acs:SourceIp": "10.1.2.3"}, True, "allow", 0),
    ([FROM_OFFICE], "a:b", "*", {"acs:SourceIp": "192.168.1.1"}, False, "implicit-deny", None),
    ([FROM_OFFICE], "a:b", "*", {}, False, "implicit-deny", None),
    ([FROM_OFFICE], "a:b", "*", {"acs:SourceIp": "not-an-ip"}, False, "implicit-deny", None),
    ([ALLOW_ALL, NOT_FROM_OFFICE], "a:b", "*", {"acs:SourceIp": "fd00::1"}, True, "allow", 0),
    ([ALLOW_ALL, NOT_FROM_OFFICE], "a:b", "*", {"acs:SourceIp": "203.0.113.9"}, False, "explicit-deny", 1),
    ([ALLOW_ALL, NOT_FROM_OFFICE], "a:b", "*", {}, False, "explicit-deny", 1),
    ([ONE_SERVER], "a:b", "*", {"mcp:ServerId": "s2"}, True, "allow", 0),
    ([ONE_SERVER], "a:b", "*", {"mcp:ServerId": "S2"}, False, "implicit-deny", None),  # values are case-sensitive
    ([ONE_SERVER], "a:b", "*", {}, False, "implicit-deny", None),
    ([CLIENTS_LIKE], "a:b", "*", {"mcp:ClientId": "cursor-42"}, True, "allow", 0),
    ([CLIENTS_LIKE], "a:b", "*", {"mcp:ClientId": "cline"}, False, "implicit-deny", None),
    ([ALLOW_ALL, NOT_CLIENT], "a:b", "*", {"mcp:ClientId": "trusted"}, True, "allow", 0),
    ([ALLOW_ALL, NOT_CLIENT], "a:b", "*", {"mcp:ClientId": "other"}, False, "explicit-deny", 1),
    ([ALLOW_ALL, NOT_CLIENT], "a:b", "*", {}, False, "explicit-deny", 1),  # a missing key: negations hold
    ([ALLOW_ALL, NOT_CLIENT_LIKE], "a:b", "*", {"mcp:ClientId": "corp-1"}, True, "allow", 0),
    ([ALLOW_ALL, NOT_CLIENT_LIKE], "a:b", "*", {"mcp:ClientId": "home"}, False, "explicit-deny", 1),
    # Condition keys are case-insensitive; every operator of a statement must hold.
    ([BOTH_CONDITIONS], "a:b", "*", {"acs:SourceIp": "10.0.0.1", "mcp:ServerId": "s1"}, True, "allow", 0),
    ([BOTH_CONDITIONS], "a:b", "*", {"acs:SourceIp": "10.0.0.1", "mcp:ServerId": "s9"}, False, "implicit-deny", None),
    ([BOTH_CONDITIONS], "a:b", "*", {"acs:SourceIp": "11.0.0.1", "mcp:ServerId": "s1"}, False, "implicit-deny", None),
]


@pytest.mark.parametrize("statements, action, resource, context, allowed, reason, index", CASES)
def test_evaluation_table(statements, action, resource, context, allowed, reason, index):
    policies = [("p", parse_policy(doc(*statements)))] if statements else []
    decision = evaluate(policies, action, resource, context)
    assert (decision.allowed, decision.reason, decision.statement_index) == (allowed, reason, index)
    if index is not None:
        assert decision.statement == statements[index]


INTERSECTION_CASES = [
    # (role statements, extra statements or None, action, allowed, reason, deciding scope)
    ([ALLOW_ALL], None, "ecs:DeleteInstance", True, "allow", "role"),
    ([ALLOW_ALL], [ECS_READ], "ecs:DescribeInstances", True, "allow", "role"),
    ([ALLOW_ALL], [ECS_READ], "ecs:DeleteInstance", False, "implicit-deny", "extra"),
    ([ECS_READ], [ALLOW_ALL], "ecs:DeleteInstance", False, "implicit-deny", "role"),
    ([ALLOW_ALL], [ALLOW_ALL, NO_DELETE], "ecs:DeleteInstance", False, "explicit-deny", "extra"),
    ([ALLOW_ALL, NO_DELETE], [ECS_READ], "ecs:DeleteInstance", False, "explicit-deny", "role"),
]


@pytest.mark.parametrize("role, extra, action, allowed, reason, scope", INTERSECTION_CASES)
def test_intersection_allows_only_what_every_set_allows(role, extra, action, allowed, reason, scope):
    sets = [("role", [("r", parse_policy(doc(*role)))])]
    if extra is not None:
        sets.append(("extra", [("x", parse_policy(doc(*extra)))]))
    decision = evaluate_intersection(sets, action, "acs:ecs:cn-hangzhou:1:*")
    assert (decision.allowed, decision.reason, decision.scope) == (allowed, reason, scope)


def test_an_empty_intersection_allows_nothing():
    assert evaluate_intersection([], "a:b", "*").reason == "implicit-deny"


# The access decision (oauth.access) ----------------------------------------------------------


def test_a_denial_names_the_action_the_resource_and_the_deciding_statement():
    from oauth import access

    policies = [("AllowAll", parse_policy(doc(ALLOW_ALL))), ("NoDeletes", parse_policy(doc(NO_DELETE)))]
    resource = access.server_resource("1", "s1")
    denied = access.decide(policies, access.management_action("DeleteApiMcpServer"), resource)
    assert not denied.allowed and denied.policy_name == "NoDeletes"
    assert denied.message == (
        "User not authorized to operate on the specified resource: action openapiexplorer:DeleteApiMcpServer on "
        "resource acs:openapiexplorer::1:apimcpserver/s1 is explicitly denied by policy NoDeletes "
        '(Statement[0]: {"Effect":"Deny","Action":"*:Delete*","Resource":"*"}).'
    )
    implicit = access.decide([], access.tool_action("Ecs", "DescribeInstances"), access.tool_resource("Ecs", "", "1"))
    assert implicit.message.endswith(
        "action ecs:DescribeInstances on resource acs:ecs:*:1:* is not allowed by any of your policies."
    )


def test_role_decisions_say_which_set_refused():
    from oauth import access

    role = [("EcsAll", parse_policy(doc({"Effect": "Allow", "Action": "ecs:*", "Resource": "*"})))]
    extra = access.extra_policy(json.dumps(doc(ECS_READ)))
    resource = access.tool_resource("Ecs", "", "1")
    assert access.decide_as_role("ops", role, extra, "ecs:DescribeInstances", resource).allowed
    refused = access.decide_as_role("ops", role, extra, "ecs:DeleteInstance", resource)
    assert refused.message.endswith("is not allowed by the server's assumeRoleExtraPolicy.")
    outside = access.decide_as_role("ops", role, None, "rds:DescribeDBInstances", resource)
    assert outside.message.endswith("is not allowed by any policy of role ops.")
    assert access.extra_policy("") is None
    assert access.extra_policy("{not json") == []  # a stored document that no longer parses allows nothing
