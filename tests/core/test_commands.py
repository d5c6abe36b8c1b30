import json
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import RequestFactory

from salloq.core import apikeys
from salloq.core.models import ApiKey, Company, Heartbeat, TaskProbe
from salloq.core.selectors import HEARTBEAT_STALE_AFTER
from salloq.core.tasks import record_heartbeat
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db
BASE = Path(__file__).resolve().parents[2]


def run_create_api_key(*args) -> dict:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_create_api_key_creates_company_and_prints_json_last_line():
    result = run_create_api_key("--company", "Acme Shop")
    company = Company.objects.get(name="Acme Shop")
    assert result == {"company_id": company.pk, "api_key": result["api_key"]}
    assert apikeys.is_well_formed(result["api_key"])
    api_key = ApiKey.objects.get(key_hash=apikeys.hash_key(result["api_key"]))
    assert api_key.scopes == ["*"] and api_key.hourly_limit == 1000
    assert company.webhook_secret.startswith("whsec_")
    # The printed key works against the API.
    assert ApiClient(result["api_key"], company.pk).get("/api/").status_code == 200


def test_create_api_key_reuses_the_company_and_honours_scopes_and_limit():
    first = run_create_api_key("--company", "Acme Shop")
    second = run_create_api_key("--company", "Acme Shop", "--scopes", "contacts:read,events:write", "--limit", "50")
    assert first["company_id"] == second["company_id"] and first["api_key"] != second["api_key"]
    api_key = ApiKey.objects.get(key_hash=apikeys.hash_key(second["api_key"]))
    assert api_key.scopes == ["contacts:read", "events:write"] and api_key.hourly_limit == 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scopes", "contacts:delete"], "Unknown scope"),
        (["--limit", "0"], "hourly limit"),
        (["--expires-in-days", "0"], "--expires-in-days"),
    ],
)
def test_create_api_key_rejects_bad_input_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", "--company", "Acme Shop", *args, stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()


def test_create_api_key_from_a_real_process_prints_json_as_last_line(tmp_path):
    env = {"SALLOQ_VAR_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], env=env, check=True, cwd=BASE)
    done = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "--company", "Acme Shop"],
        env=env,
        cwd=BASE,
        check=True,
        capture_output=True,
        text=True,
    )
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["company_id"] == 1 and last["api_key"].startswith("sqm_")


def test_check_worker_round_trip_through_a_real_worker(celery_worker_thread):
    out = StringIO()
    call_command("check_worker", "--timeout", "20", stdout=out)
    assert "completed probe" in out.getvalue()
    assert TaskProbe.objects.get().completed_at is not None


def test_check_worker_fails_clearly_without_a_worker(transactional_db):
    with pytest.raises(CommandError, match="No worker completed probe"):
        call_command("check_worker", "--timeout", "1", stdout=StringIO())


def test_heartbeat_task_runs_on_a_real_worker(celery_worker_thread):
    record_heartbeat.delay()
    deadline = time.monotonic() + 20
    while not Heartbeat.objects.filter(name="worker-heartbeat").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Heartbeat.objects.get(name="worker-heartbeat").worker


def test_beat_loads_every_job_and_its_heartbeat_reaches_a_real_worker(celery_worker_thread):
    """Beat's own scheduler (django-celery-beat's, as `celery beat` runs it) loads the schedule from code:
    every entry names a task the worker has, and the heartbeat, sent the way beat sends it, is recorded."""
    from django_celery_beat.schedulers import DatabaseScheduler

    from salloq.celery import app

    schedule = DatabaseScheduler(app=app).schedule
    assert {name: entry.task for name, entry in schedule.items() if entry.task not in app.tasks} == {}
    # Beats often enough that the dashboard does not call a live worker dead.
    assert schedule["worker-heartbeat"].is_due().next < HEARTBEAT_STALE_AFTER.total_seconds()
    DatabaseScheduler(app=app).apply_async(schedule["worker-heartbeat"])
    deadline = time.monotonic() + 20
    while not Heartbeat.objects.filter(name="worker-heartbeat").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Heartbeat.objects.get(name="worker-heartbeat").worker


def test_demo_setup_is_idempotent_and_keeps_printing_working_credentials(settings, tmp_path):
    from django.contrib.auth import authenticate

    from salloq.core.demo import ensure_demo

    settings.VAR_DIR = tmp_path
    first = ensure_demo()
    second = ensure_demo()
    assert first == second
    # django-axes counts login attempts per client, so authenticate() needs the request.
    request = RequestFactory().post("/accounts/login/")
    assert authenticate(request, username=first["username"], password=first["password"]) is not None
    assert ApiClient(first["api_key"], first["company_id"]).get("/api/").status_code == 200
    assert (tmp_path / "demo-credentials.json").stat().st_mode & 0o077 == 0
