"""Batch ingestion: POST /api/events/batch (1000 events a request) against psycopg binary COPY of the same rows.

Run from the repository root:  .venv/bin/python bench/events_batch.py [--events 100000 --rounds 3]

What it does, all on loopback and bounded in time (--time-limit, 600 s by default):
  1. creates a scratch PostgreSQL database, migrates it and creates an API key (create_api_key);
  2. makes --events realistic order_placed events (order id, email among --contacts customers,
     names, total, two order lines) and serializes them into requests of --batch events;
  3. starts gunicorn (--workers sync workers) with Redis as cache and Celery broker, as in
     production (each request enqueues its one dispatch task on a queue of the run's own);
  4. a warm-up request creates the --contacts customers (events for known contacts is the steady
     state); each round: binary COPY of the same rows (contact ids resolved, data as jsonb) into a
     scratch table shaped like events_event (same columns, constraints and indexes), then the rows
     through POST /api/events/batch sent by --clients threads at once; both tables are emptied
     before each round and every order id is new in every round;
  5. prints the median events/s of each, the ratio and the target: the batch API at least 1/10 of
     COPY's rate (issue 11).
Whatever happens, gunicorn is stopped, the scratch database dropped and the run's Redis keys deleted.

Exit status: 0 when every run was clean (also when the target is missed, unless --check), 1 on any
failure (a non-200 answer, an item not stored, a server that does not start, the time limit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import redis
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the bench package is importable from the root
    sys.path.insert(0, str(ROOT))

from bench.api_root import (  # noqa: E402
    BenchError,
    create_api_key,
    free_port,
    gunicorn,
    log,
    manage,
    read_tail,
    recreate_database,
    run_bounded,
    server_env,
    wait_until_ready,
)
from bench.load import post_concurrently  # noqa: E402

BATCH_PATH = "/api/events/batch"
# The batch API should reach at least this fraction of COPY's rate (issue 11).
TARGET_FRACTION = 1 / 10
COPY_COLUMNS = (
    "company_id",
    "contact_id",
    "event_type",
    "data",
    "value",
    "occurred_at",
    "received_at",
    "source",
    "idempotency_key",
)
COPY_TYPES = ["int8", "int8", "varchar", "jsonb", "numeric", "timestamptz", "timestamptz", "varchar", "varchar"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="events per round (default 100000)")
    parser.add_argument("--contacts", type=int, default=1000, help="customers the events are about (default 1000)")
    parser.add_argument("--batch", type=int, default=1000, help="events per request, at most 1000 (default 1000)")
    parser.add_argument("--clients", type=int, default=4, help="client threads sending at once (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--time-limit", type=int, default=600, help="abort (and clean up) after this many seconds")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="salloq_bench_events_batch", help="scratch database, dropped after")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="cache and broker of the server")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "events_batch.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    for name in ("events", "contacts", "batch", "clients", "rounds", "workers", "time_limit"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch > 1000:
        parser.error("--batch must be at most 1000 (the API's limit)")
    return args


# --- The events -----------------------------------------------------------------------------------


def make_events(count: int, contacts: int, round_no: int) -> list[dict]:
    """order_placed events as a shop sends them; order ids are new in every round."""
    return [
        {
            "event_type": "order_placed",
            "event_data": {
                "order_id": f"R{round_no}-ORD-{n:08d}",
                "customer_id": f"CUST-{n % contacts:06d}",
                "email": f"bench.customer{n % contacts}@example.com",
                "first_name": "Jane",
                "last_name": "Smith",
                "total": 149.99,
                "items": [
                    {"product_id": "PROD-001", "name": "Wireless Headphones", "price": 99.99, "quantity": 1},
                    {"product_id": "PROD-002", "name": "Case", "price": 50.0, "quantity": 1},
                ],
            },
        }
        for n in range(count)
    ]


def request_bodies(events: list[dict], batch: int) -> list[bytes]:
    """Serialized before the clock starts: the client's JSON encoding is not what is measured."""
    return [json.dumps({"events": events[i : i + batch]}).encode() for i in range(0, len(events), batch)]


# --- COPY baseline --------------------------------------------------------------------------------


def create_copy_table(conn: psycopg.Connection) -> None:
    # Same columns, defaults, constraints and indexes as the table the API writes to.
    conn.execute("DROP TABLE IF EXISTS bench_copy_events")
    conn.execute("CREATE TABLE bench_copy_events (LIKE events_event INCLUDING ALL)")
    conn.commit()


def copy_rate(conn: psycopg.Connection, company_id: int, events: list[dict], contact_ids: dict[str, int]) -> float:
    conn.execute("TRUNCATE bench_copy_events")
    conn.commit()
    started = time.perf_counter()
    now = datetime.now(UTC)
    with conn.cursor() as cursor:
        statement = f"COPY bench_copy_events ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        with cursor.copy(statement) as copy:
            copy.set_types(COPY_TYPES)
            for event in events:
                data = event["event_data"]
                copy.write_row(
                    (
                        company_id,
                        contact_ids[data["email"]],
                        event["event_type"],
                        Jsonb(data),
                        Decimal("149.99"),
                        now,
                        now,
                        "api",
                        f"order_placed:order_id:{data['order_id']}",
                    )
                )
    conn.commit()
    elapsed = time.perf_counter() - started
    copied = conn.execute("SELECT count(*) FROM bench_copy_events").fetchone()[0]
    if copied != len(events):
        raise BenchError(f"COPY wrote {copied} rows, expected {len(events)}")
    return len(events) / elapsed


# --- Batch API ------------------------------------------------------------------------------------


def post_all(url: str, headers: dict[str, str], bodies: list[bytes], clients: int) -> tuple[float, int]:
    """Send every body with `clients` threads at once: events stored per second over the pass."""

    def count(answer: dict) -> int:
        if answer["created"] != len(answer["results"]):
            bad = [r for r in answer["results"] if r["status"] != 201 or r["duplicate"]][:3]
            raise BenchError(f"expected every item created, got {bad}")
        return answer["created"]

    return post_concurrently(url, headers, bodies, clients, count)


def empty_events(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE events_event")
    conn.commit()


@dataclass
class Round:
    round: int
    copy_per_second: float
    batch_per_second: float


@dataclass
class Summary:
    date: str
    cpus: int | None
    settings: dict[str, int]
    median_per_second: dict[str, float]
    fraction_of_copy: float
    target_fraction: float
    target_met: bool
    rounds: list[Round] = field(default_factory=list)


def measure(args: argparse.Namespace, scratch: Path, cache_prefix: str) -> Summary:
    env = {
        **server_env(args, scratch, cache_prefix),
        "DJANGO_SETTINGS_MODULE": "bench.events_settings",
        "BENCH_EVENTS_QUEUE": f"{cache_prefix}:dispatch",
    }
    started = time.monotonic()
    recreate_database(args.pg_url, args.db_name)
    manage(env, "migrate", "--noinput", "-v0", timeout=150)
    company_id, api_key = create_api_key(env)
    log(f"scratch database {args.db_name} migrated, key created ({time.monotonic() - started:.1f} s)")

    headers = {"Authorization": f"Bearer {api_key}", "X-Company-ID": str(company_id)}
    rounds: list[Round] = []
    try:
        with psycopg.connect(f"{args.pg_url}/{args.db_name}", connect_timeout=10) as conn:
            create_copy_table(conn)
            port = free_port()
            log_file = scratch / "gunicorn.log"
            with gunicorn(env, port, args.workers, 1, log_file) as proc:
                wait_until_ready(proc, port, headers, log_file)
                log(f"gunicorn up on 127.0.0.1:{port} with {args.workers} sync workers")
                url = f"http://127.0.0.1:{port}{BATCH_PATH}"
                # Warm-up: creates the customers, and every worker loads its code and connections.
                warmup = make_events(max(args.contacts, args.workers), args.contacts, 0)
                post_all(url, headers, request_bodies(warmup, min(args.batch, 1000)), args.workers)
                contact_ids = dict(
                    conn.execute("SELECT email, id FROM contacts_contact WHERE company_id = %s", [company_id])
                )
                conn.execute("ANALYZE contacts_contact")
                conn.commit()
                for number in range(1, args.rounds + 1):
                    events = make_events(args.events, args.contacts, number)
                    bodies = request_bodies(events, args.batch)
                    empty_events(conn)
                    copied = copy_rate(conn, company_id, events, contact_ids)
                    empty_events(conn)
                    stored, count = post_all(url, headers, bodies, args.clients)
                    in_table = conn.execute("SELECT count(*) FROM events_event").fetchone()[0]
                    if in_table != count or count != len(events):
                        raise BenchError(f"the API stored {in_table} events, answered {count}, sent {len(events)}")
                    rounds.append(Round(number, copied, stored))
                    log(f"round {number}: COPY {copied:9.0f}/s   POST {BATCH_PATH} {stored:8.0f}/s")
                if proc.poll() is not None:
                    raise BenchError(f"gunicorn died during the runs:\n{read_tail(log_file)}")
    finally:
        # The dispatch messages no worker consumed: the run's own queue, deleted.
        client = redis.Redis.from_url(args.redis_url, socket_timeout=10)
        try:
            client.delete(env["BENCH_EVENTS_QUEUE"])
        finally:
            client.close()

    medians = {
        "copy": statistics.median(r.copy_per_second for r in rounds),
        "batch": statistics.median(r.batch_per_second for r in rounds),
    }
    fraction = medians["batch"] / medians["copy"]
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        settings={k: getattr(args, k) for k in ("events", "contacts", "batch", "clients", "rounds", "workers")},
        median_per_second=medians,
        fraction_of_copy=fraction,
        target_fraction=TARGET_FRACTION,
        target_met=fraction >= TARGET_FRACTION,
        rounds=rounds,
    )


def report(summary: Summary) -> None:
    m, rounds = summary.median_per_second, summary.settings["rounds"]
    verdict = "MET" if summary.target_met else "NOT MET"
    print()
    print(f"binary COPY into an events-shaped table: {m['copy']:9.0f} events/s  (median of {rounds})")
    print(
        f"POST {BATCH_PATH}:               {m['batch']:9.0f} events/s  = 1/{1 / summary.fraction_of_copy:.1f} of COPY"
    )
    print(f"target: at least 1/10 of COPY ({m['copy'] * summary.target_fraction:.0f} events/s): {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bounded(args, "events-batch-", lambda scratch, prefix: measure(args, scratch, prefix), report)


if __name__ == "__main__":
    sys.exit(main())
