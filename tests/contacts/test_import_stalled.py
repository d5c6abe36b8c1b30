"""Stalled CSV imports: a progress heartbeat, and a beat job that resumes imports whose worker died,
with every row imported exactly once (in-process with a real worker thread, and with a real worker
process killed with SIGKILL)."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import close_old_connections
from django.utils import timezone

from contacts import imports, tasks
from contacts.models import Contact, ContactImport, ImportStatus

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def csv_of(rows: int) -> str:
    return "email,first_name\n" + "".join(f"row{n}@example.com,Row{n}\n" for n in range(rows))


def create_import(company, rows: int) -> ContactImport:
    upload = ContentFile(csv_of(rows).encode(), name="contacts.csv")
    mapping = {"email": "email", "first_name": "first_name"}
    return imports.contact_import_create(company=company, uploaded_file=upload, mapping=mapping, enqueue=False)


class WorkerKilled(Exception):
    """Stands for a SIGKILL: the run stops after a committed chunk and nothing marks the import."""


def die_after_first_chunk(progress):
    raise WorkerKilled


def test_every_committed_chunk_moves_the_heartbeat(company, monkeypatch):
    contact_import = create_import(company, 2500)
    beats = []
    monkeypatch.setattr(imports, "CHUNK_SIZE", 1000)
    imports.contact_import_run(
        import_id=contact_import.pk,
        on_progress=lambda _: beats.append(ContactImport.objects.get(pk=contact_import.pk).heartbeat_at),
    )
    assert len(beats) == 3 and all(beats) and beats == sorted(beats)


def test_the_beat_job_resumes_a_stalled_import_from_its_last_chunk(company, celery_worker_thread):
    """Before: an import whose worker died stayed "running" until the broker re-delivered its task
    (an hour with Redis; never, with the filesystem broker's lost message)."""
    contact_import = create_import(company, 3500)
    with pytest.raises(WorkerKilled):
        imports.contact_import_run(import_id=contact_import.pk, on_progress=die_after_first_chunk)
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.processed_rows) == (ImportStatus.RUNNING, 1000)

    # Fresh heartbeat: a run may still be at work, so nothing is resumed.
    tasks.resume_stalled_imports.delay()
    time.sleep(1)
    assert ContactImport.objects.get(pk=contact_import.pk).processed_rows == 1000

    stale = timezone.now() - timedelta(seconds=settings.CONTACT_IMPORT_STALLED_AFTER + 1)
    ContactImport.objects.filter(pk=contact_import.pk).update(heartbeat_at=stale)
    tasks.resume_stalled_imports.delay()
    deadline = time.monotonic() + 60
    while ContactImport.objects.get(pk=contact_import.pk).status == ImportStatus.RUNNING:
        assert time.monotonic() < deadline, "the stalled import was not resumed"
        time.sleep(0.2)
    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.DONE
    assert (contact_import.processed_rows, contact_import.created_count, contact_import.updated_count) == (
        3500,
        3500,
        0,
    )
    assert Contact.objects.for_company(company).count() == 3500


def test_two_resumers_never_claim_the_same_import(company, transactional_db):
    contact_import = create_import(company, 10)
    stale = timezone.now() - timedelta(minutes=10)
    ContactImport.objects.filter(pk=contact_import.pk).update(status=ImportStatus.RUNNING, heartbeat_at=stale)
    barrier = threading.Barrier(4)
    claims: list[list[int]] = []

    def resumer():
        barrier.wait()
        try:
            claims.append(imports.stalled_imports_claim(stalled_after=timedelta(minutes=3)))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=resumer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(claim) for claim in claims) == [0, 0, 0, 1]
    assert ContactImport.objects.get(pk=contact_import.pk).heartbeat_at > stale


SETUP = """
from django.core.files.base import ContentFile
from contacts import imports
from salloq.core.models import Company
company = Company.objects.create(name="Acme Shop")
text = "email,first_name\\n" + "".join(f"row{n}@example.com,Row{n}\\n" for n in range(ROWS))
upload = ContentFile(text.encode(), name="contacts.csv")
mapping = {"email": "email", "first_name": "first_name"}
print(imports.contact_import_create(company=company, uploaded_file=upload, mapping=mapping).pk)
"""


def test_an_import_whose_worker_is_killed_with_sigkill_finishes_with_every_row_once(tmp_path):
    """A real worker process killed mid-import; a new worker and beat finish the job."""
    rows = 30_000
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CACHE_URL", "CELERY_BROKER_URL"}
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(SALLOQ_VAR_DIR=str(tmp_path), CONTACT_IMPORT_STALLED_AFTER="3")

    def manage(*args):
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def celery(*args):
        log = (tmp_path / f"{args[0]}.log").open("ab")
        command = [sys.executable, "-m", "celery", "-A", "salloq", *args, "--loglevel", "INFO"]
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def state():
        with sqlite3.connect(tmp_path / "salloq.sqlite3", timeout=30) as db:
            return db.execute(
                "SELECT status, processed_rows, total_rows, created_count, updated_count FROM contacts_contactimport"
            ).fetchone()

    manage("migrate", "-v", "0")
    manage("shell", "-c", SETUP.replace("ROWS", str(rows)))
    worker_args = ("worker", "--pool", "prefork", "--concurrency", "1", "--without-gossip", "--without-mingle")
    processes = [celery(*worker_args)]
    try:
        deadline = time.monotonic() + 120
        while (current := state())[1] < 1000:
            assert time.monotonic() < deadline, f"the import did not start: {current}"
            time.sleep(0.05)
        os.killpg(processes[0].pid, signal.SIGKILL)
        processes[0].wait()
        status, processed, total, _, _ = state()
        assert status == "running" and 0 < processed < total == rows, "killed too late to prove anything"

        processes += [celery(*worker_args), celery("beat")]
        deadline = time.monotonic() + 180
        while (current := state())[0] == "running":
            assert time.monotonic() < deadline, f"the import was not resumed: {current}"
            time.sleep(0.5)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert state() == ("done", rows, rows, rows, 0)
    with sqlite3.connect(tmp_path / "salloq.sqlite3") as db:
        assert db.execute("SELECT count(*), count(DISTINCT email) FROM contacts_contact").fetchone() == (rows, rows)
