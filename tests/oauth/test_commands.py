import json

import pytest
from django.core.management import CommandError, call_command

from oauth.crypto import decrypt
from oauth.models import AccessKey, Account, User


def test_create_user_with_new_account_makes_an_admin(db, capsys):
    call_command("create_user", "--account", "new", "--username", "dana", "--password", "dana-password", "--admin")
    user = User.objects.get(username="dana")
    assert user.account is not None and user.account.id.isdigit()
    assert user.is_account_admin
    assert user.check_password("dana-password")
    assert user.policies.filter(name="AdministratorAccess").exists()
    assert f"account {user.account_id}" in capsys.readouterr().out


def test_create_user_in_existing_account_is_not_admin(alice):
    call_command("create_user", "--account", alice.account_id, "--username", "erin", "--password", "erin-password")
    erin = User.objects.get(username="erin")
    assert erin.account_id == alice.account_id
    assert not erin.is_account_admin
    assert erin.policies.count() == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--account", "999", "--username", "x1", "--password", "long-enough"], "account 999 does not exist"),
        (["--account", "new", "--username", "alice", "--password", "long-enough"], "username 'alice' is taken"),
        (["--account", "new", "--username", "x2", "--password", "short"], "at least 8 characters"),
    ],
)
def test_create_user_refuses_bad_input_and_writes_nothing(alice, args, message):
    accounts, users = Account.objects.count(), User.objects.count()
    with pytest.raises(CommandError, match=message):
        call_command("create_user", *args)
    assert (Account.objects.count(), User.objects.count()) == (accounts, users)


def test_create_access_key_prints_a_usable_pair_once(alice, capsys):
    call_command("create_access_key", "--user", "alice")
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"AccessKeyId", "AccessKeySecret", "AccountId"}
    assert printed["AccountId"] == alice.account_id
    key = AccessKey.objects.get(id=printed["AccessKeyId"])
    assert printed["AccessKeySecret"] not in key.secret_encrypted
    assert decrypt(key.secret_encrypted) == printed["AccessKeySecret"]


def test_create_access_key_for_unknown_user_fails(db):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("create_access_key", "--user", "nobody")
