"""SearchApis ranking (runtime.system_tools.rank_apis): pure token scoring over name, summary, description."""

from __future__ import annotations

from runtime.system_tools import index_entries, rank_apis, tokens

APIS = index_entries(
    [
        {"name": "DescribeInstances", "summary": "Queries the details of instances.", "description": ""},
        {"name": "DescribeInstanceAttribute", "summary": "Queries the attributes of an instance.", "description": ""},
        {"name": "DeleteInstance", "summary": "Releases a pay-as-you-go instance.", "description": ""},
        {"name": "CreateVpc", "summary": "Creates a virtual private cloud.", "description": "Network isolation."},
        {"name": "DescribeRegions", "summary": "Queries regions.", "description": "地域列表"},
        {"name": "ListTagResources", "summary": "Queries tags.", "description": "Works on instances too."},
    ]
)


def names(query: str, limit: int = 10) -> list[str]:
    return [entry.name for _, entry in rank_apis(APIS, query, limit)]


def test_tokens_split_camel_case_drop_plurals_and_stop_words():
    assert tokens("DescribeInstances of the VPCs") == ["describe", "instance", "vpc"]
    assert tokens("ListTagResources") == ["list", "tag", "resource"]
    assert tokens("地域") == ["地", "域"]


def test_an_exact_name_wins_and_names_weigh_more_than_summaries():
    assert names("DescribeInstances")[0] == "DescribeInstances"
    assert names("describe instances")[:2] == ["DescribeInstances", "DescribeInstanceAttribute"]
    assert names("release instance")[0] == "DeleteInstance"  # "release" only in its summary
    assert names("instances")[-1] == "ListTagResources"  # only its description mentions them


def test_prefixes_descriptions_and_cjk_match_and_unrelated_queries_find_nothing():
    assert names("netw") == ["CreateVpc"]
    assert names("地域") == ["DescribeRegions"]
    assert names("kubernetes") == []
    assert len(names("instance", limit=2)) == 2
