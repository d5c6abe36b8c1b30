"""Where a 100-product batch request spends its CPU: the web process and its PostgreSQL backend.

Run from the repository root:  .venv/bin/python bench/product_upsert_profile.py [--requests 200 --mode create]

Complements bench/product_upsert.py (throughput through gunicorn): this calls Django's WSGI handler
in-process, one request at a time, with bench/product_upsert.py's products and request bodies, on
PostgreSQL and Redis as the server has them. It prints per request: the web process's CPU
(time.process_time), the PostgreSQL backend's CPU (utime + stime of its /proc/<pid>/stat, in clock
ticks: use a few hundred requests) and the wall time. Figures that the rest of the machine's load
does not move much: the backend's CPU, and instructions counted by callgrind:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python bench/product_upsert_profile.py --requests 10 --callgrind

With --callgrind the counters are zeroed after the warm-up and dumped after the measured requests
(callgrind_control), so the dump holds those requests only; divide its total by --requests.
--mode update sends every product again with a new price (each request updates 100 products).
The scratch database and this run's Redis keys are removed at the end, even on error.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import api_root, api_root_profile  # noqa: E402 - needs the repository root on sys.path first
from bench.product_upsert import make_products, request_bodies  # noqa: E402

WARMUP = 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="measured requests (default 200)")
    parser.add_argument("--mode", choices=("create", "update"), default="create")
    parser.add_argument("--callgrind", action="store_true", help="zero callgrind's counters before, dump after")
    parser.add_argument("--profile", type=int, default=0, help="also list this many functions from cProfile")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="salloq_bench_product_profile")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    return args


def wsgi_environ(method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    environ = api_root_profile.wsgi_environ(path, headers)
    environ.update(REQUEST_METHOD=method, CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    environ["wsgi.input"] = io.BytesIO(body)
    return environ


def post(app, path: str, headers: dict[str, str], body: bytes, expected: str) -> None:
    statuses: list[str] = []
    answer = b"".join(app(wsgi_environ("POST", path, headers, body), lambda status, *_: statuses.append(status)))
    if not statuses or not statuses[0].startswith(("200", "201")):
        raise api_root.BenchError(f"POST {path} answered {statuses} {answer[:300]!r}")
    if expected and json.loads(answer)[expected] != body.count(b'"product_id"'):
        raise api_root.BenchError(f"not every product {expected}: {answer[:300]!r}")


def backend_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def callgrind_control(option: str) -> None:
    subprocess.run(["callgrind_control", option, str(os.getpid())], check=True, capture_output=True)


def profile(args: argparse.Namespace, headers: dict[str, str]) -> None:
    import django
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    django.setup()
    app = WSGIHandler()
    catalog = {"name": "Bench_shop", "currency": "USD", "location": "benchshop", "is_default": True}
    statuses: list[str] = []
    answer = b"".join(
        app(
            wsgi_environ("POST", "/api/catalogs", headers, json.dumps(catalog).encode()),
            lambda status, *_: statuses.append(status),
        )
    )
    path = f"/api/catalogs/{json.loads(answer)['catalog_id']}/products/batch"
    count = (WARMUP + args.requests) * 100
    creating = request_bodies(make_products(count, 1, "29.99"), 100)
    if args.mode == "update":
        for body in creating:
            post(app, path, headers, body, "created")
        bodies = request_bodies(make_products(count, 1, "24.99"), 100)
        expected = "updated"
    else:
        bodies, expected = creating, "created"
    for body in bodies[:WARMUP]:
        post(app, path, headers, body, expected)
    measured = bodies[WARMUP:]
    backend = connection.connection.info.backend_pid
    if args.callgrind:
        callgrind_control("--zero")
    ticks, cpu, wall = backend_ticks(backend), time.process_time(), time.perf_counter()
    # CPU time, not wall: the database's time and other processes' are not this process's cost.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    if profiler:
        profiler.enable()
    for body in measured:
        post(app, path, headers, body, expected)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    ticks = backend_ticks(backend) - ticks
    if args.callgrind:
        callgrind_control("--dump")
    if connection.connection.info.backend_pid != backend:
        raise api_root.BenchError("the database connection changed during the run: backend CPU not measured")
    n = len(measured)
    per_tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    print(f"\n{n} POST {path} ({args.mode}, 100 products each), in-process, one at a time:")
    print(f"  web process CPU      {cpu / n * 1e6:8.0f} us per request")
    print(f"  PostgreSQL backend   {ticks * per_tick_us / n:8.0f} us per request ({ticks} ticks)")
    print(f"  wall                 {wall / n * 1e6:8.0f} us per request")
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(args.profile)
        stats.sort_stats("tottime").print_stats(args.profile)


def main(argv: list[str] | None = None) -> int:
    return api_root.profile_in_process(parse_args(argv), "product-profile", profile, migrate_timeout=300)


if __name__ == "__main__":
    sys.exit(main())
