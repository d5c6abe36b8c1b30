"""Where GET /api/ spends its time: per-request cost, Redis and SQL counts, and a cProfile of the API path.

Run from the repository root:  .venv/bin/python bench/api_root_profile.py [--requests 2000 --top 30]

Complements bench/api_root.py (throughput through gunicorn and wrk): this calls Django's WSGI
handler in-process, one request at a time, so the figures are the application's own cost without
HTTP parsing, TCP or the server, on the same PostgreSQL and Redis setup. It prints, for both
/bench/plain and /api/: wall and CPU microseconds per request, and per /api/ request the Redis
round trips, redis.Redis clients built and SQL queries; then the API path's top functions.
The scratch database and this run's Redis keys are removed at the end, even on error.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import api_root  # noqa: E402 - needs the repository root on sys.path first


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per timed batch (default 2000)")
    parser.add_argument("--top", type=int, default=30, help="functions to list from the profile (default 30)")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--db-name", default="salloq_bench_profile")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.top < 1:
        parser.error("--requests and --top must be at least 1")
    return args


def wsgi_environ(path: str, headers: dict[str, str]) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def requester(app: Callable[..., Any], path: str, headers: dict[str, str]) -> Callable[[], bytes]:
    def request() -> bytes:
        statuses: list[str] = []
        body = b"".join(app(wsgi_environ(path, headers), lambda status, _headers, *_: statuses.append(status)))
        if not statuses or not statuses[0].startswith("200"):
            raise api_root.BenchError(f"GET {path} answered {statuses} {body[:300]!r}")
        return body

    return request


def per_request_us(request: Callable[[], bytes], n: int) -> tuple[float, float]:
    """Median wall and CPU microseconds per request over 5 batches of n, after a warm-up."""
    for _ in range(min(n, 200)):
        request()
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(5):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(n):
            request()
        wall.append((time.perf_counter() - wall_start) / n * 1e6)
        cpu.append((time.process_time() - cpu_start) / n * 1e6)
    return statistics.median(wall), statistics.median(cpu)


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count Redis round trips, redis.Redis constructions and SQL queries inside the block."""
    import redis
    from django.db import connection

    counts: Counter[str] = Counter()
    send = redis.connection.AbstractConnection.send_packed_command
    init = redis.Redis.__init__

    def counted_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        # One call per round trip: a pipeline packs all its commands into a single send.
        counts["redis round trips"] += 1
        return send(self, *args, **kwargs)

    def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
        counts["redis.Redis clients built"] += 1
        init(self, *args, **kwargs)

    def counted_query(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        counts["SQL queries"] += 1
        return execute(sql, params, many, context)

    with (
        mock.patch.object(redis.connection.AbstractConnection, "send_packed_command", counted_send),
        mock.patch.object(redis.Redis, "__init__", counted_init),
        connection.execute_wrapper(counted_query),
    ):
        yield counts


def profile(args: argparse.Namespace, headers: dict[str, str]) -> None:
    import django
    from django.core.handlers.wsgi import WSGIHandler

    django.setup()
    app = WSGIHandler()
    api = requester(app, api_root.API_PATH, headers)
    body = api()
    Path(os.environ["BENCH_PLAIN_BODY_FILE"]).write_bytes(body)
    plain = requester(app, api_root.PLAIN_PATH, headers)
    if plain() != body:
        raise api_root.BenchError("the plain view's body differs from GET /api/'s")

    plain_wall, plain_cpu = per_request_us(plain, args.requests)
    api_wall, api_cpu = per_request_us(api, args.requests)
    print(f"\nIn-process, one request at a time (median of 5 x {args.requests}):")
    print(f"  {api_root.PLAIN_PATH:14} wall {plain_wall:7.1f} us   CPU {plain_cpu:7.1f} us")
    print(f"  {api_root.API_PATH:14} wall {api_wall:7.1f} us   CPU {api_cpu:7.1f} us")
    print(f"  API / plain:   wall {api_wall / plain_wall:.2f}x   CPU {api_cpu / plain_cpu:.2f}x")

    n = 1000
    with counting() as counts:
        for _ in range(n):
            api()
    print(f"\nPer GET {api_root.API_PATH} (average of {n}, warm cache):")
    for name in ("redis round trips", "redis.Redis clients built", "SQL queries"):
        print(f"  {name:26} {counts[name] / n:.2f}")

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.requests):
        api()
    profiler.disable()
    print(f"\ncProfile of {args.requests} GET {api_root.API_PATH} (profiling inflates the times; compare shares):")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top // 2)


def main(argv: list[str] | None = None) -> int:
    return api_root.profile_in_process(parse_args(argv), "profile", profile, migrate_timeout=150)


if __name__ == "__main__":
    sys.exit(main())
