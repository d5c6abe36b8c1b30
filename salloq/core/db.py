"""A time limit on every database statement a web request runs (WEB_STATEMENT_TIMEOUT_MS).

A web worker that waits on one query serves nobody else, and a query keeps running in the database
after the worker that sent it has been killed. So every statement of a web request is cut off after
the limit, by the database itself:

- PostgreSQL: ``statement_timeout`` is set on the connection before the request's first statement
  and reset after its last, so a connection kept between requests (CONN_MAX_AGE) never carries one
  request's limit into code that is not a request. The server cancels the statement even when
  nobody is left to read its answer.
- SQLite: a progress handler interrupts a statement once SQLite has worked on it for the limit.

Celery workers and management commands never pass through the middleware, so imports and exports
there run as long as they need. A cancelled statement raises django.db.OperationalError;
`is_statement_timeout` recognises it: the API answers 503 "Query timed out", the dashboard a page
(or the part of a page) that says to simplify the request.

The hot paths' PostgreSQL cursors live here too: `binary_cursor` (values bound apart from the
statement, arrays in binary), `prepared_cursor` (the same, prepared once per connection) and
`one_round_trip` (a request's write sent with the limit and its reset, one wait for all), with
`check_health_locally`, Django's per-request health check without its SELECT 1.
"""

from __future__ import annotations

import logging
import select
import time
from contextlib import ExitStack, contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.http import FileResponse
from django.shortcuts import render

from .htmx import htmx_partial, to_problem_area

logger = logging.getLogger("salloq.db")

# SQLite calls the progress handler every this many virtual machine instructions (some tens of
# microseconds of work); a longer pause between two calls means SQLite had handed rows back and was
# waiting for the application to ask for more (a streamed export), which does not count against the
# statement. A callback this often costs a few percent of a heavy statement's time.
SQLITE_PROGRESS_STEPS = 1_000
SQLITE_IDLE_GAP = 0.001


TIMEOUT_ERROR = "Query timed out"


def timeout_message() -> str:
    seconds = settings.WEB_STATEMENT_TIMEOUT_MS / 1000
    return (
        f"The database gave up after {seconds:g} s (WEB_STATEMENT_TIMEOUT_MS). Simplify the request "
        "(fewer rules, a narrower filter or search) and try again."
    )


def is_statement_timeout(exc: BaseException) -> bool:
    """True for the error a statement cut off by the limit raises (on either database)."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if type(cause).__module__.startswith("psycopg"):
        from psycopg.errors import QueryCanceled

        return isinstance(cause, QueryCanceled)
    return str(exc) == "interrupted"  # sqlite3: only the progress handler below interrupts


class _StatementLimit:
    """An execute wrapper that puts the limit on the connection before each statement it runs."""

    def __init__(self, milliseconds: int):
        self.milliseconds = milliseconds
        self.seconds = milliseconds / 1000
        self.limited = None  # the DB-API connection statement_timeout was set on
        self.until_commit = False  # set inside a transaction: a rollback would undo it
        self.spent = self.last_tick = 0.0

    def __call__(self, execute, sql, params, many, context):
        connection = context["connection"]
        if connection.vendor == "postgresql":
            self._limit_postgresql(connection)
        elif connection.vendor == "sqlite":
            self._limit_sqlite(connection)
        return execute(sql, params, many, context)

    # PostgreSQL

    def _limit_postgresql(self, connection) -> None:
        raw = connection.connection
        in_transaction = not connection.get_autocommit()
        if raw is self.limited and not (self.until_commit and not in_transaction):
            return
        # On the DB-API cursor: no query log entry, no recursion into this wrapper.
        with raw.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{self.milliseconds}ms"])
        self.limited, self.until_commit = raw, in_transaction

    def _release_postgresql(self, connection) -> None:
        raw = connection.connection
        if raw is None or raw is not self.limited:
            return  # never set, or the connection was closed (and the setting with it)
        try:
            with raw.cursor() as cursor:
                cursor.execute("RESET statement_timeout")
        except Exception:
            if connection.get_autocommit():
                # The setting could not be taken back: the connection must not serve anything else.
                logger.warning("Could not reset statement_timeout; closing the connection", exc_info=True)
                connection.close()
            # Inside a failed transaction (only tests keep one open across a request) the RESET is
            # refused, and the rollback that must follow undoes the SET anyway.

    def queue_release(self, connection) -> None:
        """In one_round_trip's pipeline: the reset goes in the same round trip, and a statement run
        after it sets the limit again. Should a statement before it have failed, its error is
        raised here (the implicit transaction, the limit with it, is rolled back)."""
        raw = connection.connection
        if raw is None or raw is not self.limited:
            return
        self.limited = None
        with raw.cursor() as cursor:
            cursor.execute("RESET statement_timeout")

    # SQLite

    def _limit_sqlite(self, connection) -> None:
        raw = connection.connection
        if raw is not self.limited:
            raw.set_progress_handler(self._progress, SQLITE_PROGRESS_STEPS)
            self.limited = raw
        self.spent, self.last_tick = 0.0, time.monotonic()

    def _progress(self) -> int:
        now = time.monotonic()
        gap, self.last_tick = now - self.last_tick, now
        if gap < SQLITE_IDLE_GAP:
            self.spent += gap
        return 1 if self.spent > self.seconds else 0  # non-zero interrupts the statement

    def _release_sqlite(self, connection) -> None:
        raw = connection.connection
        if raw is not None and raw is self.limited:
            raw.set_progress_handler(None, 0)

    def release(self, connection) -> None:
        if connection.vendor == "postgresql":
            self._release_postgresql(connection)
        elif connection.vendor == "sqlite":
            self._release_sqlite(connection)


@contextmanager
def statement_timeout(milliseconds: int):
    """Every statement run on this thread's connections inside the block is limited to `milliseconds`."""
    with ExitStack() as stack:
        for connection in connections.all():
            limit = _StatementLimit(milliseconds)
            stack.enter_context(connection.execute_wrapper(limit))
            stack.callback(limit.release, connection)
        yield


def _socket_idle(raw) -> bool:
    """Nothing waits on the connection's socket. Between statements PostgreSQL sends nothing, so a
    readable socket means the server closed the session (restart, terminated backend, idle
    timeout) or said something out of turn: either way the connection is not to be trusted."""
    if raw.closed or raw.broken:
        return False
    try:
        socket = raw.pgconn.socket
    except Exception:  # noqa: BLE001 - psycopg knows the connection is lost
        return False
    readable, _, broken = select.select([socket], [], [socket], 0)
    return not readable and not broken


def binary_cursor(connection=None):
    """A cursor on Django's PostgreSQL connection (same transaction, same query logging, same
    execute wrappers: the web request's statement limit) that sends parameters apart from the
    statement and, where the statement says %b, in binary.

    Django's own cursors bind on the client: every value of a 1000-row array is quoted into the
    SQL text, element by element, through a regular expression. For a batch that quoting cost
    more Python time than all the rest of the batch's writes (bench/README.md); binary arrays
    cost a fraction of it and PostgreSQL does not have to parse them either. `connection`: the
    DatabaseWrapper (default: the default database's)."""
    import psycopg

    connection = connection or connections[DEFAULT_DB_ALIAS]
    # What Django does to each cursor it opens (BaseDatabaseWrapper.cursor), through the wrapper's
    # public methods; its health check without the SELECT 1 round trip.
    check_health_locally(connection)
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = psycopg.Cursor(connection.connection)
    # The debug cursor records the statements in connection.queries when they are logged.
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


@contextmanager
def prepared_cursor(connection=None):
    """binary_cursor(), whose statements the connection prepares: PostgreSQL parses and plans each
    once per connection instead of on every run (planning a short statement can cost more than
    running it; bench/README.md). For statements whose text never changes, every value a
    parameter. The connection's threshold goes back at once, so no other statement of it is ever
    prepared (Django's default); DB_PREPARED_STATEMENTS=0 (PgBouncer in transaction mode before
    1.21) turns it off."""
    connection = connection or connections[DEFAULT_DB_ALIAS]
    with binary_cursor(connection) as cursor:
        raw_connection = connection.connection
        previous = raw_connection.prepare_threshold
        if settings.DB_PREPARED_STATEMENTS:
            raw_connection.prepare_threshold = 0
        try:
            yield cursor
        finally:
            raw_connection.prepare_threshold = previous


def check_health_locally(connection) -> None:
    """Django's health check of a kept connection (CONN_HEALTH_CHECKS: a SELECT 1 before a request's
    first statement) without its round trip: a connection whose socket has something to read is
    closed, to be opened afresh, as a failed SELECT 1 would have it. For the hot paths that count
    round trips (one_round_trip); a server that vanished without closing the socket is found by
    the next statement, as it would be by the SELECT 1 (both wait on TCP)."""
    if connection.vendor != "postgresql":
        connection.close_if_health_check_failed()
        return
    if connection.connection is None or not connection.health_check_enabled or connection.health_check_done:
        return
    if not _socket_idle(connection.connection):
        connection.close()
    connection.health_check_done = True


@contextmanager
def one_round_trip(connection):
    """A web request's statements on PostgreSQL in one round trip: those executed on `connection`
    inside the block are sent, with the request's statement limit before them and its reset after
    them, without waiting for each other's answers (psycopg's pipeline mode), as one implicit
    transaction; the answers are read in one wait when the block ends: fetch after it.

    Each round trip costs the web process and the database a wake-up each, the larger part of a
    short request's database time (bench/README.md, events_ingest.py): the limit, the statement
    and the reset took three. A statement that fails aborts the rest, and the limit it set is
    rolled back with it; the error is raised as Django raises database errors. Elsewhere (SQLite,
    a pooled connection, a libpq without pipelines) the statements run as usual."""
    import psycopg

    if connection.vendor != "postgresql" or connection.pool or not psycopg.Pipeline.is_supported():
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield
        # In the same round trip: the limit the first statement set goes back at once, not after the
        # response (StatementTimeoutMiddleware's reset then finds nothing to do).
        for wrapper in connection.execute_wrappers:
            if isinstance(wrapper, _StatementLimit):
                wrapper.queue_release(connection)


def _streamed(content, milliseconds: int):
    """A streaming response's content, produced under the same limit as the view that returned it."""
    with statement_timeout(milliseconds):
        yield from content


class StatementTimeoutMiddleware:
    """First in MIDDLEWARE: every web request (dashboard and API, the gateway's direct calls to API
    views included) runs its statements under WEB_STATEMENT_TIMEOUT_MS; 0 turns the limit off."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        milliseconds = settings.WEB_STATEMENT_TIMEOUT_MS
        if not milliseconds:
            return self.get_response(request)
        with statement_timeout(milliseconds):
            response = self.get_response(request)
        # A streamed download (a CSV export) reads the database while it is sent, after the view.
        if response.streaming and not response.is_async and not isinstance(response, FileResponse):
            response.streaming_content = _streamed(response.streaming_content, milliseconds)
        return response

    def process_exception(self, request, exception):
        """A dashboard view whose statement was cut off: a page saying so, not a server error.
        (API views answer in the API's error shape: salloq.core.errors.)"""
        if not is_statement_timeout(exception):
            return None
        logger.warning(
            "Statement timeout (%s ms) on %s %s", settings.WEB_STATEMENT_TIMEOUT_MS, request.method, request.path
        )
        context = {"message": timeout_message()}
        if not htmx_partial(request):
            return render(request, "core/query_timeout.html", context, status=503)
        response = render(request, "core/_query_timeout.html", context, status=503)
        return to_problem_area(response)
