"""Development defaults that are safe on a reachable port: a random SECRET_KEY kept in var/, and
Django's debug pages (technical 404/500) only for clients on loopback."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from config import keyfile
from tests.conftest import fresh_settings

ROOT = Path(__file__).resolve().parents[2]
STRANGER = "203.0.113.7"


# SECRET_KEY --------------------------------------------------------------------------------------


def test_the_key_file_is_made_once_private_and_random(tmp_path):
    target = tmp_path / "secret_key"
    first = keyfile.read_or_create(target)
    assert len(first) >= 50
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert keyfile.read_or_create(target) == first
    assert keyfile.read_or_create(tmp_path / "another") != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["another", "secret_key"]  # no temporary files left


def test_processes_starting_together_agree_on_one_key(tmp_path):
    target = tmp_path / "secret_key"
    code = (
        "import sys; from pathlib import Path; from config import keyfile; "
        "sys.stdin.read(); print(keyfile.read_or_create(Path(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(target)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    keys = [p.communicate("go", timeout=60)[0].strip() for p in procs]  # all released at once
    assert all(p.returncode == 0 for p in procs)
    assert len(set(keys)) == 1
    assert keys[0] == target.read_text().strip()
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


def test_an_unusable_key_file_stops_start_up_instead_of_being_replaced(tmp_path):
    target = tmp_path / "secret_key"
    target.write_text("short\n")
    with pytest.raises(RuntimeError, match="holds no usable key"):
        keyfile.read_or_create(target)
    assert target.read_text() == "short\n"


def settings_in_a_new_process(**env: str) -> dict[str, Any]:
    code, err, value = fresh_settings(
        "{'secret': s.SECRET_KEY, 'fernet': s.FIELD_ENCRYPTION_KEY}",
        env,
        drop=lambda k: k in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DEBUG"),
    )
    assert code == 0, err
    return dict(value)


def test_without_secret_key_development_uses_the_key_in_var_across_restarts():
    first = settings_in_a_new_process()
    second = settings_in_a_new_process()
    assert first == second  # sessions and the secrets encrypted at rest survive a restart
    assert first["secret"] == (ROOT / "var" / "secret_key").read_text().strip()
    assert "insecure" not in first["secret"]
    assert settings_in_a_new_process(SECRET_KEY="x" * 60)["secret"] == "x" * 60


def test_without_secret_key_debug_off_refuses_to_start():
    clean = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in done.stderr


# Debug pages -------------------------------------------------------------------------------------


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom-internal-detail")


urlpatterns = [path("boom/", boom), path("", include("config.urls"))]


@pytest.fixture
def debug_on(settings: Any) -> None:
    settings.DEBUG = True
    settings.ROOT_URLCONF = __name__


def client() -> Client:
    return Client(raise_request_exception=False)


@pytest.mark.django_db
def test_an_unknown_url_lists_the_url_patterns_only_on_loopback(debug_on):
    local = client().get("/no-such-page/", REMOTE_ADDR="127.0.0.1")
    remote = client().get("/no-such-page/", REMOTE_ADDR=STRANGER)
    mapped = client().get("/no-such-page/", REMOTE_ADDR=f"::ffff:{STRANGER}")
    assert local.status_code == remote.status_code == mapped.status_code == 404
    assert b"Using the URLconf defined in" in local.content
    for answer in (remote, mapped):
        assert b"URLconf" not in answer.content and b"apimcpservers" not in answer.content
        assert b"There is nothing here" in answer.content  # templates/404.html


@pytest.mark.django_db
def test_a_404_raised_by_a_view_is_the_plain_page_off_loopback(debug_on, alice):
    for address, technical in (("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True), (STRANGER, False)):
        browser = client()
        browser.force_login(alice)
        answer = browser.get("/servers/no-such-server/", REMOTE_ADDR=address)
        assert answer.status_code == 404
        assert (b"Raised by:" in answer.content) is technical, address
        assert (b"There is nothing here" in answer.content) is not technical


@pytest.mark.django_db
def test_an_error_shows_the_traceback_only_on_loopback(debug_on):
    local = client().get("/boom/", REMOTE_ADDR="127.0.0.1")
    remote = client().get("/boom/", REMOTE_ADDR=STRANGER)
    remote_text = client().get("/boom/", REMOTE_ADDR=STRANGER, HTTP_ACCEPT="application/json")
    assert local.status_code == remote.status_code == remote_text.status_code == 500
    assert b"boom-internal-detail" in local.content and b"Traceback" in local.content
    assert b"boom-internal-detail" not in remote.content and b"Traceback" not in remote.content
    assert b"Something went wrong" in remote.content  # templates/500.html
    assert remote_text.content == b"Server Error (500)"


@pytest.mark.django_db
def test_a_disallowed_host_shows_the_settings_only_on_loopback(debug_on):
    local = client().get("/", HTTP_HOST="evil.example", REMOTE_ADDR="127.0.0.1")
    remote = client().get("/", HTTP_HOST="evil.example", REMOTE_ADDR=STRANGER)
    assert local.status_code == remote.status_code == 400
    assert b"DisallowedHost" in local.content
    assert b"DisallowedHost" not in remote.content and b"ALLOWED_HOSTS" not in remote.content
    assert b"Bad Request (400)" in remote.content


@pytest.mark.django_db
def test_with_debug_off_nobody_gets_debug_pages(settings):
    settings.ROOT_URLCONF = __name__
    for address in ("127.0.0.1", STRANGER):
        assert b"URLconf" not in client().get("/no-such-page/", REMOTE_ADDR=address).content
        error = client().get("/boom/", REMOTE_ADDR=address)
        assert error.status_code == 500 and b"Traceback" not in error.content
