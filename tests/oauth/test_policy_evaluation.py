import pytest

from oauth.policy import PolicyError, evaluate, parse_policy


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
