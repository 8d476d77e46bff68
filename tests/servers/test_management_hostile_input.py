"""Hostile input at the management API edge: a precise 400 naming the field, nothing written, the refusal audited.

Also: a success is never reported without its audit event, and `clientToken` holds under concurrency.
Tests that depend on the HTTP stack (a NUL in the query string, multipart framing, concurrent
requests) go through the live server; the rest use Django's test client. All run on SQLite and,
in CI, on PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import urlencode

import httpx
import pytest
from django.db import connection
from django.test import Client

from oauth import acs3
from runtime.models import AuditEvent
from servers.models import IdempotencyRecord, McpServer
from servers.schemas import CreateApiMcpServerBody, parse_body
from servers.services import server_create

RAM = {"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["GetUser"]}
BASE = {"name": "ram-tools", "apis": [RAM]}
DEEP = "[" * 100_000 + "]" * 100_000
CLI = {"product": "Ram", "apiVersion": "2015-05-01", "api": "GetUser"}


@pytest.fixture
def api(alice, catalog):
    client = Client()
    client.force_login(alice)
    return client


def send(client, method, path, params=None, *, body=None, raw=None, content_type="application/json"):
    url = path + ("?" + urlencode(params) if params else "")
    data = raw if raw is not None else (None if body is None else json.dumps(body))
    if data is None:
        return client.generic(method, url)
    return client.generic(method, url, data=data, content_type=content_type)


def state():
    return (
        McpServer.objects.count(),
        IdempotencyRecord.objects.count(),
        McpServer.objects.order_by("pk").values_list("pk", "version", "description").first(),
    )


def refused_event(request_id):
    event = AuditEvent.objects.get(request_id=request_id)
    assert (event.kind, event.outcome) == ("management", "invalid")
    return event


def assert_refused(response, before, *, code, message, status=400):
    payload = response.json()
    assert (response.status_code, payload["code"]) == (status, code), payload
    assert message in payload["message"], payload["message"]
    assert set(payload) == {"requestId", "code", "message"}
    assert state() == before
    return payload


# NUL characters, lone surrogates and non-finite numbers ------------------------------------------


@pytest.mark.parametrize(
    "raw, message",
    [
        ('{"name": "ram-tools", "apis": [], "description": "a\\u0000b"}', "body.description contains a NUL"),
        ('{"name": "ram-tools", "description": "\\ud800"}', "body.description contains a lone UTF-16 surrogate"),
        ('{"name": "ram-tools", "apis": [{"product": "Ram\\u0000"}]}', "body.apis[0].product contains a NUL"),
        ('{"name": "ram-tools", "a\\u0000": 1}', 'body["a\\u0000"] is a key with a NUL character'),
        ('{"name": "ram-tools", "description": NaN}', "body.description is NaN, which is not a JSON number"),
        ('{"name": "ram-tools", "apis": [Infinity]}', "body.apis[0] is Infinity"),
        ('{"name": "ram-tools", "x": -Infinity}', "body.x is -Infinity"),
        ('{"name": "ram-tools", "x": 1e999}', "body.x is 1e999, a number too large to represent"),
        ('{"name": "ram-tools", "x": ' + "9" * 5000 + "}", "body.x is an integer of more than 4300 digits"),
    ],
)
def test_nul_surrogates_and_non_finite_numbers_in_a_body_are_refused(api, raw, message):
    before = state()
    payload = assert_refused(
        send(api, "POST", "/apimcpserver", raw=raw), before, code="InvalidParameter", message=message
    )
    event = refused_event(payload["requestId"])
    assert (event.action, event.error_code) == ("openapiexplorer:CreateApiMcpServer", "InvalidParameter")


def test_a_nul_in_an_update_body_changes_nothing(api, alice):
    server = server_create(
        account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, {**BASE, "description": "kept"})
    )
    before = state()
    response = send(api, "PATCH", "/apimcpserver", {"id": server.pk}, raw='{"description": "new\\u0000"}')
    assert_refused(response, before, code="InvalidParameter", message="body.description contains a NUL")
    response = send(api, "PATCH", "/apimcpserver", {"id": server.pk}, raw='{"description": NaN}')
    assert_refused(response, before, code="InvalidParameter", message="body.description is NaN")
    assert McpServer.objects.get(pk=server.pk).description == "kept"


@pytest.mark.parametrize(
    "params, message",
    [
        ({"z": "\x00"}, "z contains a NUL character"),
        ({"z\x00": "1"}, '"z\\u0000" is a parameter name with a NUL character'),
        ({"keyword": "ram\x00"}, "keyword contains a NUL character"),
    ],
)
def test_a_nul_in_the_query_string_is_refused(api, params, message):
    before = state()
    payload = assert_refused(
        send(api, "GET", "/apimcpservers", params), before, code="InvalidParameter", message=message
    )
    refused_event(payload["requestId"])


def test_a_nul_in_a_form_field_is_refused(api):
    response = api.post("/api/cli/makeCode", {**CLI, "regionId": "cn\x00"})
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, "InvalidParameter")
    assert "body.regionId contains a NUL character" in payload["message"]


@pytest.mark.parametrize(
    "form, code, message",
    [
        ({"apiParams": '{"UserName": NaN}'}, "InvalidParam.ApiParams", "apiParams.UserName is NaN"),
        ({"apiParams": '{"UserName": 1e400}'}, "InvalidParam.ApiParams", "apiParams.UserName is 1e400"),
        ({"apiParams": '{"UserName": "a\\u0000"}'}, "InvalidParam.ApiParams", "apiParams.UserName contains a NUL"),
        ({"jsonApiParams": '{"UserName": Infinity}'}, "InvalidParam.JsonApiParams", "jsonApiParams.UserName is"),
        ({"apiParams": DEEP}, "InvalidParam.ApiParams", "apiParams is nested more than 64 levels deep"),
    ],
)
def test_generate_cli_command_refuses_hostile_api_params(api, form, code, message):
    before = AuditEvent.objects.count()
    response = api.post("/api/cli/makeCode", {**CLI, **form})
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, code), payload
    assert message in payload["message"]
    assert AuditEvent.objects.count() == before + 1
    refused_event(payload["requestId"])


def test_generate_cli_command_refuses_nan_in_a_json_body(api):
    response = send(api, "POST", "/api/cli/makeCode", raw=json.dumps(CLI)[:-1] + ', "apiParams": {"UserName": NaN}}')
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, "InvalidParameter")
    assert "body.apiParams.UserName is NaN" in payload["message"]


def test_the_audit_event_of_a_refusal_stores_what_cannot_be_stored_as_is(api):
    response = send(api, "DELETE", "/apimcpserver", {"id": "x\x00y", "z": "\x00"})
    event = refused_event(response.json()["requestId"])
    assert event.arguments["query"] == {"id": "x\\u0000y", "z": "\\u0000"}
    assert event.server_id == "x\\u0000y"


def test_what_an_audit_event_stores_is_storable():
    from servers.api.audit import storable

    assert storable({"a\x00": ["\x00", "\ud800", float("nan"), float("-inf"), 1.5, 2, None]}) == {
        "a\\u0000": ["\\u0000", "\ufffd", "nan", "-inf", 1.5, 2, None]
    }


# Depth, framing, numbers and times ----------------------------------------------------------------


def test_deep_json_bodies_are_refused_with_the_limit(api):
    before = state()
    for raw in (DEEP, '{"name": "x", "apis": ' + DEEP + "}"):
        assert_refused(
            send(api, "POST", "/apimcpserver", raw=raw),
            before,
            code="InvalidParam.Body",
            message="The request body is nested more than 64 levels deep.",
        )


def test_sixty_four_levels_are_accepted(api):
    nested = "[" * 63 + "]" * 63  # 64 levels with the body object itself
    response = send(api, "POST", "/apimcpserver", raw='{"name": "ram-tools", "apis": ' + nested + "}")
    assert response.json()["code"] != "InvalidParam.Body"


@pytest.mark.parametrize(
    "change, code, message",
    [
        (
            {
                "additionalApiDescriptions": [
                    {"product": "Ram", "apiVersion": "2015-05-01", "apiName": "GetUser", "apiOverrideJson": DEEP}
                ]
            },
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "additionalApiDescriptions[0].apiOverrideJson is nested more than 64 levels deep.",
        ),
        (
            {
                "additionalApiDescriptions": [
                    {
                        "product": "Ram",
                        "apiVersion": "2015-05-01",
                        "apiName": "GetUser",
                        "apiOverrideJson": '{"summary": NaN}',
                    }
                ]
            },
            "InvalidParam.AdditionalApiDescription.ApiOverrideJson",
            "additionalApiDescriptions[0].apiOverrideJson.summary is NaN",
        ),
        (
            {"assumeRoleExtraPolicy": DEEP},
            "InvalidParam.AssumeRoleExtraPolicy",
            "assumeRoleExtraPolicy is nested more than 64 levels deep.",
        ),
        (
            {"assumeRoleExtraPolicy": '{"Version": "1", "Statement": [], "x": "\\u0000"}'},
            "InvalidParam.AssumeRoleExtraPolicy",
            "assumeRoleExtraPolicy.x contains a NUL character",
        ),
    ],
)
def test_json_in_string_fields_get_the_same_limits(api, change, code, message):
    before = state()
    assert_refused(send(api, "POST", "/apimcpserver", body={**BASE, **change}), before, code=code, message=message)


def test_a_form_of_ten_thousand_fields_is_refused(api, settings):
    fields = {f"f{i}": "x" for i in range(10_000)}
    response = api.post("/api/cli/makeCode", {**CLI, **fields})
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, "InvalidParam.Body")
    assert f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} query or form fields" in payload["message"]


def test_a_query_of_ten_thousand_fields_is_refused(api):
    response = api.get("/apimcpservers?" + "&".join(f"f{i}=x" for i in range(10_000)))
    assert (response.status_code, response.json()["code"]) == (400, "InvalidParam.Body")


@pytest.mark.parametrize("path", ["/apimcpservers", "/mcpSystemTools"])
@pytest.mark.parametrize("skip", ["9223372036854775808", "2147483648", "-1"])
def test_skip_is_an_int32(api, path, skip):
    response = send(api, "GET", path, {"skip": skip})
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, "InvalidParam.Skip"), payload
    assert f"skip must be between 0 and 2147483647, got {skip}." == payload["message"]


def test_the_largest_skip_is_an_empty_page(api, alice):
    server_create(account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, BASE))
    response = send(api, "GET", "/apimcpservers", {"skip": "2147483647"})
    assert (response.status_code, response.json()["apiMcpServers"], response.json()["totalCount"]) == (200, [], 1)


@pytest.mark.parametrize("name", ["createTime", "updateTime"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_times_that_leave_the_calendar_in_utc_are_refused(api, name, value):
    response = send(api, "GET", "/apimcpservers", {name: value})
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, f"InvalidParam.{name[0].upper()}{name[1:]}")
    assert f"{name} '{value}' is out of range: in UTC it must fall between the years 1 and 9999." == payload["message"]


def test_the_calendar_edges_are_accepted(api, alice):
    server_create(account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, BASE))
    early = send(api, "GET", "/apimcpservers", {"createTime": "0001-01-01T00:00:00Z"}).json()
    late = send(api, "GET", "/apimcpservers", {"createTime": "9999-12-31T23:59:59+14:00"}).json()
    assert (early["totalCount"], late["totalCount"]) == (1, 0)


# Integrity errors --------------------------------------------------------------------------------


def test_an_integrity_error_that_is_not_the_name_is_not_reported_as_exists_name(api, alice, charlie, monkeypatch):
    """Two random 20-character ids never collide here, so the id generator is made to repeat one."""
    taken = server_create(
        account=charlie.account, user=charlie, body=parse_body(CreateApiMcpServerBody, {**BASE, "name": "other"})
    )
    monkeypatch.setattr(McpServer._meta.get_field("id"), "_get_default", lambda: taken.pk)
    before = state()
    response = send(api, "POST", "/apimcpserver", body=BASE)
    assert_refused(response, before, status=500, code="InternalServerError", message="temporary failure")
    assert AuditEvent.objects.get(request_id=response.json()["requestId"]).outcome == "error"


def test_the_name_is_reported_when_it_is_the_cause(api, alice):
    server_create(account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, BASE))
    before = state()
    assert_refused(send(api, "POST", "/apimcpserver", body=BASE), before, status=409, code="Exists.Name", message="")


# Audit semantics ---------------------------------------------------------------------------------


@pytest.fixture
def audit_refuses_inserts(db):
    """The database refuses every new audit event (a real trigger), as when its table is unwritable."""
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit is down'; END; "
                "$$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_audit BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_audit BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'audit is down'); END"
            )
    # The test's transaction rolls the trigger back with everything else.


def test_a_success_whose_audit_event_cannot_be_written_is_rolled_back_and_answered_500(
    api, alice, audit_refuses_inserts
):
    server = server_create(
        account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, {**BASE, "name": "kept"})
    )
    before = state()
    for method, params, body in (
        ("POST", None, {**BASE, "clientToken": "t-1"}),
        ("PATCH", {"id": server.pk}, {"description": "new"}),
        ("DELETE", {"id": server.pk, "clientToken": "t-2"}, None),
        ("GET", {"id": server.pk}, None),  # a read, too, is not answered without its event
    ):
        response = send(api, method, "/apimcpserver", params, body=body)
        assert_refused(response, before, status=500, code="InternalServerError", message="temporary failure")
    assert not AuditEvent.objects.exists()


def test_a_successful_write_and_its_event_are_both_there(api, alice):
    server = server_create(account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, BASE))
    response = send(api, "DELETE", "/apimcpserver", {"id": server.pk})
    assert response.status_code == 200
    event = AuditEvent.objects.get(request_id=response.json()["requestId"])
    assert (event.action, event.outcome, event.server_id) == (
        "openapiexplorer:DeleteApiMcpServer",
        "success",
        server.pk,
    )
    assert not McpServer.objects.exists()


# Over real HTTP ------------------------------------------------------------------------------------


def signed_send(client, method, path, *, query=(), body=b"", content_type=None):
    """A signed request with exactly these query pairs, body and Content-Type."""
    headers = client.headers_for(method, path, list(query), body)
    headers.pop("authorization")
    if content_type is not None:
        headers["content-type"] = content_type
    headers["authorization"] = acs3.sign(
        method=method,
        path=path,
        query=list(query),
        headers=headers,
        body=body,
        access_key_id=client.access_key_id,
        secret=client.secret,
    )
    qs = urlencode(list(query))
    return httpx.request(
        method, f"{client.base_url}{path}" + (f"?{qs}" if qs else ""), content=body, headers=headers, timeout=30
    )


def test_delete_with_a_nul_in_the_query_deletes_nothing_and_is_audited(alice, catalog, signed_client):
    server = server_create(account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, BASE))
    response = signed_send(signed_client(alice), "DELETE", "/apimcpserver", query=[("id", server.pk), ("z", "\x00")])
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, "InvalidParameter"), payload
    assert payload["message"] == "z contains a NUL character (\\u0000), which is not allowed."
    assert McpServer.objects.filter(pk=server.pk).exists()
    event = refused_event(payload["requestId"])
    assert (event.action, event.server_id, event.arguments["query"]["z"]) == (
        "openapiexplorer:DeleteApiMcpServer",
        server.pk,
        "\\u0000",
    )


def test_a_nul_in_a_body_over_http_is_a_400_and_an_event(alice, catalog, signed_client):
    body = json.dumps({**BASE, "description": "a\x00b"}).encode()
    response = signed_send(signed_client(alice), "POST", "/apimcpserver", body=body, content_type="application/json")
    payload = response.json()
    assert (response.status_code, payload["code"]) == (400, "InvalidParameter"), payload
    assert "body.description" in payload["message"]
    assert not McpServer.objects.exists()
    refused_event(payload["requestId"])


@pytest.mark.parametrize(
    "content_type, message",
    [
        ("multipart/form-data", "A multipart/form-data body needs a boundary parameter in its Content-Type header."),
        ("multipart/form-data; boundary=" + "x" * 300, "The multipart/form-data body is malformed."),
    ],
)
def test_multipart_without_a_usable_boundary_is_a_400(alice, catalog, signed_client, content_type, message):
    body = b'--x\r\nContent-Disposition: form-data; name="product"\r\n\r\nRam\r\n--x--\r\n'
    response = signed_send(signed_client(alice), "POST", "/api/cli/makeCode", body=body, content_type=content_type)
    payload = response.json()
    assert (response.status_code, payload["code"], payload["message"]) == (400, "InvalidParam.Body", message)


def test_a_form_of_ten_thousand_fields_over_http_is_a_400(alice, catalog, signed_client):
    body = urlencode({**CLI, **{f"f{i}": "x" for i in range(10_000)}}).encode()
    response = signed_send(
        signed_client(alice), "POST", "/api/cli/makeCode", body=body, content_type="application/x-www-form-urlencoded"
    )
    assert (response.status_code, response.json()["code"]) == (400, "InvalidParam.Body"), response.text


def test_multipart_with_a_boundary_still_works(alice, catalog, signed_client):
    parts = b"".join(
        f'--b0\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in CLI.items()
    )
    response = signed_send(
        signed_client(alice),
        "POST",
        "/api/cli/makeCode",
        body=parts + b"--b0--\r\n",
        content_type="multipart/form-data; boundary=b0",
    )
    assert response.status_code == 200, response.text
    assert "GetUser" in response.json()["cli"]


def _concurrently(count, attempt):
    barrier = threading.Barrier(count)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def run(i):
        barrier.wait()
        response = attempt(i)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == count
    return results


def test_twenty_concurrent_creates_with_one_token_and_different_bodies_make_one_server(alice, catalog, signed_client):
    clients = [signed_client(alice) for _ in range(20)]

    def attempt(i):
        body = {**BASE, "name": f"server-{i:02d}", "clientToken": "one-token"}
        return clients[i].request("POST", "/apimcpserver", json_body=body, action="CreateApiMcpServer")

    results = _concurrently(20, attempt)
    codes = sorted(r.json().get("code", "ok") for r in results)
    assert codes == ["IdempotentParameterMismatch"] * 19 + ["ok"], [r.text for r in results]
    winner = next(r.json() for r in results if r.status_code == 200)
    assert list(McpServer.objects.values_list("pk", flat=True)) == [winner["id"]]
    assert IdempotencyRecord.objects.count() == 1
    events = AuditEvent.objects.filter(action="openapiexplorer:CreateApiMcpServer")
    assert sorted(events.values_list("outcome", flat=True)) == ["invalid"] * 19 + ["success"]


def test_twenty_concurrent_creates_with_one_token_and_one_body_get_one_answer(alice, catalog, signed_client):
    clients = [signed_client(alice) for _ in range(20)]
    body = {**BASE, "clientToken": "same-token"}
    results = _concurrently(20, lambda i: clients[i].request("POST", "/apimcpserver", json_body=body))
    assert {r.status_code for r in results} == {200}, [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert McpServer.objects.count() == 1 and IdempotencyRecord.objects.count() == 1


# clientToken bookkeeping ---------------------------------------------------------------------------


def test_an_expired_record_of_the_token_gives_way_and_fresh_ones_stay(api, alice):
    from datetime import timedelta

    from django.utils import timezone

    from servers.idempotency import RETENTION

    old = send(api, "POST", "/apimcpserver", body={**BASE, "name": "first", "clientToken": "tok"}).json()
    fresh = send(api, "POST", "/apimcpserver", body={**BASE, "name": "other", "clientToken": "fresh"}).json()
    IdempotencyRecord.objects.filter(client_token="tok").update(created_at=timezone.now() - RETENTION - timedelta(1))
    again = send(api, "POST", "/apimcpserver", body={**BASE, "name": "second", "clientToken": "tok"}).json()
    assert again["id"] not in (old["id"], fresh["id"])
    records = dict(IdempotencyRecord.objects.values_list("client_token", "response"))
    assert (records["tok"]["id"], records["fresh"]["id"]) == (again["id"], fresh["id"])
    assert McpServer.objects.count() == 3


def test_a_failed_request_leaves_no_claim_on_its_token(api):
    bad = send(api, "POST", "/apimcpserver", body={**BASE, "name": "9bad", "clientToken": "retry"})
    assert bad.status_code == 400 and not IdempotencyRecord.objects.exists()
    good = send(api, "POST", "/apimcpserver", body={**BASE, "clientToken": "retry"})
    assert good.status_code == 200
    assert IdempotencyRecord.objects.get().response["id"] == good.json()["id"]
