"""One access decision: the management API and the console decide alike and say the same thing.

For each case the same user asks for the same operation on the same server through the API and
through the console page that performs it; both allow it, or both refuse it (403) with the one
message of `oauth.access.Decision`, which names the action, the resource and the deciding statement.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from django.test import Client

from oauth.services import policy_attach, policy_create
from servers.schemas import CreateApiMcpServerBody, parse_body
from servers.services import server_create

BASE = {"apis": [{"product": "Ram", "apiVersion": "2015-05-01", "selectors": ["GetUser"]}]}


def session(user):
    client = Client()
    client.force_login(user)
    return client


def console_message(response) -> str:
    found = re.search(r'<p data-testid="forbidden">(.*?)</p>', response.content.decode(), re.S)
    assert found, response.content[:500]
    return html.unescape(found.group(1)).strip()


@pytest.fixture
def servers(alice, bob, catalog):
    """Two servers of the account; bob may read and edit only `open`, and reading `closed` is denied."""
    open_ = server_create(
        account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, {**BASE, "name": "open"})
    )
    closed = server_create(
        account=alice.account, user=alice, body=parse_body(CreateApiMcpServerBody, {**BASE, "name": "closed"})
    )
    account = alice.account_id
    policy = policy_create(
        account=alice.account,
        name="OpenOnly",
        document={
            "Version": "1",
            "Statement": [
                {"Effect": "Allow", "Action": "openapiexplorer:*ApiMcpServer", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": ["openapiexplorer:GetApiMcpServer", "openapiexplorer:UpdateApiMcpServer"],
                    "Resource": f"acs:openapiexplorer::{account}:apimcpserver/{closed.id}",
                },
                {"Effect": "Deny", "Action": "openapiexplorer:Delete*", "Resource": "*"},
            ],
        },
    )
    bob.policies.clear()
    policy_attach(policy=policy, user=bob)
    return {"open": open_, "closed": closed}


CASES = [
    # (server, API method, console path, operation, allowed)
    ("open", "GET", "/servers/{id}/", "GetApiMcpServer", True),
    ("closed", "GET", "/servers/{id}/", "GetApiMcpServer", False),
    ("open", "PATCH", "/servers/{id}/edit/", "UpdateApiMcpServer", True),
    ("closed", "PATCH", "/servers/{id}/edit/", "UpdateApiMcpServer", False),
    ("open", "DELETE", "/servers/{id}/delete/", "DeleteApiMcpServer", False),
]


@pytest.mark.parametrize("which, method, page, operation, allowed", CASES)
def test_the_api_and_the_console_make_the_same_decision(servers, bob, which, method, page, operation, allowed):
    server = servers[which]
    client = session(bob)
    body = {"description": "changed"} if method == "PATCH" else None
    if body is None:
        api = client.generic(method, f"/apimcpserver?id={server.id}")
    else:
        api = client.generic(
            method, f"/apimcpserver?id={server.id}", data=json.dumps(body), content_type="application/json"
        )
    console = client.get(page.format(id=server.id))
    if allowed:
        assert api.status_code == 200, api.content
        assert console.status_code == 200
        return
    assert (api.status_code, api.json()["code"], console.status_code) == (403, "Forbidden.RAM", 403)
    message = api.json()["message"]
    assert console_message(console) == message
    assert f"action openapiexplorer:{operation} on resource" in message
    assert "explicitly denied by policy OpenOnly (Statement[" in message  # the Deny wins over the Allow


def test_the_deciding_statement_is_named_in_both(servers, bob, alice):
    closed = servers["closed"]
    message = session(bob).get(f"/apimcpserver?id={closed.id}").json()["message"]
    assert message == (
        "User not authorized to operate on the specified resource: action openapiexplorer:GetApiMcpServer on "
        f"resource acs:openapiexplorer::{alice.account_id}:apimcpserver/{closed.id} is explicitly denied by policy "
        'OpenOnly (Statement[1]: {"Effect":"Deny","Action":["openapiexplorer:GetApiMcpServer",'
        '"openapiexplorer:UpdateApiMcpServer"],"Resource":"acs:openapiexplorer::'
        f'{alice.account_id}:apimcpserver/{closed.id}"}}).'
    )


def test_a_user_without_any_allowing_policy_is_told_so(servers, bob):
    bob.policies.clear()
    api = session(bob).get(f"/apimcpserver?id={servers['open'].id}")
    console = session(bob).get(f"/servers/{servers['open'].id}/")
    assert api.json()["message"].endswith("is not allowed by any of your policies.")
    assert console_message(console) == api.json()["message"]


def test_the_console_hides_the_buttons_the_api_would_refuse(servers, bob):
    page = session(bob).get(f"/servers/{servers['open'].id}/").content.decode()
    assert f"/servers/{servers['open'].id}/edit/" in page
    assert f"/servers/{servers['open'].id}/delete/" not in page
    admin_page = session(servers["open"].account.users.get(username="alice")).get(f"/servers/{servers['open'].id}/")
    assert f"/servers/{servers['open'].id}/delete/" in admin_page.content.decode()
