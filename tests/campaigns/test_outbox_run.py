"""The embedded default tried without a mail server: `manage.py up` (bin/run) with no EMAIL_HOST runs
the mail catcher as one more supervised child, mail the product sends lands in the company's Outbox,
and the catcher is restarted like the others. With EMAIL_HOST set it is not started."""

import json
import os
import re
import signal
import smtplib
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from salloq.core.management.commands.up import Command as UpCommand
from tests.contacts.conftest import free_port
from tests.core.test_run_command import ROOT, SERVICES, Run

EMAIL_SETTINGS = ("EMAIL_HOST", "EMAIL_PORT", "MAIL_CATCHER", "MAIL_CATCHER_KEEP")


def bare_environment(**extra: str) -> dict[str, str]:
    """The environment of someone trying the product: no services, no mail settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in SERVICES and k not in EMAIL_SETTINGS and k != "DJANGO_SETTINGS_MODULE"
    }
    env.update(extra)
    return env


def outbox_rows(var: Path) -> list[tuple[int | None, str, str]]:
    with sqlite3.connect(var / "salloq.sqlite3", timeout=20) as db:
        return db.execute("SELECT company_id, recipients, subject FROM campaigns_outboxmessage ORDER BY id").fetchall()


def wait_for_outbox(var: Path, count: int, timeout: float = 90) -> list[tuple[int | None, str, str]]:
    deadline = time.monotonic() + timeout
    while len(rows := outbox_rows(var)) < count:
        assert time.monotonic() < deadline, f"the Outbox holds {len(rows)} of {count} messages"
        time.sleep(0.5)
    return rows


def log_in(dashboard: httpx.Client, demo: dict) -> None:
    form = dashboard.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    answer = dashboard.post(
        "/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": demo["username"], "password": demo["password"]},
    )
    assert answer.status_code == 302, answer.text[:500]


@pytest.fixture(scope="module")
def running_without_mail_server(tmp_path_factory):
    var = tmp_path_factory.mktemp("outbox-run-var")
    mail_port = free_port()
    run = Run(var, free_port(), bare_environment(SALLOQ_VAR_DIR=str(var), EMAIL_PORT=str(mail_port)))
    run.mail_port = mail_port
    run.start()
    try:
        run.wait_for_web()
        yield run
    finally:
        if run.process.poll() is None:
            run.stop()


def test_up_without_email_host_catches_the_mail_it_sends_and_shows_it_in_the_outbox(running_without_mail_server):
    run = running_without_mail_server
    run.wait_for_line(f"Mail catcher on 127.0.0.1:{run.mail_port} — sent mail shows under Outbox")
    demo = json.loads((run.var / "demo-credentials.json").read_text())
    headers = {"Authorization": f"Bearer {demo['api_key']}", "X-Company-ID": str(demo["company_id"])}
    with httpx.Client(base_url=run.base, headers=headers, timeout=10) as api:
        created = api.post("/api/lists", json={"name": "Outbox check", "double_opt_in": True})
        assert created.status_code == 201, created.text
        added = api.post(f"/api/lists/{created.json()['list_id']}/members", json={"emails": ["ada@example.com"]})
        assert added.status_code in (200, 201), added.text

    # The worker sent the confirmation over SMTP to the catcher, which filed it under the demo company.
    caught = [row for row in wait_for_outbox(run.var, 1) if row[1] == "ada@example.com"]
    assert caught == [(demo["company_id"], "ada@example.com", "Please confirm your subscription to Outbox check")]

    with httpx.Client(base_url=run.base, timeout=10) as dashboard:
        log_in(dashboard, demo)
        dashboard_page = dashboard.get("/").text
        assert ">Outbox</a>" in dashboard_page
        outbox = dashboard.get("/campaigns/outbox/")
        assert outbox.status_code == 200
        assert "Please confirm your subscription to Outbox check" in outbox.text
        message_path = re.search(r'href="(/campaigns/outbox/\d+/)"', outbox.text).group(1)
        message = dashboard.get(message_path)
        assert message.status_code == 200
        assert '<iframe sandbox="" srcdoc="' in message.text
        assert "/c/confirm/" in message.text  # the text part, with its confirmation link


def test_the_mail_catcher_is_restarted_when_it_dies(running_without_mail_server):
    run = running_without_mail_server
    os.kill(run.child_pid("mailcatcher"), signal.SIGKILL)
    run.wait_for_line("mailcatcher exited with code -9; restarting it (restart 1)")
    deadline = time.monotonic() + 60
    while True:
        try:
            with smtplib.SMTP("127.0.0.1", run.mail_port, timeout=5) as client:
                client.sendmail("a@example.com", ["after-restart@example.com"], b"Subject: back\r\n\r\nhi\r\n")
            break
        except OSError:
            assert time.monotonic() < deadline, "the restarted catcher never answered"
            time.sleep(0.5)
    assert ("after-restart@example.com", "back") in [row[1:] for row in outbox_rows(run.var)]


def test_sigterm_stops_the_catcher_with_the_rest(running_without_mail_server):
    run = running_without_mail_server
    catcher = run.child_pid("mailcatcher")
    assert run.stop() == 0
    assert not Path(f"/proc/{catcher}").exists() or "Z" in Path(f"/proc/{catcher}/stat").read_text().split()[2]
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", run.mail_port, timeout=5)


@pytest.mark.parametrize(
    ("environment", "catcher"),
    [
        ({}, "True"),
        ({"EMAIL_HOST": ""}, "True"),
        ({"EMAIL_HOST": "smtp.example.com"}, "False"),
        ({"EMAIL_HOST": "127.0.0.1"}, "False"),
        ({"MAIL_CATCHER": "0"}, "False"),
        ({"EMAIL_HOST": "smtp.example.com", "MAIL_CATCHER": "1"}, "True"),
    ],
)
def test_the_mail_catcher_is_on_exactly_when_email_host_is_not_set(tmp_path, environment, catcher):
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.MAIL_CATCHER)",
        ],
        cwd=ROOT,
        env=bare_environment(SALLOQ_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="salloq.settings", **environment),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == catcher


def test_a_bad_mail_catcher_value_stops_start_up_naming_it(tmp_path):
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=bare_environment(
            SALLOQ_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="salloq.settings", MAIL_CATCHER="maybe"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode != 0
    assert "MAIL_CATCHER='maybe' is not a boolean" in shown.stderr


@pytest.mark.parametrize("catcher", [True, False])
def test_up_supervises_the_catcher_only_when_it_is_on(settings, catcher):
    settings.MAIL_CATCHER = catcher
    commands = UpCommand()._commands("127.0.0.1", 8000)
    assert set(commands) == {"web", "worker", "beat", *(["mailcatcher"] if catcher else [])}
    if catcher:
        assert commands["mailcatcher"] == [sys.executable, "manage.py", "mailcatcher"]
