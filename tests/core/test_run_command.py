"""`manage.py up` (bin/run) as a user runs it: real gunicorn, Celery worker and beat processes on the
embedded default (SQLite and the filesystem broker in a scratch SALLOQ_VAR_DIR), a real SMTP server."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.contacts.conftest import SmtpSink, free_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("DATABASE_URL", "REDIS_URL", "CACHE_URL", "CELERY_BROKER_URL", "SITE_URL", "ALLOWED_HOSTS")


class Run:
    def __init__(self, var: Path, port: int, env: dict[str, str]):
        self.var, self.port, self.env = var, port, env
        self.base = f"http://127.0.0.1:{port}"
        self.log = var / "run.log"
        self.process: subprocess.Popen | None = None

    def start(self, *args: str) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "up", "--port", str(self.port), *args],
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_web(self, timeout: float = 150) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()[-3000:]
            try:
                if httpx.get(f"{self.base}/accounts/login/", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError("the web UI did not come up:\n" + self.output()[-3000:])

    def manage(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def child_pid(self, role: str) -> int:
        """The pid of the `celery worker`/`celery beat`/gunicorn process that `up` started."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.process.pid and role.encode() in command:
                return int(entry.name)
        raise AssertionError(f"no {role} process under manage.py up")

    def wait_for_line(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, f"{text!r} not printed:\n" + self.output()[-3000:]
            time.sleep(0.2)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture(scope="module")
def smtp():
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, sink
    controller.stop()


@pytest.fixture(scope="module")
def running(tmp_path_factory, smtp):
    """One `manage.py up --port <free port>` for the module: starting it (migrations) takes a while."""
    var = tmp_path_factory.mktemp("run-var")
    env = {k: v for k, v in os.environ.items() if k not in SERVICES and k != "DJANGO_SETTINGS_MODULE"}
    env.update(SALLOQ_VAR_DIR=str(var), EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp[0]), EMAIL_TIMEOUT="5")
    run = Run(var, free_port(), env)
    run.start()
    try:
        run.wait_for_web()
        yield run
    finally:
        if run.process.poll() is None:
            run.stop()


def test_confirmation_links_follow_the_port_given_to_up(running, smtp):
    """Before: links said the default http://127.0.0.1:8000 whatever --port was given."""
    _, sink = smtp
    demo = json.loads((running.var / "demo-credentials.json").read_text())
    headers = {"Authorization": f"Bearer {demo['api_key']}", "X-Company-ID": str(demo["company_id"])}
    with httpx.Client(base_url=running.base, headers=headers, timeout=10) as api:
        created = api.post("/api/lists", json={"name": "Port check", "double_opt_in": True})
        assert created.status_code == 201, created.text
        added = api.post(f"/api/lists/{created.json()['list_id']}/members", json={"emails": ["ada@example.com"]})
        assert added.status_code in (200, 201), added.text
    body = sink.wait_for(1, timeout=60)[0].get_body(("plain",)).get_content()
    assert f"{running.base}/c/" in body
    assert "127.0.0.1:8000" not in body


def _probe_completed(var: Path, probe_id: int) -> bool:
    with sqlite3.connect(var / "salloq.sqlite3", timeout=20) as db:
        row = db.execute("SELECT completed_at FROM core_taskprobe WHERE id = ?", [probe_id]).fetchone()
    return row is not None and row[0] is not None


HOLD_A_PROBE = """
from salloq.core.models import TaskProbe
from salloq.core.tasks import complete_probe
probe = TaskProbe.objects.create()
complete_probe.apply_async((probe.pk,), countdown=6)
print(probe.pk)
"""


def test_a_worker_killed_with_sigkill_is_restarted_and_the_web_stays_up(running):
    """Before: `up` stopped the web UI and everything else when the worker died."""
    assert running.manage("check_worker", "--timeout", "90").returncode == 0
    failures: list[str] = []
    polling = True

    def poll_web():
        while polling:
            try:
                status = httpx.get(f"{running.base}/accounts/login/", timeout=5).status_code
                if status != 200:
                    failures.append(str(status))
            except httpx.TransportError as exc:
                failures.append(repr(exc))
            time.sleep(0.1)

    poller = threading.Thread(target=poll_web, daemon=True)
    poller.start()
    try:
        # A task waiting for its countdown, held by the worker when it dies.
        held = running.manage("shell", "-c", HOLD_A_PROBE)
        assert held.returncode == 0, held.stderr
        probe_id = int(held.stdout.split()[-1])
        unacked = running.var / "broker" / "unacked"
        deadline = time.monotonic() + 30
        while not any(folder.is_dir() and any(folder.iterdir()) for folder in unacked.iterdir()):
            assert time.monotonic() < deadline, "the worker never took the probe"
            time.sleep(0.1)
        os.kill(running.child_pid("worker"), signal.SIGKILL)
        running.wait_for_line("worker exited with code -9; restarting it (restart 1)")
        checked = running.manage("check_worker", "--timeout", "90")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        deadline = time.monotonic() + 60
        while not _probe_completed(running.var, probe_id):
            assert time.monotonic() < deadline, "the task the dead worker held never ran"
            time.sleep(0.5)
    finally:
        polling = False
        poller.join()
    assert failures == []


def test_beat_and_web_are_restarted_too_and_sigterm_stops_everything(running):
    os.kill(running.child_pid("beat"), signal.SIGKILL)
    running.wait_for_line("beat exited with code -9; restarting it (restart 1)")
    os.kill(running.child_pid("gunicorn"), signal.SIGKILL)
    running.wait_for_line("web exited with code -9; restarting it (restart 1)")
    running.wait_for_web(timeout=60)
    children = [running.child_pid(role) for role in ("worker", "beat", "gunicorn")]
    assert running.stop() == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
