"""Where POST /api/events spends its CPU, beside the floor: the web process and its PostgreSQL backend.

Run from the repository root:  .venv/bin/python bench/events_profile.py [--requests 1000 --profile 30]

Complements bench/events_ingest.py (throughput through gunicorn and wrk): this calls Django's WSGI
handler in-process, one request at a time, with the same order_placed bodies about known
customers, on PostgreSQL and Redis as the server has them, for both targets (POST /api/events and
the floor, POST /bench/events/plain) in alternating rounds. It prints per request and target the
web process's CPU (time.process_time), the PostgreSQL backend's CPU (utime + stime of its
/proc/<pid>/stat) and the wall time, medians over the rounds. --profile N lists the API path's top
N functions from cProfile (CPU time). The scratch database and this run's Redis keys are removed
at the end, even on error.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import api_root  # noqa: E402 - needs the repository root on sys.path first
from bench.events_ingest import API_PATH, PLAIN_PATH, PLAIN_TABLE, customer_batches  # noqa: E402
from bench.product_upsert_profile import backend_ticks, wsgi_environ  # noqa: E402

CONTACTS = 1000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per target (default 3)")
    parser.add_argument("--profile", type=int, default=0, help="also list this many functions from cProfile")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="salloq_bench_events_profile")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be at least 1")
    return args


def order_body(n: int) -> bytes:
    """bench/events_ingest.py's wrk body (its Lua script's, in Python): a new order of one of
    CONTACTS known customers."""
    customer = n % CONTACTS
    return json.dumps(
        {
            "event_type": "order_placed",
            "event_data": {
                "order_id": f"profile-{os.getpid()}-{n}",
                "customer_id": f"CUST-{customer}",
                "email": f"bench.customer{customer}@example.com",
                "first_name": "Jane",
                "last_name": "Smith",
                "total": 149.99,
                "items": [
                    {"product_id": "PROD-001", "name": "Wireless Headphones", "price": 99.99, "quantity": 1},
                    {"product_id": "PROD-002", "name": "Case", "price": 50.0, "quantity": 1},
                ],
            },
        },
        separators=(",", ":"),
    ).encode()


def poster(app, path: str, headers: dict[str, str]):
    def post(body: bytes) -> None:
        statuses: list[str] = []
        answer = b"".join(app(wsgi_environ("POST", path, headers, body), lambda status, *_: statuses.append(status)))
        if not statuses or not statuses[0].startswith(("200", "201")):
            raise api_root.BenchError(f"POST {path} answered {statuses} {answer[:300]!r}")

    return post


def profile(args: argparse.Namespace, headers: dict[str, str]) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.events_settings"
    import django
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    django.setup()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {PLAIN_TABLE} (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
    app = WSGIHandler()
    batch = poster(app, f"{API_PATH}/batch", headers)
    for events in customer_batches(CONTACTS):
        batch(json.dumps({"events": events}).encode())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")  # as bench/events_ingest.py does, see analyze_contacts
    targets = {"floor": poster(app, PLAIN_PATH, headers), "api": poster(app, API_PATH, headers)}
    counter = iter(range(10**9))
    for post in targets.values():
        for _ in range(100):
            post(order_body(next(counter)))
    backend = connection.connection.info.backend_pid
    per_tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    readings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in targets}
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    for n in range(args.rounds):
        for name in ("floor", "api") if n % 2 == 0 else ("api", "floor"):
            post = targets[name]
            bodies = [order_body(next(counter)) for _ in range(args.requests)]
            ticks, cpu, wall = backend_ticks(backend), time.process_time(), time.perf_counter()
            if profiler and name == "api":
                profiler.enable()
            for body in bodies:
                post(body)
            if profiler and name == "api":
                profiler.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            ticks = backend_ticks(backend) - ticks
            readings[name].append(
                (cpu / args.requests * 1e6, ticks * per_tick_us / args.requests, wall / args.requests * 1e6)
            )
    if connection.connection.info.backend_pid != backend:
        raise api_root.BenchError("the database connection changed during the run: backend CPU not measured")
    print(f"\n{args.rounds} rounds x {args.requests} requests per target, in-process, one at a time (medians):")
    for name, rows in readings.items():
        web, database, wall = (statistics.median(column) for column in zip(*rows, strict=True))
        print(f"  {name:5}  web CPU {web:6.0f} us  PostgreSQL CPU {database:5.0f} us  wall {wall:6.0f} us")
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.profile)
        stats.sort_stats("tottime").print_stats(args.profile)


def main(argv: list[str] | None = None) -> int:
    return api_root.profile_in_process(parse_args(argv), "events-profile", profile, migrate_timeout=300)


if __name__ == "__main__":
    sys.exit(main())
