from django.contrib.auth import get_user_model

from oauth.crypto import encrypt
from oauth.models import Connection
from runtime.models import AuditEvent


def test_operators_see_connections_without_their_secrets(client, account_a):
    operator = get_user_model().objects.create_superuser("root", "root@example.com", "root-password")
    client.force_login(operator)
    connection = Connection.objects.create(
        account=account_a, product="Ecs", auth_type="bearer", secrets_encrypted=encrypt('{"token": "s3cr3t-value"}')
    )
    page = client.get(f"/admin/oauth/connection/{connection.pk}/change/")
    assert page.status_code == 200
    assert b"s3cr3t-value" not in page.content
    assert connection.secrets_encrypted.encode() not in page.content
    assert client.get("/admin/oauth/connection/").status_code == 200


def test_audit_events_are_read_only_in_the_admin(client, db):
    operator = get_user_model().objects.create_superuser("root", "root@example.com", "root-password")
    client.force_login(operator)
    assert client.get("/admin/runtime/auditevent/").status_code == 200
    assert client.get("/admin/runtime/auditevent/add/").status_code == 403
    assert AuditEvent.objects.count() == 0
