"""Property-based fuzzing of the management API from its own OpenAPI document (schemathesis).

Every operation of `/api/openapi.json` gets generated requests, valid by the document and not,
sent over real HTTP to the live ASGI application, authenticated as alice (an OAuth bearer token
with the management scope). Every answer must be no 5xx, carry a status the document declares,
be JSON as declared and match the declared schema. Bounded: a fixed number of examples per
operation and mode, no shrinking and no deadline, so the run takes under a minute on a 2-core
machine (CI included).

A request valid by the document must also be accepted, because the document declares the limits
the operations enforce (lengths, patterns, ranges, enums, required parameters and fields: see
servers/schemas.py and `servers.api.common.query`). The refusals it may still get are those of
`NOT_DECLARED`: what depends on data (a product code must be in the catalog, an id must exist, a
name must be free) and the few rules a JSON Schema does not express, each named with its reason.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Refusals a request valid by the document may get: (code prefix, a regular expression the message
# matches, why the rule is not declared).
NOT_DECLARED: list[tuple[str, str, str]] = [
    ("NotFound.", "", "the id or name names nothing of the account"),
    ("EntityNotExist.", "", "the id or name names nothing of the account"),
    ("Exists.", "", "the name is taken"),
    ("EntityAlreadyExists.", "", "the name is taken"),
    ("InvalidParam.NextToken", "", "a token from an earlier page"),
    ("NextTokenParameterMismatch", "", "a token from an earlier page"),
    ("InvalidParam.Apis.PopCode", "Unsupported product code", "the catalog's products"),
    ("InvalidParam.Apis.PopVersion", "", "the catalog's versions"),
    ("InvalidParam.Apis.Selectors", "matches no API", "the catalog's APIs"),
    ("InvalidParam.UserName", "does not exist", "the account's users"),
    ("InvalidParam.TrustedAccountIds", "its own account", "the caller's account"),
    ("InvalidParam.CreateTime", "is out of range", "an instant past the year 9999 in UTC"),
    ("InvalidParam.UpdateTime", "is out of range", "an instant past the year 9999 in UTC"),
    ("InvalidParam.AssumeRoleExtraPolicy", "", "a policy document's grammar, in JSON text"),
    ("InvalidParam.PolicyDocument", "", "a policy document's grammar"),
    ("InvalidParam.ApiParams", "", "JSON text, and the API's own parameters"),
    ("InvalidParam.JsonApiParams", "", "JSON text, and the API's own parameters"),
    ("InvalidParameter", r"constParameters\[\d+\]\.value\b.*NUL", "a NUL anywhere in a free-form JSON value"),
    ("InvalidParameter", r"policyDocument\b.*NUL", "a NUL anywhere in a policy document"),
    ("InvalidParam.Prompts.Arguments", "twice", "argument names unique within a list of objects"),
    ("InvalidParam.AdditionalApiDescription.ConstParameters", "twice", "keys unique within a list of objects"),
    ("InvalidParam.Apis", "repeats", "entries unique by product and version within a list of objects"),
    ("InvalidParam.Prompts.Name", "is used by another prompt", "names unique within a list of objects"),
    ("InvalidParam.BaseUrl", "is refused: ", "the outbound address rules (docs/security.md)"),
    ("InvalidParam.RegionEndpoints", "is refused: ", "the outbound address rules (docs/security.md)"),
    ("InvalidParam.AuthConfig.TokenUrl", "is refused: ", "the outbound address rules (docs/security.md)"),
]


def refused_for_an_undeclared_rule(status: int, code: str, message: str) -> bool:
    return status < 500 and any(
        code.startswith(prefix) and re.search(words, message) for prefix, words, _ in NOT_DECLARED
    )


def accepted_or_refused_for_data(response: Any, case: Any) -> None:
    """A request valid by the document is answered 2xx, or refused for a rule of `NOT_DECLARED`."""
    if response.status_code < 300:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    code, message = str(body.get("code", "")), str(body.get("message", ""))
    assert refused_for_an_undeclared_rule(response.status_code, code, message), (
        f"valid by the document but refused: {response.status_code} {code}: {message[:200]}"
    )


def bearer_token(user: Any) -> str:
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application

    app = Application.objects.create(
        name="fuzz",
        client_id="fuzz",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    token = AccessToken.objects.create(
        user=user,
        application=app,
        token="fuzz-token-for-alice",
        scope="openapiexplorer",
        expires=timezone.now() + timedelta(hours=1),
    )
    return str(token.token)


@pytest.fixture
def management_schema(live_server_url: str, close_live_server_connections: None, alice: Any, catalog: None) -> Any:
    """The document as the live server serves it, with alice's token on every generated request."""
    from servers.schemas import CreateApiMcpServerBody, parse_body
    from servers.services import server_create

    server_create(
        account=alice.account,
        user=alice,
        body=parse_body(
            CreateApiMcpServerBody,
            {"name": "fuzz-base", "apis": [{"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["Get*"]}]},
        ),
    )
    document = httpx.get(f"{live_server_url}/api/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=live_server_url, headers={"Authorization": f"Bearer {bearer_token(alice)}"})
    return schema


def fuzz(operation: Any, mode: schemathesis.GenerationMode) -> list[str]:
    """Failures found for `operation` in `mode` (empty when every answer passed the checks)."""
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Any) -> None:
        try:
            response = case.call_and_validate(checks=CHECKS, timeout=30)
            if mode == schemathesis.GenerationMode.POSITIVE:
                accepted_or_refused_for_data(response, case)
        except (AssertionError, BaseExceptionGroup) as exc:  # one Failure, or a FailureGroup of several
            failures.append(f"{operation.label} ({mode.value}): {exc}\n  reproduce: {case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:  # nothing to break: an operation without parameters has no negative cases
        assert mode == schemathesis.GenerationMode.NEGATIVE
    return failures


def test_generated_requests_get_documented_answers_and_no_server_error(management_schema: Any) -> None:
    operations = [result.ok() for result in management_schema.get_all_operations()]
    assert len(operations) >= 17
    failures: list[str] = []
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            failures += fuzz(operation, mode)
    assert not failures, "\n\n".join(failures[:20]) + f"\n\n{len(failures)} failing requests in all"
