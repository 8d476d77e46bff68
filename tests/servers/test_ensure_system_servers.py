import pytest
from django.core.management import CommandError, call_command

from oauth.models import Account
from servers.models import McpServer


def test_existing_accounts_get_their_system_servers_once(settings, db, capsys):
    account = Account.objects.create(name="Older account")  # made without the service
    assert not McpServer.objects.filter(account=account).exists()
    settings.SYSTEM_SERVERS = True
    call_command("ensure_system_servers")
    call_command("ensure_system_servers", "--account", account.id)
    system = McpServer.objects.filter(account=account, source_type="system")
    assert system.count() >= 2
    assert {s.name for s in system} <= set(capsys.readouterr().out.replace(",", " ").split())


def test_unknown_account_is_refused(settings, db):
    settings.SYSTEM_SERVERS = True
    with pytest.raises(CommandError, match="account 42 does not exist"):
        call_command("ensure_system_servers", "--account", "42")
