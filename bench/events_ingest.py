"""Single-event ingestion under load: POST /api/events against a plain Django view that only
inserts the raw JSON into a table (the floor), side by side on the same gunicorn server.

Run from the repository root:  .venv/bin/python bench/events_ingest.py [--duration 10 --rounds 3 --connections 16]

What it does, all on loopback and bounded in time (--time-limit, 300 s by default):
  1. creates a scratch PostgreSQL database, migrates it, creates an API key and the floor's table
     (bench_plain_events: id, jsonb body);
  2. starts gunicorn (--workers sync workers) with bench.events_settings (the project's settings plus
     POST /bench/events/plain) and Redis as cache and Celery broker, as in production: every API
     request enqueues its dispatch task, on a queue of the run's own;
  3. wrk (--connections connections, one thread) posts realistic order_placed events, each with a new
     order id, about --contacts customers (created beforehand by customer_created events through
     POST /api/events/batch: known contacts are the steady state), to each target in turn for
     --rounds interleaved rounds, after a discarded warm-up;
  4. prints events/s, p50 and p99 latency of each, the ratio api/floor and the targets: at least
     0.7x the floor's rate and a p99 under 50 ms (issue 11). The events table must hold exactly the
     events the API answered 201 for. Beside them, the CPU time each request cost the gunicorn
     workers and the database's PostgreSQL backends (from /proc): on a machine shared with other
     work the rates follow the load, this much less.
Whatever happens, gunicorn is stopped, the scratch database dropped and the run's Redis keys deleted.

Exit status: 0 when every run was clean (also when a target is missed, unless --check), 1 on any
failure (a non-2xx answer, a socket error, a server that does not start, the time limit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the bench package is importable from the root
    sys.path.insert(0, str(ROOT))

from bench.api_root import (  # noqa: E402
    BenchError,
    WrkResult,
    cpu_seconds,
    create_api_key,
    describe,
    ensure_wrk,
    free_port,
    gunicorn,
    log,
    manage,
    read_tail,
    recreate_database,
    run_bounded,
    run_wrk,
    server_env,
    wait_until_ready,
)

API_PATH = "/api/events"
PLAIN_PATH = "/bench/events/plain"
# The floor's table (bench/events_urls.py inserts into it): id and the raw JSON body.
PLAIN_TABLE = "bench_plain_events"
TARGET_FRACTION = 0.7
TARGET_P99_MS = 50.0
SETUP_ALLOWANCE_SECONDS = 60

# Every request a new order of one of CONTACTS customers; the same body goes to both targets.
WRK_SCRIPT = """
local counter = 0
local prefix = tostring(os.time()) .. "-" .. tostring(math.random(1, 1000000000))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local n = counter %% %(contacts)d
  local body = string.format(
    '{"event_type":"order_placed","event_data":{"order_id":"%%s-%%d","customer_id":"CUST-%%d",' ..
    '"email":"bench.customer%%d@example.com","first_name":"Jane","last_name":"Smith","total":149.99,' ..
    '"items":[{"product_id":"PROD-001","name":"Wireless Headphones","price":99.99,"quantity":1},' ..
    '{"product_id":"PROD-002","name":"Case","price":50.0,"quantity":1}]}}',
    prefix, counter, n, n)
  return wrk.format(nil, nil, nil, body)
end
"""


def customer_batches(contacts: int) -> Iterator[list[dict]]:
    """customer_created events for the customers wrk's orders are about, as the Lua script names
    them, 1000 a batch."""
    for start in range(0, contacts, 1000):
        yield [
            {
                "event_type": "customer_created",
                "event_data": {
                    "email": f"bench.customer{n}@example.com",
                    "customer_id": f"CUST-{n}",
                    "first_name": "Jane",
                    "last_name": "Smith",
                },
            }
            for n in range(start, min(start + 1000, contacts))
        ]


def create_customers(url: str, headers: dict[str, str], contacts: int) -> None:
    """The customers wrk's orders are about, through the batch API."""
    with httpx.Client(headers=headers, timeout=120) as http:
        for events in customer_batches(contacts):
            response = http.post(url, json={"events": events})
            if response.status_code != 200 or response.json()["failed"]:
                raise BenchError(f"creating the customers: {response.status_code} {response.text[:500]}")


def analyze_contacts(args: argparse.Namespace) -> None:
    """Statistics for the contacts just created, as autovacuum gathers them within a minute of such
    a change in production. Without them PostgreSQL plans the event's contact lookup for a table
    it believes empty: a scan of the company's contacts, ~100 us more per event at 1,000 contacts,
    for as long as the plan cached on each connection lives (this bench's whole run)."""
    with psycopg.connect(f"{args.pg_url}/{args.db_name}", connect_timeout=10, autocommit=True) as conn:
        conn.execute("ANALYZE contacts_contact")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per target, interleaved (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of discarded warm-up per target (default 3)")
    parser.add_argument("--contacts", type=int, default=1000, help="customers the events are about (default 1000)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--time-limit", type=int, default=300, help="abort (and clean up) after this many seconds")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="salloq_bench_events_ingest", help="scratch database, dropped after")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="cache and broker of the server")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "events_ingest.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    for name in ("duration", "rounds", "connections", "contacts", "workers", "time_limit"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    planned = 2 * args.warmup + 2 * args.rounds * args.duration
    if planned + SETUP_ALLOWANCE_SECONDS > args.time_limit:
        parser.error(f"{planned} s of wrk plus ~{SETUP_ALLOWANCE_SECONDS} s of setup does not fit in --time-limit")
    return args


@dataclass
class CpuReading:
    """CPU time (user + system) one run cost the server side, per request answered."""

    target: str
    round: int
    web_us: float  # the gunicorn workers
    database_us: float  # the PostgreSQL backends connected to the scratch database


def server_pids(master: int, conn: psycopg.Connection, db_name: str) -> dict[str, list[int]]:
    """The gunicorn workers (children of the master) and the scratch database's backends."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    backends = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [db_name]
    ).fetchall()
    return {"web": [int(pid) for pid in children], "database": [pid for (pid,) in backends]}


@dataclass
class Summary:
    date: str
    cpus: int | None
    settings: dict[str, int]
    median_events_per_second: dict[str, float]
    median_p50_ms: dict[str, float]
    median_p99_ms: dict[str, float]
    fraction_of_floor: float
    target_fraction: float
    target_p99_ms: float
    target_met: bool
    median_cpu_us_per_request: dict[str, dict[str, float]]
    runs: list[WrkResult]
    cpu: list[CpuReading]


def measure(args: argparse.Namespace, wrk: str, scratch: Path, cache_prefix: str) -> Summary:
    queue_name = f"{cache_prefix}:dispatch"
    env = {
        **server_env(args, scratch, cache_prefix),
        "DJANGO_SETTINGS_MODULE": "bench.events_settings",
        "BENCH_EVENTS_QUEUE": queue_name,
        # Each worker keeps its database connection for the whole run (production reconnects every
        # 60 s), so the backends whose CPU time is read stay the same ones.
        "DB_CONN_MAX_AGE": "3600",
    }
    started = time.monotonic()
    recreate_database(args.pg_url, args.db_name)
    manage(env, "migrate", "--noinput", "-v0", timeout=150)
    company_id, api_key = create_api_key(env)
    with psycopg.connect(f"{args.pg_url}/{args.db_name}", connect_timeout=10) as conn:
        conn.execute(f"CREATE TABLE {PLAIN_TABLE} (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
        conn.commit()
    log(f"scratch database {args.db_name} migrated, key created ({time.monotonic() - started:.1f} s)")
    script = scratch / "order_placed.lua"
    script.write_text(WRK_SCRIPT % {"contacts": args.contacts})

    headers = {"Authorization": f"Bearer {api_key}", "X-Company-ID": str(company_id)}
    results: list[WrkResult] = []
    cpu: list[CpuReading] = []
    try:
        port = free_port()
        log_file = scratch / "gunicorn.log"
        with gunicorn(env, port, args.workers, 1, log_file) as proc:
            wait_until_ready(proc, port, headers, log_file)
            log(f"gunicorn up on 127.0.0.1:{port} with {args.workers} sync workers")
            create_customers(f"http://127.0.0.1:{port}{API_PATH}/batch", headers, args.contacts)
            analyze_contacts(args)
            urls = {"floor": f"http://127.0.0.1:{port}{PLAIN_PATH}", "api": f"http://127.0.0.1:{port}{API_PATH}"}
            if args.warmup:
                for target, url in urls.items():
                    run_wrk(wrk, url, headers, args.warmup, args.connections, target, 0, script=script)
            with psycopg.connect(f"{args.pg_url}/{args.db_name}", connect_timeout=10, autocommit=True) as conn:
                before = conn.execute("SELECT count(*) FROM events_event").fetchone()[0]
                # After the warm-up every worker holds its database connection (CONN_MAX_AGE).
                pids = server_pids(proc.pid, conn, args.db_name)
            for n in range(1, args.rounds + 1):
                # Alternate which target goes first, so a drift in machine load does not favour one.
                for target in ("floor", "api") if n % 2 else ("api", "floor"):
                    spent = {side: cpu_seconds(side_pids) for side, side_pids in pids.items()}
                    result = run_wrk(
                        wrk, urls[target], headers, args.duration, args.connections, target, n, script=script
                    )
                    per_request = {
                        side: (cpu_seconds(pids[side]) - spent[side]) / result.requests * 1e6 for side in pids
                    }
                    results.append(result)
                    cpu.append(CpuReading(target, n, per_request["web"], per_request["database"]))
                    log(
                        f"{describe(result)}  CPU/request: web {per_request['web']:5.0f} us, "
                        f"database {per_request['database']:5.0f} us"
                    )
            if proc.poll() is not None:
                raise BenchError(f"gunicorn died during the runs:\n{read_tail(log_file)}")
        with psycopg.connect(f"{args.pg_url}/{args.db_name}", connect_timeout=10) as conn:
            stored = conn.execute("SELECT count(*) FROM events_event").fetchone()[0] - before
        answered = sum(r.requests for r in results if r.target == "api")
        # wrk counts the answers it read before each run's end; the requests still in flight then
        # are stored too. Every answered one must be in the table.
        if stored < answered:
            raise BenchError(f"the API stored {stored} events for {answered} answered requests")
    finally:
        client = redis.Redis.from_url(args.redis_url, socket_timeout=10)
        try:
            client.delete(queue_name)
        finally:
            client.close()

    def median(target: str, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) or 0.0 for r in results if r.target == target)

    rates = {t: median(t, "requests_per_second") for t in ("floor", "api")}
    p50 = {t: median(t, "latency_p50_ms") for t in ("floor", "api")}
    p99 = {t: median(t, "latency_p99_ms") for t in ("floor", "api")}
    fraction = rates["api"] / rates["floor"]
    cpu_medians = {
        t: {
            side: statistics.median(getattr(r, f"{side}_us") for r in cpu if r.target == t)
            for side in ("web", "database")
        }
        for t in ("floor", "api")
    }
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        settings={k: getattr(args, k) for k in ("duration", "rounds", "connections", "warmup", "contacts", "workers")},
        median_events_per_second=rates,
        median_p50_ms=p50,
        median_p99_ms=p99,
        fraction_of_floor=fraction,
        target_fraction=TARGET_FRACTION,
        target_p99_ms=TARGET_P99_MS,
        target_met=fraction >= TARGET_FRACTION and p99["api"] < TARGET_P99_MS,
        median_cpu_us_per_request=cpu_medians,
        runs=results,
        cpu=cpu,
    )


def report(summary: Summary) -> None:
    rates, p50, p99 = summary.median_events_per_second, summary.median_p50_ms, summary.median_p99_ms
    rounds = summary.settings["rounds"]
    print()
    cpu = summary.median_cpu_us_per_request
    for target, label in (("floor", f"POST {PLAIN_PATH} (raw INSERT)"), ("api", f"POST {API_PATH}")):
        print(
            f"{label:34} {rates[target]:8.1f} events/s  p50 {p50[target]:6.2f} ms  p99 {p99[target]:6.2f} ms"
            f"  CPU/request: web {cpu[target]['web']:5.0f} us, database {cpu[target]['database']:5.0f} us"
            f"  (median of {rounds})"
        )
    verdict = "MET" if summary.target_met else "NOT MET"
    print(
        f"api/floor = {summary.fraction_of_floor:.2f} (target >= {summary.target_fraction}), "
        f"api p99 {p99['api']:.1f} ms (target < {summary.target_p99_ms:.0f} ms): {verdict}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    return run_bounded(args, "events-ingest-", lambda scratch, prefix: measure(args, wrk, scratch, prefix), report)


if __name__ == "__main__":
    sys.exit(main())
