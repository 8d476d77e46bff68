"""GenerateCLICommand (POST /api/cli/makeCode): the official SDK's formData call, errors and access."""

from __future__ import annotations

import json

import pytest
from alibabacloud_openapiexplorer20241130 import models
from alibabacloud_openapiexplorer20241130.client import Client as SdkClient
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
from alibabacloud_tea_openapi.models import Config
from django.test import Client

from oauth.services import access_key_create, policy_create

PATH = "/api/cli/makeCode"


def session(user):
    client = Client()
    client.force_login(user)
    return client


def sdk(user, live_server_url):
    key = access_key_create(user=user)
    config = Config(
        access_key_id=key.access_key_id,
        access_key_secret=key.access_key_secret,
        endpoint=live_server_url.removeprefix("http://"),
        protocol="HTTP",
    )
    return SdkClient(config)


def test_the_official_sdk_gets_the_command(alice, catalog, live_server_url, close_live_server_connections):
    client = sdk(alice, live_server_url)
    request = models.GenerateCLICommandRequest(
        product="Ram",
        api_version="2015-05-01",
        api="GetUser",
        region_id="cn-hangzhou",
        api_params={"UserName": "o'brien $(id)"},
    )
    response = client.generate_clicommand(request)
    assert response.body.cli == "aliyun ram GetUser --UserName 'o'\"'\"'brien $(id)' --region cn-hangzhou"
    assert response.headers["x-acs-request-id"]
    with pytest.raises(AlibabaCloudException) as refused:
        client.generate_clicommand(models.GenerateCLICommandRequest(product="Ram", api_version="2015-05-01"))
    assert refused.value.code == "InvalidParam.ApiName"


def test_form_and_json_bodies_and_parameter_precedence(alice, catalog):
    client = session(alice)
    form = {"product": "Ram", "apiVersion": "2015-05-01", "api": "ListUsers"}
    answer = client.post(PATH, {**form, "jsonApiParams": json.dumps({"MaxItems": 5})}).json()
    assert answer["cli"] == "aliyun ram ListUsers --MaxItems 5"
    both = {**form, "apiParams": json.dumps({"Marker": "m"}), "jsonApiParams": json.dumps({"MaxItems": 5})}
    assert client.post(PATH, both).json()["cli"] == "aliyun ram ListUsers --Marker m"
    as_json = client.post(PATH, json.dumps({**form, "apiParams": {"Marker": "-x"}}), content_type="application/json")
    assert as_json.status_code == 200 and as_json.json()["cli"] == "aliyun ram ListUsers --Marker=-x"


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"apiVersion": "2015-05-01", "api": "GetUser"}, 400, "InvalidParam.Product"),
        ({"product": "Ram", "api": "GetUser"}, 400, "InvalidParam.ApiVersion"),
        ({"product": "Ram", "apiVersion": "2015-05-01", "api": " "}, 400, "InvalidParam.ApiName"),
        ({"product": "Nope", "apiVersion": "2015-05-01", "api": "GetUser"}, 404, "NotFound.Product"),
        ({"product": "Ram", "apiVersion": "1999-01-01", "api": "GetUser"}, 404, "NotFound.ApiVersion"),
        ({"product": "Ram", "apiVersion": "2015-05-01", "api": "Teleport"}, 404, "NotFound.Api"),
        (
            {"product": "Ram", "apiVersion": "2015-05-01", "api": "GetUser", "apiParams": "{"},
            400,
            "InvalidParam.ApiParams",
        ),
        ({"product": "Ram", "apiVersion": "2015-05-01", "api": "GetUser", "jsonApiParams": "[1]"}, 400, None),
    ],
)
def test_bad_input_is_refused_precisely(alice, catalog, fields, status, code):
    response = session(alice).post(PATH, fields)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"requestId", "code", "message"}
    assert body["code"] == (code or "InvalidParam.JsonApiParams")


def test_the_limited_user_is_refused_and_the_shared_catalog_serves_every_account(bob, charlie, catalog):
    fields = {"product": "Ram", "apiVersion": "2015-05-01", "api": "GetUser"}
    refused = session(bob).post(PATH, fields)
    assert refused.status_code == 403 and refused.json()["code"] == "Forbidden.RAM"
    assert "openapiexplorer:GenerateCLICommand" in refused.json()["message"]
    # The catalog is shared by every account (SPEC §1): another account's admin gets the same command.
    assert session(charlie).post(PATH, fields).json()["cli"] == "aliyun ram GetUser"
    policy_create(
        account=bob.account,
        name="Cli",
        document={"Version": "1", "Statement": [{"Effect": "Allow", "Action": "openapiexplorer:Generate*"}]},
    )
    bob.policies.add(bob.account.policies.get(name="Cli"))
    assert session(bob).post(PATH, fields).status_code == 200


def test_openapi_products_get_curl(alice, db):
    from servers.catalog.openapi import import_openapi
    from servers.catalog.services import revision_create

    document = {
        "openapi": "3.0.3",
        "info": {"title": "Widgets", "version": "1.0.0"},
        "servers": [{"url": "https://widgets.example.com/v1"}],
        "paths": {
            "/widgets/{id}": {
                "get": {
                    "operationId": "getWidget",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "expand", "in": "query", "schema": {"type": "boolean"}},
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    imported = import_openapi(document, source="test")
    revision_create(document=imported.document, source="test", source_format=imported.source_format)
    fields = {"product": imported.product, "apiVersion": imported.version, "api": "getWidget"}
    fields["apiParams"] = json.dumps({"id": "a/b", "expand": True})
    answer = session(alice).post(PATH, fields).json()
    assert answer["cli"] == "curl -X GET 'https://widgets.example.com/v1/widgets/a%2Fb?expand=true'"
