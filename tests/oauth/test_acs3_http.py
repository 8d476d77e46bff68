"""AccessKey-signed management calls over real HTTP (uvicorn on loopback): what is accepted and refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.utils import timezone

from oauth import authentication
from oauth.models import AccessKey, UsedNonce
from oauth.services import access_key_revoke

BODY = {"name": "sts-tools", "apis": [{"product": "Sts", "apiVersion": "2015-04-01", "selectors": ["*"]}]}


def stamp(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def test_a_signed_request_is_accepted_and_marks_the_key_used(alice, catalog, signed_client):
    client = signed_client(alice)
    response = client.request("POST", "/apimcpserver", json_body=BODY, action="CreateApiMcpServer")
    assert response.status_code == 200, response.text
    assert response.headers["x-acs-request-id"] == response.json()["requestId"]
    listed = client.request("GET", "/apimcpservers", params={"keyword": "sts", "maxResults": 5})
    assert listed.json()["totalCount"] == 1
    assert AccessKey.objects.get(pk=client.access_key_id).last_used_at is not None


def test_a_replayed_nonce_is_refused(alice, catalog, signed_client, live_server_url):
    client = signed_client(alice)
    headers = client.headers_for("GET", "/mcpSystemTools", [], b"")
    first = httpx.get(f"{live_server_url}/mcpSystemTools", headers=headers)
    replay = httpx.get(f"{live_server_url}/mcpSystemTools", headers=headers)
    assert first.status_code == 200
    assert error(replay) == (400, "SignatureNonceUsed")


def test_the_same_nonce_in_a_freshly_signed_request_is_refused_too(alice, catalog, signed_client):
    client = signed_client(alice)
    assert client.request("GET", "/apimcpservers", nonce="fixed-nonce-1").status_code == 200
    assert error(client.request("GET", "/mcpSystemTools", nonce="fixed-nonce-1")) == (400, "SignatureNonceUsed")


@pytest.mark.parametrize("delta", [timedelta(minutes=-16), timedelta(minutes=16)])
def test_a_skewed_date_is_refused(alice, catalog, signed_client, delta):
    response = signed_client(alice).request("GET", "/apimcpservers", date=stamp(delta))
    assert error(response) == (400, "InvalidTimeStamp.Expired")
    assert "900 s are allowed" in response.json()["message"]


def test_a_date_within_the_skew_is_accepted(alice, catalog, signed_client):
    assert signed_client(alice).request("GET", "/apimcpservers", date=stamp(timedelta(minutes=-14))).status_code == 200


def test_a_wrong_secret_is_refused(alice, catalog, signed_client):
    client = signed_client(alice)
    response = client.request("POST", "/apimcpserver", json_body=BODY, secret="not-the-secret")
    assert error(response) == (400, "SignatureDoesNotMatch")
    assert not UsedNonce.objects.exists()  # a bad signature does not burn nonces


def test_a_revoked_key_is_refused(alice, catalog, signed_client):
    client = signed_client(alice)
    access_key_revoke(access_key=AccessKey.objects.get(pk=client.access_key_id))
    assert error(client.request("GET", "/apimcpservers")) == (400, "InvalidAccessKeyId.Inactive")


def test_an_unknown_key_is_refused(alice, catalog, signed_client):
    client = signed_client(alice)
    client.access_key_id = "LTAInotakey"
    assert error(client.request("GET", "/apimcpservers")) == (404, "InvalidAccessKeyId.NotFound")


def test_a_body_changed_after_signing_is_refused(alice, catalog, signed_client, live_server_url):
    client = signed_client(alice)
    body = json.dumps(BODY).encode()
    headers = client.headers_for("POST", "/apimcpserver", [], body)
    tampered = body.replace(b"sts-tools", b"sts-evil!")
    response = httpx.post(f"{live_server_url}/apimcpserver", content=tampered, headers=headers)
    assert error(response) == (400, "SignatureDoesNotMatch")
    assert "x-acs-content-sha256" in response.json()["message"]


def test_a_query_changed_after_signing_is_refused(alice, catalog, signed_client, live_server_url):
    client = signed_client(alice)
    headers = client.headers_for("DELETE", "/apimcpserver", [("id", "abc")], b"")
    response = httpx.delete(f"{live_server_url}/apimcpserver?id=xyz", headers=headers)
    assert error(response) == (400, "SignatureDoesNotMatch")


def test_the_signed_action_must_match_the_operation(alice, catalog, signed_client):
    response = signed_client(alice).request("GET", "/apimcpservers", action="DeleteApiMcpServer")
    assert error(response) == (400, "InvalidAction.Mismatch")


def test_another_api_version_is_refused(alice, catalog, signed_client, live_server_url):
    client = signed_client(alice)
    headers = client.headers_for("GET", "/apimcpservers", [], b"")
    headers["x-acs-version"] = "2019-01-01"
    assert error(httpx.get(f"{live_server_url}/apimcpservers", headers=headers))[1] == "InvalidVersion"


def test_policies_apply_to_access_keys(alice, bob, catalog, signed_client):
    response = signed_client(bob).request("POST", "/apimcpserver", json_body=BODY)
    assert error(response) == (403, "Forbidden.RAM")
    assert "openapiexplorer:CreateApiMcpServer" in response.json()["message"]


def test_old_nonces_are_pruned(alice, catalog, signed_client, settings, monkeypatch):
    old = UsedNonce.objects.create(nonce="LTAIold:ancient")
    UsedNonce.objects.filter(pk=old.pk).update(
        seen_at=timezone.now() - timedelta(seconds=2 * settings.SIGNATURE_MAX_SKEW_SECONDS + 5)
    )
    recent = UsedNonce.objects.create(nonce="LTAIold:recent")
    monkeypatch.setattr(authentication, "_last_prune", 0.0)
    assert signed_client(alice).request("GET", "/apimcpservers").status_code == 200
    assert not UsedNonce.objects.filter(pk=old.pk).exists()
    assert UsedNonce.objects.filter(pk=recent.pk).exists()


def test_keys_of_inactive_users_are_refused(alice, catalog, signed_client):
    client = signed_client(alice)
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert error(client.request("GET", "/apimcpservers")) == (401, "InvalidCredential.UserInactive")
