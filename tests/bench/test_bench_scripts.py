"""The benchmark scripts still run, on a tiny scale: they write to the project's tables with their
own SQL and requests, so a schema change can break them without any other test noticing (the
segment bench did, when tags moved onto the contact). Their figures are not checked here."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _pg_url() -> str:
    settings = connection.settings_dict
    user = settings.get("USER") or "postgres"
    return f"postgres://{user}@{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or 5432}"


def _run(script: str, *args: str, tmp_path: Path) -> dict:
    results = tmp_path / f"{script}.json"
    database = f"salloq_benchtest_{uuid.uuid4().hex[:10]}"  # xdist processes and other runs never share one
    command = [sys.executable, str(ROOT / "bench" / f"{script}.py"), *args]
    command += ["--pg-url", _pg_url(), "--db-name", database, "--results", str(results)]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    with connection.cursor() as cursor:  # the script drops its scratch database, whatever happens
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [database])
        assert cursor.fetchone()[0] == 0
    return json.loads(results.read_text())


def test_segment_count_bench_runs_and_both_counts_agree(tmp_path):
    results = _run("segment_count", "--contacts", "2000", "--events", "20000", "--rounds", "1", tmp_path=tmp_path)
    # The script itself fails when the two counts disagree; a segment of nobody would prove nothing.
    assert results["contacts"] == 2000 and results["count"] > 0, results
    assert len(results["orm_ms"]) == len(results["hand_ms"]) == 1


def test_segment_budget_bench_runs_every_worst_case_inside_the_budget(tmp_path):
    results = _run("segment_budget", "--contacts", "2000", "--events", "20000", "--rounds", "1", tmp_path=tmp_path)
    # The script itself fails when a worst case is over the budget or matches anyone (then its rules
    # would not all be tested on every contact).
    assert results["contacts"] == 2000 and len(results["cases_ms"]) == 6, results
    assert results["median_baseline_ms"] > 0 and results["slowest"] in results["medians_ms"]


def test_csv_import_bench_imports_every_row(tmp_path):
    results = _run("csv_import", "--rows", "2000", tmp_path=tmp_path)
    assert (results["rows"], results["created"], results["errors"]) == (2000, 2000, 0), results
    assert results["rows_per_second"] > 0


@pytest.mark.redis
def test_bulk_upsert_bench_creates_and_updates_every_contact(tmp_path):
    results = _run(
        "contacts_bulk_upsert",
        "--contacts",
        "2000",
        "--rounds",
        "1",
        "--workers",
        "2",
        "--clients",
        "2",
        tmp_path=tmp_path,
    )
    assert results["settings"]["contacts"] == 2000 and len(results["rounds"]) == 1, results
    assert all(rate > 0 for rate in results["median_per_second"].values()), results


@pytest.mark.redis
def test_events_batch_bench_stores_every_event(tmp_path):
    results = _run(
        "events_batch",
        "--events",
        "2000",
        "--contacts",
        "200",
        "--rounds",
        "1",
        "--workers",
        "2",
        "--clients",
        "2",
        "--redis-url",
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
        tmp_path=tmp_path,
    )
    # The script itself fails when an event is refused, a duplicate, or missing from the table.
    assert results["settings"]["events"] == 2000 and len(results["rounds"]) == 1, results
    assert all(rate > 0 for rate in results["median_per_second"].values()), results


@pytest.mark.redis
def test_events_ingest_bench_posts_to_both_targets(tmp_path):
    if not shutil.which("wrk"):
        pytest.skip("needs wrk (apt-get install wrk)")
    results = _run(
        "events_ingest",
        *("--duration", "2", "--rounds", "1", "--warmup", "1", "--connections", "4", "--workers", "2"),
        *("--contacts", "50", "--redis-url", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")),
        tmp_path=tmp_path,
    )
    # The script itself fails on any non-2xx answer or an answered event missing from the table.
    assert set(results["median_events_per_second"]) == {"floor", "api"}, results
    assert all(rate > 0 for rate in results["median_events_per_second"].values()), results


@pytest.mark.redis
def test_product_upsert_bench_creates_and_updates_every_product(tmp_path):
    results = _run(
        "product_upsert",
        *("--products", "1000", "--rounds", "1", "--workers", "2", "--clients", "2"),
        *("--redis-url", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")),
        tmp_path=tmp_path,
    )
    # The script itself fails when a product is not created or updated, or the table disagrees.
    assert results["settings"]["products"] == 1000 and len(results["rounds"]) == 1, results
    assert all(rate > 0 for rate in results["median_per_second"].values()), results


def _profile(script: str, *args: str) -> str:
    """An in-process profile script's output; it drops its scratch database, whatever happens."""
    database = f"salloq_benchtest_{uuid.uuid4().hex[:10]}"
    command = [sys.executable, str(ROOT / "bench" / f"{script}.py"), *args]
    command += ["--pg-url", _pg_url(), "--db-name", database]
    command += ["--redis-url", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [database])
        assert cursor.fetchone()[0] == 0
    return finished.stdout


@pytest.mark.redis
def test_product_upsert_profile_measures_batches_that_update_every_product():
    # The script fails when an answer is not 200 or not every product of a request was updated.
    stdout = _profile("product_upsert_profile", "--requests", "3", "--mode", "update")
    assert "3 POST" in stdout and "PostgreSQL backend" in stdout, stdout


@pytest.mark.redis
def test_events_profile_measures_the_api_beside_the_floor():
    # The script fails when an answer is not 2xx or the database connection changed under it.
    stdout = _profile("events_profile", "--requests", "5", "--rounds", "1", "--profile", "25")
    assert "floor  web CPU" in stdout and "api    web CPU" in stdout, stdout
    assert "_lean_post" in stdout, stdout  # the API's requests took the lean path


def test_shop_sync_bench_makes_the_fewest_requests_and_a_second_run_changes_nothing(tmp_path):
    results = _run(
        "shop_sync",
        *("--customers", "200", "--orders", "400", "--products", "120", "--subscriptions", "10"),
        tmp_path=tmp_path,
    )
    # The script itself fails when a record is missing or doubled, or the second run changes anything.
    assert results["requests"] == results["minimum_requests"] == 2 + 4 + 2 * 200 + 10, results
    assert results["second_run_requests"] == 3 and results["seconds"] > 0, results


@pytest.mark.redis
def test_campaign_send_bench_delivers_every_message_on_every_side(tmp_path):
    if not Path("/usr/sbin/smtp-sink").exists():
        pytest.skip("needs smtp-sink (apt-get install postfix)")
    results = _run(
        "campaign_send",
        *("--contacts", "200", "--repeats", "1", "--profile-contacts", "200", "--peer-optional"),
        *("--redis-url", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")),
        tmp_path=tmp_path,
    )
    # The script itself fails unless every side delivers exactly 200 messages to the sink and every
    # recipient row ends sent. The peer is left out (with a note) only when pip cannot install it.
    sides = {"ours", "floor"} | ({"peer"} if not results["peer_note"] else set())
    assert {run["side"] for run in results["runs"]} == sides, results
    assert all(run["messages"] == 200 and run["messages_per_second"] > 0 for run in results["runs"]), results
    assert results["message_bytes"] > 8000 and results["median_cpu_us_per_message"]["ours"] > 0, results
    # The workers' task code was profiled and its CPU split into parts, rendering and SMTP among them.
    assert {"render", "smtp", "database"} <= set(results["profile"]["parts_us_per_message"]), results["profile"]
