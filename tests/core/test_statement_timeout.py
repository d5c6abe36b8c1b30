"""WEB_STATEMENT_TIMEOUT_MS: every statement of a web request is cut off by the database; a cut-off
count is a 503 in the API's error shape, a message in the dashboard, and never a 500. Code that is
not a web request (management commands, Celery tasks) is not limited, and a persistent connection
carries no limit out of a request.

On PostgreSQL the slow statement is a count waiting on a lock another connection holds (exactly as
slow as the test wants); on SQLite, which cannot be made to wait that way, a count that works for
several hundred milliseconds."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import OperationalError, connection

from contacts.models import Contact
from contacts.segments import segment_contacts
from contacts.segments.budget import MAX_COST, RULE_COST
from contacts.segments.services import segment_create
from salloq.core.db import is_statement_timeout

ROOT = Path(__file__).resolve().parents[2]
HX = {"HTTP_HX_REQUEST": "true"}
SUBSCRIBED = {"operator": "and", "rules": [{"field": "status", "comparison": "equals", "value": "subscribed"}]}
# As many property rules as the complexity budget allows, none matching: SQLite works on every one of
# them for every contact (each reads a text value and tries it as a number).
HEAVY = {
    "operator": "or",
    "rules": [
        {"field": f"properties.a.b.c.d.p{k}", "comparison": "greater_than", "value": 10**9}
        for k in range(1, MAX_COST // RULE_COST + 1)
    ],
}

sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="SQLite: real work makes it slow")


def pg_dsn() -> str:
    s = connection.settings_dict
    return f"host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432} user={s['USER'] or 'postgres'} dbname={s['NAME']}"


class TableLock:
    """Another connection holding a table (contacts_contact by default) in ACCESS EXCLUSIVE mode:
    every read and write of it waits."""

    def __init__(self, table: str = "contacts_contact"):
        self.table = table

    def __enter__(self):
        self.conn = psycopg.connect(pg_dsn())
        self.conn.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
        return self

    def __exit__(self, *exc):
        self.conn.rollback()
        self.conn.close()


@pytest.fixture
def limit(settings):
    settings.WEB_STATEMENT_TIMEOUT_MS = 300
    return settings


@pytest.fixture
def many(company):
    props = {"a": {"b": {"c": {"d": {f"p{k}": f"value {k}" for k in range(1, 51)}}}}}
    Contact.objects.bulk_create(
        [Contact(company=company, email=f"c{i}@example.com", properties=props) for i in range(10_000)]
    )


# --- PostgreSQL -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/segments/count", "/api.php/segments/count"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_api_count_cut_off_is_a_503_in_the_error_shape(api, limit, path):
    with TableLock():
        started = time.monotonic()
        response = api.post(path, {"definition": SUBSCRIBED})
        elapsed = time.monotonic() - started
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["error"] == "Query timed out" and body["code"] == 503
    assert "Simplify the request" in body["message"] and "0.3 s" in body["message"]
    assert elapsed < 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_dashboard_count_cell_and_live_panel_say_too_slow_instead_of_failing(viewer_client, company, limit):
    segment = segment_create(company=company, name="Subscribers", definition=SUBSCRIBED)
    with TableLock():
        cell = viewer_client.get(f"/contacts/segments/{segment.pk}/count/", **HX)
        live = viewer_client.post(
            "/contacts/segments/live/",
            {
                "operator": "and",
                "row": ["1"],
                "r1-field": "status",
                "r1-comparison": "equals",
                "r1-value": "subscribed",
            },
            **HX,
        )
        page = viewer_client.get("/contacts/")  # any other page: a page that says so, not a server error
    assert cell.status_code == 200 and "too slow to count" in cell.content.decode()
    assert live.status_code == 200 and "Too slow to count" in live.content.decode()
    assert "The rules are valid and can be saved" in live.content.decode()
    assert page.status_code == 503
    assert "Too slow" in page.content.decode() and "Simplify the request" in page.content.decode()


def backend_and_limit(conn) -> tuple[int, str]:
    with conn.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), current_setting('statement_timeout')")
        return cursor.fetchone()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_carries_no_limit_out_of_a_request_and_gets_it_again_in_the_next(api, limit):
    assert connection.settings_dict["CONN_MAX_AGE"] > 0  # the connection outlives each request
    for _ in range(2):
        with TableLock():
            assert api.post("/api/segments/count", {"definition": SUBSCRIBED}).status_code == 503
        pid, timeout = backend_and_limit(connection)
        assert timeout == "0"
    assert api.post("/api/segments/count", {"definition": SUBSCRIBED}).status_code == 200
    assert backend_and_limit(connection) == (pid, "0")  # the same connection all along


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_management_commands_are_not_limited(company, limit, tmp_path):
    segment = segment_create(company=company, name="Subscribers", definition=SUBSCRIBED)
    lock = TableLock().__enter__()
    threading.Timer(1.0, lambda: lock.__exit__(None, None, None)).start()  # longer than the limit
    started = time.monotonic()
    call_command(
        "export_contacts", "--company", company.name, "--segment", str(segment.pk), "--output", str(tmp_path / "x")
    )
    assert time.monotonic() - started >= 0.9  # it waited for the lock, past the 0.3 s web limit
    assert (tmp_path / "x").read_text().startswith("contact_id,email")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_streamed_export_reads_under_the_limit_too(viewer_client, company, limit):
    segment = segment_create(company=company, name="Subscribers", definition=SUBSCRIBED)
    response = viewer_client.get(f"/contacts/segments/{segment.pk}/export.csv")
    assert response.status_code == 200 and response.streaming
    with TableLock():
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised:
            b"".join(response.streaming_content)  # the rows are read while the file is sent
    assert is_statement_timeout(raised.value) and time.monotonic() - started < 3


ORPHAN = """
import os, sys, django
os.environ["DJANGO_SETTINGS_MODULE"] = "salloq.settings"
django.setup()
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from salloq.core.db import StatementTimeoutMiddleware

def view(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(60) /* orphan-test */")
    return HttpResponse()

print(os.getpid(), flush=True)
StatementTimeoutMiddleware(view)(RequestFactory().get("/contacts/"))
"""


def _sleeping(conn) -> int:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE query LIKE %s AND state = 'active' AND pid <> pg_backend_pid()",
            ["%pg_sleep(60) /* orphan-test */%"],
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_query_left_behind_by_a_killed_web_worker_stops_at_the_limit():
    """The worker dies (SIGKILL, as gunicorn does to a worker past its timeout) while its query runs:
    the database still stops the query at the limit instead of running it to the end."""
    s = connection.settings_dict
    server = f"{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{server}/{s['NAME']}",
        "WEB_STATEMENT_TIMEOUT_MS": "2000",
    }
    worker = subprocess.Popen([sys.executable, "-c", ORPHAN], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        worker.stdout.readline()
        with psycopg.connect(pg_dsn(), autocommit=True) as watcher:
            deadline = time.monotonic() + 15
            while not _sleeping(watcher):
                assert time.monotonic() < deadline, "the worker's query never started"
                time.sleep(0.05)
            started = time.monotonic()
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(5)
            while _sleeping(watcher):
                assert time.monotonic() - started < 10, "the orphaned query runs on"
                time.sleep(0.1)
            assert time.monotonic() - started < 3  # cut at the 2 s limit, not the 60 s it asked for
    finally:
        worker.kill()
        worker.wait(5)


# --- SQLite -------------------------------------------------------------------------------------------


@sqlite_only
@pytest.mark.django_db
def test_sqlite_interrupts_a_statement_past_the_limit(api, viewer_client, company, many, settings):
    settings.WEB_STATEMENT_TIMEOUT_MS = 20
    started = time.monotonic()
    assert segment_contacts(company, HEAVY).count() == 0  # outside a request: no limit, it finishes
    assert time.monotonic() - started > 0.1  # and it is real work, well past 20 ms

    response = api.post("/api/segments/count", {"definition": HEAVY})
    assert response.status_code == 503 and response.json()["error"] == "Query timed out"
    segment = segment_create(company=company, name="Heavy", definition=HEAVY)
    cell = viewer_client.get(f"/contacts/segments/{segment.pk}/count/", **HX)
    assert cell.status_code == 200 and "too slow to count" in cell.content.decode()

    settings.WEB_STATEMENT_TIMEOUT_MS = 0  # off
    assert api.post("/api/segments/count", {"definition": HEAVY}).json() == {"count": 0}


@sqlite_only
@pytest.mark.django_db
def test_sqlite_counts_only_the_time_sqlite_works_not_the_time_rows_wait(company, many, settings):
    """A streamed export reads rows while it sends them: that time is the application's, not the
    statement's, so a slow reader is not cut off."""
    from salloq.core.db import statement_timeout

    rows = 0
    with statement_timeout(200):
        for _ in Contact.objects.filter(company=company).iterator(chunk_size=2000):  # as the export reads
            rows += 1
            if rows % 2000 == 0:
                time.sleep(0.15)  # 0.75 s of waiting in all, far past the limit
    assert rows == 10_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_htmx_request_cut_off_sends_its_message_to_the_problem_area_not_into_the_table(
    viewer_client, company, limit
):
    """base.html's htmx config swaps no 503 into its target: the message goes to #request-problem."""
    Contact.objects.create(company=company, email="ada@example.com")
    with TableLock():
        searched = viewer_client.get("/contacts/", {"search": "ada"}, **HX)
        full_page = viewer_client.get("/contacts/", {"search": "ada"})

    assert searched.status_code == 503
    assert searched["HX-Retarget"] == "#request-problem" and searched["HX-Reswap"] == "innerHTML"
    assert searched["HX-Push-Url"] == "false"  # the URL stays the one whose table is shown
    fragment = searched.content.decode()
    assert "Too slow" in fragment and "Simplify the request" in fragment
    assert "<html" not in fragment and 'id="contact-table"' not in fragment
    assert full_page.status_code == 503 and "HX-Retarget" not in full_page

    page = viewer_client.get("/contacts/").content.decode()  # the area every page has
    assert '<div id="request-problem" role="alert"></div>' in page
