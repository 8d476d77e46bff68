"""Save-time checks of additionalApiDescriptions and prompts (pure functions the management API calls)."""

from __future__ import annotations

import json

import pytest

from servers.compiler import PromptError, render_prompt, validate_additional_descriptions
from servers.errors import ApiError
from servers.server_validation import validate_prompts

ECS, CS = "alibaba/ecs-2014-05-26.json", "alibaba/cs-2015-12-15.json"


def entry(product="Ecs", version="2014-05-26", api="DescribeInstances", **extra):
    return {"product": product, "apiVersion": version, "apiName": api, **extra}


@pytest.fixture
def catalog(catalog_for):
    return catalog_for(ECS, CS)


def problems_of(entries, catalog):
    return [(p.code, p.message, p.field) for p in validate_additional_descriptions(entries, catalog)]


def test_a_good_customisation_passes(catalog):
    override = {
        "summary": "List instances",
        "parameters": [
            {"name": "RegionId", "in": "query", "schema": {"type": "string", "description": "Region"}},
            {"name": "PageSize", "description": "Page size"},
        ],
    }
    good = [
        entry(apiOverrideJson=json.dumps(override), constParameters=[{"key": "PageSize", "value": 10}]),
        entry("CS", "2015-12-15", "CreateCluster", constParameters=[{"key": "body.region_id", "value": "cn-beijing"}]),
        entry("Ecs", "2014-05-26", "RunInstances", apiOverrideJson="", constParameters=None),
    ]
    assert problems_of(good, catalog) == []
    assert problems_of(None, catalog) == []


@pytest.mark.parametrize(
    "bad, code, message",
    [
        (entry("Nope"), "InvalidParam.AdditionalApiDescription.PopCode", "Unsupported product code: Nope."),
        (
            entry("Ecs", "2099-01-01"),
            "InvalidParam.AdditionalApiDescription.PopVersion",
            "Unsupported product version: 2099-01-01 of product code: Ecs.",
        ),
        (
            entry(api="DescribeNothing"),
            "InvalidParam.AdditionalApiDescription.ApiName",
            "API 'DescribeNothing' does not exist in Ecs 2014-05-26.",
        ),
        (
            entry(apiOverrideJson="{not json"),
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "apiOverrideJson of Ecs 2014-05-26 DescribeInstances is not valid JSON",
        ),
        (
            entry(apiOverrideJson="[1, 2]"),
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "apiOverrideJson of Ecs 2014-05-26 DescribeInstances must be a JSON object.",
        ),
        (
            entry(apiOverrideJson='{"summary": "x", "path": "/other"}'),
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "apiOverrideJson of Ecs 2014-05-26 DescribeInstances may only override summary and parameters, not 'path'.",
        ),
        (
            entry(apiOverrideJson='{"parameters": [{"name": "VpcId"}]}'),
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "apiOverrideJson of Ecs 2014-05-26 DescribeInstances removes required parameter 'RegionId'; "
            "only optional parameters can be deleted.",
        ),
        (
            entry(apiOverrideJson='{"parameters": [{"name": "RegionId"}, {"name": "Colour"}]}'),
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "apiOverrideJson of Ecs 2014-05-26 DescribeInstances: no parameter 'Colour'.",
        ),
        (
            entry(apiOverrideJson='{"parameters": [{"name": "RegionId", "schema": {"type": "integer"}}]}'),
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "apiOverrideJson of Ecs 2014-05-26 DescribeInstances: parameter 'RegionId' type cannot be changed.",
        ),
        (
            entry(constParameters=[{"key": "Colour", "value": "red"}]),
            "InvalidParam.AdditionalApiDescription.ConstParameters",
            "constant 'Colour' of Ecs 2014-05-26 DescribeInstances: no such parameter.",
        ),
        (
            entry(constParameters=[{"key": "body.x", "value": 1}]),
            "InvalidParam.AdditionalApiDescription.ConstParameters",
            "constant 'body.x' of Ecs 2014-05-26 DescribeInstances: no such parameter (only top-level parameters, "
            "or body.X for a body property).",
        ),
        (
            entry("CS", "2015-12-15", "CreateCluster", constParameters=[{"key": "body.colour", "value": 1}]),
            "InvalidParam.AdditionalApiDescription.ConstParameters",
            "constant 'body.colour' of CS 2015-12-15 CreateCluster: the body has no property 'colour'.",
        ),
        (
            entry("CS", "2015-12-15", "CreateCluster", constParameters=[{"key": "body.runtime.name", "value": 1}]),
            "InvalidParam.AdditionalApiDescription.ConstParameters",
            "constant 'body.runtime.name' of CS 2015-12-15 CreateCluster: only one level below the body can be set.",
        ),
        (
            entry(
                "CS",
                "2015-12-15",
                "CreateCluster",
                apiOverrideJson=json.dumps(
                    {"parameters": [{"name": "body", "schema": {"properties": {"profile": {}}}}]}
                ),
            ),
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "apiOverrideJson of CS 2015-12-15 CreateCluster removes required body property body.name; "
            "only optional properties can be deleted.",
        ),
    ],
)
def test_problems_name_the_api_and_the_key(catalog, bad, code, message):
    problems = problems_of([bad], catalog)
    assert problems, bad
    assert problems[0][0] == code
    assert problems[0][1].startswith(message)
    assert problems[0][2].startswith("additionalApiDescriptions[0]")


def test_duplicates_are_refused(catalog):
    problems = problems_of([entry(), entry()], catalog)
    assert problems == [
        (
            "InvalidParam.AdditionalApiDescription",
            "Ecs 2014-05-26 DescribeInstances is described more than once.",
            "additionalApiDescriptions[1]",
        )
    ]


# Prompts -----------------------------------------------------------------------------------------

PROMPT = {
    "name": "triage",
    "description": "Triage an incident",
    "content": "Look at {{ service }} in {{region}}; severity {{severity}}.",
    "arguments": [
        {"name": "service", "description": "Service", "required": True},
        {"name": "region", "description": "Region", "required": True},
        {"name": "severity", "description": "Severity", "required": False},
    ],
}


def test_prompts_render_with_required_arguments():
    text = render_prompt(PROMPT, {"service": "api", "region": "{{severity}}"})
    assert text == "Look at api in {{severity}}; severity ."
    with pytest.raises(PromptError, match="Missing required argument\\(s\\) for prompt 'triage': region"):
        render_prompt(PROMPT, {"service": "api"})
    with pytest.raises(PromptError, match="Unknown argument\\(s\\) for prompt 'triage': colour"):
        render_prompt(PROMPT, {"service": "api", "region": "eu", "colour": "red"})


def test_prompt_variables_must_be_declared():
    """The save-time check the management API runs, on the same `{{var}}` syntax the runtime renders."""
    assert [p["content"] for p in validate_prompts([PROMPT])] == [PROMPT["content"]]
    bad = {**PROMPT, "content": "Hello {{ name }} and {{service}}", "arguments": PROMPT["arguments"][:1]}
    with pytest.raises(ApiError) as refused:
        validate_prompts([bad])
    assert (refused.value.code, refused.value.message) == (
        "InvalidParam.Prompts.Content",
        "prompts[0].content uses {{name}}, which is not declared in prompts[0].arguments.",
    )
    with pytest.raises(ApiError, match="prompts\\[1\\].name 'triage' is used by another prompt"):
        validate_prompts([PROMPT, {**PROMPT}])
    dup_args = {**PROMPT, "arguments": [*PROMPT["arguments"], {"name": "region"}]}
    with pytest.raises(ApiError, match="prompts\\[0\\].arguments declares region twice"):
        validate_prompts([dup_args])
