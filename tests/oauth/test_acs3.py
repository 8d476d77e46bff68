"""oauth.acs3 against the official SDK's own signer (alibabacloud_tea_openapi / alibabacloud_openapi_util)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_tea_openapi.utils import Utils as TeaOpenApiUtils
from darabonba.request import DaraRequest

from oauth import acs3

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
BODY = b'{"name":"demo","apis":[{"product":"Ecs","apiVersion":"2014-05-26","selectors":["Describe*"]}]}'
QUERY = {"id": "abc 123", "clientToken": "tok/with*special~chars", "keyword": "\u4e2d\u6587+x"}


def sdk_request(method="PATCH", body=BODY, query=None):
    request = DaraRequest()
    request.method = method
    request.pathname = "/apimcpserver"
    request.query = dict(QUERY if query is None else query)
    request.headers = {
        "host": "127.0.0.1:8000",
        "x-acs-version": "2024-11-30",
        "x-acs-action": "UpdateApiMcpServer",
        "user-agent": "AlibabaCloud (Linux) Python/3.11 TeaDSL/2",
        "x-acs-date": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": "f1e2d3c4b5a6",
        "accept": "application/json",
        "content-type": "application/json; charset=utf-8",
        "x-acs-content-sha256": hashlib.sha256(body).hexdigest(),
    }
    return request


def as_signed(request, body=BODY):
    return acs3.SignedRequest(
        request.method, request.pathname, list(request.query.items()), dict(request.headers), body
    )


@pytest.mark.parametrize("signer", [OpenApiUtil.get_authorization, TeaOpenApiUtils.get_authorization])
def test_our_signature_is_the_sdks(signer):
    request = sdk_request()
    theirs = signer(request, "ACS3-HMAC-SHA256", hashlib.sha256(BODY).hexdigest(), "LTAIexample", "s3cr3t")
    ours = acs3.sign(
        method="PATCH",
        path="/apimcpserver",
        query=list(request.query.items()),
        headers=request.headers,
        body=BODY,
        access_key_id="LTAIexample",
        secret="s3cr3t",
    )
    assert ours == theirs


def test_an_sdk_signed_request_verifies():
    request = sdk_request()
    header = OpenApiUtil.get_authorization(
        request, "ACS3-HMAC-SHA256", hashlib.sha256(BODY).hexdigest(), "LTAIexample", "s3cr3t"
    )
    auth = acs3.parse_authorization(header)
    assert auth.access_key_id == "LTAIexample" and "x-acs-signature-nonce" in auth.signed_headers
    signed = as_signed(request)
    acs3.check_request(signed, auth, now=NOW + timedelta(seconds=30), max_skew_seconds=900)
    acs3.verify_signature(signed, auth, "s3cr3t")
    with pytest.raises(acs3.SignatureError) as wrong:
        acs3.verify_signature(signed, auth, "another-secret")
    assert wrong.value.code == "SignatureDoesNotMatch"


def test_a_get_without_body_or_query_verifies():
    request = sdk_request("GET", b"", {})
    del request.headers["content-type"]
    header = OpenApiUtil.get_authorization(request, "ACS3-HMAC-SHA256", acs3.sha256_hex(b""), "LTAIx", "k")
    signed = as_signed(request, b"")
    acs3.verify_signature(signed, acs3.parse_authorization(header), "k")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: r.query.update(id="other"),
        lambda r: r.headers.update({"x-acs-action": "DeleteApiMcpServer"}),
        lambda r: r.headers.update({"host": "evil.example"}),
        lambda r: setattr(r, "method", "DELETE"),
        lambda r: setattr(r, "pathname", "/apimcpservers"),
    ],
)
def test_any_change_to_a_signed_part_breaks_the_signature(tamper):
    request = sdk_request()
    auth = acs3.parse_authorization(
        OpenApiUtil.get_authorization(request, "ACS3-HMAC-SHA256", acs3.sha256_hex(BODY), "LTAIx", "k")
    )
    tamper(request)
    with pytest.raises(acs3.SignatureError, match="SignatureDoesNotMatch"):
        acs3.verify_signature(as_signed(request), auth, "k")


def checked(request, body=BODY, *, now=NOW, header=None, skew=900):
    auth = acs3.parse_authorization(
        header or OpenApiUtil.get_authorization(request, "ACS3-HMAC-SHA256", acs3.sha256_hex(BODY), "LTAIx", "k")
    )
    acs3.check_request(as_signed(request, body), auth, now=now, max_skew_seconds=skew)


def test_skew_is_limited_both_ways():
    checked(sdk_request(), now=NOW + timedelta(seconds=900))
    for delta in (timedelta(seconds=901), timedelta(seconds=-901)):
        with pytest.raises(acs3.SignatureError) as exc:
            checked(sdk_request(), now=NOW + delta)
        assert exc.value.code == "InvalidTimeStamp.Expired" and "901 s away" in exc.value.message


def test_a_body_that_does_not_match_its_hash_is_refused():
    with pytest.raises(acs3.SignatureError, match="x-acs-content-sha256 does not match"):
        checked(sdk_request(), body=BODY + b" ")


def test_bad_dates_and_nonces():
    request = sdk_request()
    request.headers["x-acs-date"] = "Sat, 01 Mar 2025 12:00:00 GMT"
    with pytest.raises(acs3.SignatureError, match="InvalidTimeStamp.Format"):
        checked(request)
    request = sdk_request()
    request.headers["x-acs-signature-nonce"] = "n" * 97
    with pytest.raises(acs3.SignatureError, match="InvalidSignatureNonce"):
        checked(request)


def test_every_acs_header_must_be_signed():
    request = sdk_request()
    header = OpenApiUtil.get_authorization(request, "ACS3-HMAC-SHA256", acs3.sha256_hex(BODY), "LTAIx", "k")
    request.headers["x-acs-security-token"] = "smuggled"
    with pytest.raises(acs3.SignatureError, match="Header x-acs-security-token must be present and signed"):
        checked(request, header=header)


@pytest.mark.parametrize(
    "header, message",
    [
        ("ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=00", "Unsupported signature algorithm"),
        ("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host", "lacks Signature"),
        ("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=x-acs-date;host,Signature=00", "sorted order"),
        ("ACS3-HMAC-SHA256 Credential=a,SignedHeaders=Host,Signature=00", "lower-case"),
        ("ACS3-HMAC-SHA256 garbage", "Malformed Authorization element"),
    ],
)
def test_malformed_authorization_headers(header, message):
    with pytest.raises(acs3.SignatureError, match=message) as exc:
        acs3.parse_authorization(header)
    assert exc.value.code == "IncompleteSignature"


def test_signed_headers_must_exist_in_the_request():
    request = sdk_request()
    header = OpenApiUtil.get_authorization(request, "ACS3-HMAC-SHA256", acs3.sha256_hex(BODY), "LTAIx", "k")
    del request.headers["user-agent"]
    with pytest.raises(acs3.SignatureError, match="Signed header user-agent is not in the request"):
        checked(request, header=header)
