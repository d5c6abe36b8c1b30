"""salloq.core.db.one_round_trip and check_health_locally: POST /api/events' insert goes to
PostgreSQL in one round trip with the request's statement limit before it and the reset after it.
The limit still cuts it off, no limit outlives the block, a later statement of the request is
limited again, errors are Django's, and a kept connection the server closed is replaced before
use as Django's SELECT 1 health check would have it."""

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, ProgrammingError, connection, connections

from events.models import Event
from salloq.core.db import check_health_locally, one_round_trip, statement_timeout
from tests.core.test_statement_timeout import TableLock, backend_and_limit, pg_dsn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CUSTOMER = {"email": "jane@example.com", "first_name": "Jane", "last_name": "Smith", "customer_id": "C-1"}


def order(n: int) -> dict:
    return {"event_type": "order_placed", "event_data": {**CUSTOMER, "order_id": f"ORD-{n}", "total": 10}}


def terminate(pid: int) -> None:
    """Ends a backend as a server restart would, and waits until it is gone (its goodbye is then on
    the connection's socket)."""
    with psycopg.connect(pg_dsn(), autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone() == (True,)


@pytest.fixture
def known_customer(api):
    assert api.post("/api/events", order(0)).status_code == 201  # creates the contact: the general path
    return api


def test_the_single_round_trip_insert_is_cut_off_by_the_limit_and_leaves_none_behind(known_customer, settings):
    api = known_customer
    settings.WEB_STATEMENT_TIMEOUT_MS = 300
    assert connection.settings_dict["CONN_MAX_AGE"] > 0  # the connection outlives each request
    with TableLock("events_event"):
        response = api.post("/api/events", order(1))
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "Query timed out"
    pid, timeout = backend_and_limit(connection)
    assert timeout == "0"  # reset inside the same message, or rolled back with the statement
    assert not Event.objects.filter(data__order_id="ORD-1").exists()
    response = api.post("/api/events", order(1))
    assert response.status_code == 201 and response.json()["duplicate"] is False
    assert backend_and_limit(connection) == (pid, "0")  # the same connection, no limit left on it
    assert Event.objects.filter(data__order_id="ORD-1").count() == 1


def test_a_statement_after_the_block_is_limited_again():
    database = connections[DEFAULT_DB_ALIAS]
    with statement_timeout(250):
        with database.cursor() as cursor:
            with one_round_trip(database):
                cursor.execute("SELECT current_setting('statement_timeout')")
            assert cursor.fetchone() == ("250ms",)
            assert backend_and_limit(database)[1] == "250ms"  # set again for this statement
        with database.cursor() as cursor:
            cursor.execute("SELECT 1")
    assert backend_and_limit(database)[1] == "0"


def test_an_error_in_the_block_is_djangos_and_the_connection_goes_on():
    database = connections[DEFAULT_DB_ALIAS]
    limited, cursor = statement_timeout(1000), database.cursor()
    with limited, cursor, pytest.raises(ProgrammingError), one_round_trip(database):
        cursor.execute("SELECT no_such_column FROM events_event")
    with database.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone() == ("0",)  # the limit was rolled back with the failed statement


def test_a_connection_the_server_closed_is_replaced_before_use(known_customer):
    api = known_customer
    pid, _ = backend_and_limit(connection)
    terminate(pid)
    # What request_started does outside tests (Django's test client keeps it from closing connections).
    connection.health_check_done = False
    response = api.post("/api/events", order(2))  # the lean path, about the known customer
    assert response.status_code == 201, response.content
    assert backend_and_limit(connection)[0] != pid
    assert Event.objects.filter(data__order_id="ORD-2").count() == 1


def test_a_healthy_connection_is_kept_without_a_round_trip():
    database = connections[DEFAULT_DB_ALIAS]
    database.close()
    database.ensure_connection()
    raw = database.connection
    database.health_check_done = False
    check_health_locally(database)
    assert database.connection is raw and database.health_check_done


def test_a_connection_lost_during_the_request_is_a_503_to_retry_not_a_500(known_customer):
    api = known_customer
    pid, _ = backend_and_limit(connection)
    terminate(pid)
    connection.health_check_done = True  # lost after the request's health check: nothing to catch it before
    response = api.post("/api/events", order(3))
    assert response.status_code == 503, response.content
    assert response.json()["error"] == "Service unavailable" and response.json()["code"] == 503
    assert response["Retry-After"] == "5" and "Retry after 5 seconds" in response.json()["message"]
    connection.close_if_unusable_or_obsolete()  # what request_finished does outside tests
    response = api.post("/api/events", order(3))  # the client's retry
    assert response.status_code == 201 and response.json()["duplicate"] is False, response.content
    assert Event.objects.filter(data__order_id="ORD-3").count() == 1
