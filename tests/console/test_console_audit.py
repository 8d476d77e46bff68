"""Console writes leave exactly one audit event each (SPEC §6.6), in the write's transaction; the
admin never adds, edits or deletes an event; secrets typed into console forms are never stored."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client

from runtime.models import AuditEvent
from servers.models import McpServer


def _events(**filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(kind="console", **filters).order_by("pk"))


def test_console_create_edit_and_delete_are_audited_once_each(client: Client, alice: Any, demo_catalog: Any) -> None:
    client.force_login(alice)
    form = {"name": "things", "language": "EN_US", "apis": "Demo 2024-01-01 List*", "public_access": "on"}
    assert client.post("/servers/new/", form).status_code == 302
    server = McpServer.objects.get(name="things")
    edit = {**form, "description": "Edited in the console", "apis": "Demo 2024-01-01 *"}
    assert client.post(f"/servers/{server.id}/edit/", edit).status_code == 302
    refused = client.post(f"/servers/{server.id}/edit/", {**edit, "apis": "Nope 1 List*"})
    assert refused.status_code == 200  # a service refusal shown on the form, and audited
    assert client.post(f"/servers/{server.id}/delete/", {"confirm_name": "things"}).status_code == 302

    events = _events(account_id=alice.account_id)
    assert [(e.action, e.outcome, e.server_id) for e in events] == [
        ("openapiexplorer:CreateApiMcpServer", "success", server.id),
        ("openapiexplorer:UpdateApiMcpServer", "success", server.id),
        ("openapiexplorer:UpdateApiMcpServer", "invalid", server.id),
        ("openapiexplorer:DeleteApiMcpServer", "success", server.id),
    ]
    edited = events[1]
    assert edited.username == "alice" and edited.user_id == alice.pk and edited.client_id == "console"
    assert edited.arguments["form"]["description"] == "Edited in the console"
    assert "csrfmiddlewaretoken" not in edited.arguments["form"]
    assert edited.source_ip == "127.0.0.1" and edited.request_id
    assert events[2].error_code == "InvalidParam.Apis.PopCode"


def test_a_console_form_secret_is_never_stored(client: Client, alice: Any) -> None:
    client.force_login(alice)
    form = {"product": "Widgets", "user": "", "auth_type": "api_key", "api_key": "widget-key-secret-123"}
    form |= {"api_key_name": "X-Key", "api_key_in": "header", "base_url": "https://widgets.example.com"}
    assert client.post("/connections/new/", form).status_code == 302
    (event,) = _events(action="openapiexplorer:SetConnection")
    assert event.outcome == "success" and event.arguments["form"]["api_key"] == "***"
    stored = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "widget-key-secret-123" not in stored


def test_access_keys_created_and_revoked_in_the_console_are_audited(client: Client, alice: Any) -> None:
    client.force_login(alice)
    created = client.post("/access-keys/", {"description": "ci pipeline"})
    issued = created.context["issued"]
    assert client.post(f"/access-keys/{issued.access_key_id}/revoke/").status_code == 302
    events = _events(user_id=alice.pk)
    assert [(e.action, e.outcome) for e in events] == [
        ("ram:CreateAccessKey", "success"),
        ("ram:DeleteAccessKey", "success"),
    ]
    assert events[1].arguments == {"id": issued.access_key_id}
    assert issued.access_key_secret not in json.dumps(list(AuditEvent.objects.values()), default=str)


def test_the_admin_never_adds_changes_or_deletes_audit_events(client: Client, alice: Any) -> None:
    from oauth.audit import record_event

    event = record_event(kind="console", account_id=alice.account_id, user=alice, action="x:Y", outcome="success")
    operator = get_user_model().objects.create_superuser("root", "root@example.com", "root-password")
    client.force_login(operator)
    assert client.get("/admin/runtime/auditevent/").status_code == 200
    assert client.get(f"/admin/runtime/auditevent/{event.pk}/change/").status_code == 200  # viewable
    changed = client.post(f"/admin/runtime/auditevent/{event.pk}/change/", {"outcome": "error"})
    assert changed.status_code == 403
    assert client.post(f"/admin/runtime/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = client.post(
        "/admin/runtime/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)  # the action is not offered: nothing is deleted
    event.refresh_from_db()
    assert event.outcome == "success" and AuditEvent.objects.count() == 1
