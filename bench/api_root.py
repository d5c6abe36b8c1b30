"""Authenticated API throughput: GET /api/ against a plain Django view returning the same JSON.

Run from the repository root:  .venv/bin/python bench/api_root.py [--duration 10 --rounds 5 --connections 16]

What it does, all on loopback and bounded in time (--time-limit, 235 s by default):
  1. creates a scratch PostgreSQL database, migrates it and creates an API key (create_api_key);
  2. starts gunicorn with bench.settings (the project's settings plus /bench/plain) and the Redis cache;
  3. fetches GET /api/ once and hands its body to /bench/plain, which returns the identical JSON;
  4. warms both up, then runs wrk against each in turn for --rounds interleaved rounds;
  5. prints the median requests/s of each, the ratio plain/api and whether it is within the target.
Whatever happens, gunicorn is stopped, the scratch database dropped and the run's Redis keys deleted.

Exit status: 0 when every run was clean (also when the target is missed, unless --check), 1 on any
failure (a non-2xx response, a socket error, a server that does not start, the time limit).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import psycopg
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
API_PATH = "/api/"
PLAIN_PATH = "/bench/plain"
# The API path may cost at most this many times the plain view (plain req/s / api req/s).
TARGET_RATIO = 1.5
# Migrations, key creation and gunicorn start-up take well under this on the 2-core machine.
SETUP_ALLOWANCE_SECONDS = 60


class BenchError(Exception):
    """A run that cannot be trusted or could not be made: the script fails loudly with it."""


@dataclass
class WrkResult:
    target: str
    round: int
    requests_per_second: float
    requests: int
    non_2xx_3xx: int
    socket_errors: dict[str, int] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=5, help="measured runs per target, interleaved (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of discarded warm-up per target (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker; above 1 uses gthread workers (default 1: sync)"
    )
    parser.add_argument(
        "--time-limit", type=int, default=235, help="abort (and clean up) after this many seconds (default 235)"
    )
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="salloq_bench", help="scratch database, dropped before and after")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="cache for the server under test")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "api_root.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when the ratio misses the target")
    args = parser.parse_args(argv)
    for name in ("duration", "rounds", "connections", "workers", "threads", "time_limit"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    planned = 2 * args.warmup + 2 * args.rounds * args.duration
    if planned + SETUP_ALLOWANCE_SECONDS > args.time_limit:
        parser.error(
            f"{planned} s of wrk plus ~{SETUP_ALLOWANCE_SECONDS} s of setup does not fit in --time-limit "
            f"{args.time_limit}: lower --duration/--rounds or raise the limit"
        )
    return args


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes have used so far; a process gone meanwhile counts 0."""
    total = 0
    for pid in pids:
        try:
            # After the command name in parentheses: state is field 3, utime 14 and stime 15.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Time bound and signals -----------------------------------------------------------------


class TimeLimitExceeded(BenchError):
    pass


def on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeLimitExceeded("time limit reached; stopping and cleaning up")


def on_terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM would otherwise kill us without running the finally blocks that clean up.
    raise SystemExit(128 + signum)


# --- Tools ------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """wrk from Debian; installed here when missing, since machines are not kept between sessions."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed: run 'apt-get update && apt-get install -y wrk'")
    log("wrk is missing: installing it with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, capture_output=True, timeout=300).returncode != 0:
        # A fresh machine has empty package lists.
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300, check=True)
        subprocess.run(install, env=env, capture_output=True, timeout=300, check=True)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk but it is not on PATH")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Scratch database and cache ------------------------------------------------------------


def _admin_connection(pg_url: str) -> psycopg.Connection:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return psycopg.connect(f"{pg_url}/postgres", autocommit=True, connect_timeout=10)


def recreate_database(pg_url: str, name: str) -> None:
    with _admin_connection(pg_url) as conn:
        # FORCE: a previous run that died may have left gunicorn's persistent connections behind.
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(pg_url: str, name: str) -> None:
    with _admin_connection(pg_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def delete_cache_keys(redis_url: str, prefix: str) -> int:
    # Only this run's keys (its own KEY_PREFIX): the Redis database may be shared.
    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


def server_env(args: argparse.Namespace, scratch: Path, cache_prefix: str) -> dict[str, str]:
    """The environment of manage.py and gunicorn: production-like (DEBUG=0), PostgreSQL and Redis."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": f"{args.pg_url}/{args.db_name}",
        "REDIS_URL": args.redis_url,
        "CACHE_URL": args.redis_url,  # set too, so an inherited CACHE_URL cannot point elsewhere
        "CACHE_KEY_PREFIX": cache_prefix,
        "CELERY_BROKER_URL": args.redis_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_DEFAULT_HOURLY_LIMIT": "100000000",
        # var/ (static root, secret key) goes to the scratch directory, not into the work tree.
        "SALLOQ_VAR_DIR": str(scratch / "var"),
        "LOG_LEVEL": "WARNING",
        "BENCH_PLAIN_BODY_FILE": str(scratch / "plain_body.json"),
        "PYTHONUNBUFFERED": "1",
    }


def manage(env: dict[str, str], *command: str, timeout: float) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise BenchError(f"manage.py {' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def create_api_key(env: dict[str, str]) -> tuple[int, str]:
    # A limit no run can reach: the rate limit must count every request, never refuse one.
    out = manage(env, "create_api_key", "--company", "Bench Co", "--limit", "100000000", timeout=60)
    created = json.loads(out.strip().splitlines()[-1])
    return int(created["company_id"]), str(created["api_key"])


# --- gunicorn ---------------------------------------------------------------------------------


def profile_in_process(args: argparse.Namespace, name: str, profile, *, migrate_timeout: float) -> int:
    """The profile scripts' harness: a migrated scratch database and an API key, then this process
    becomes the server (the environment gunicorn gets) and runs profile(args, headers) in-process;
    everything is dropped after. Returns the exit status."""
    cache_prefix = f"salloq-bench-{name}-{os.getpid()}"
    scratch = Path(tempfile.mkdtemp(prefix=f"salloq-bench-{name}-"))
    env = server_env(args, scratch, cache_prefix)
    try:
        recreate_database(args.pg_url, args.db_name)
        manage(env, "migrate", "--noinput", "-v0", timeout=migrate_timeout)
        company_id, api_key = create_api_key(env)
        os.environ.update(env)
        profile(args, {"Authorization": f"Bearer {api_key}", "X-Company-ID": str(company_id)})
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        from django.db import connections

        connections.close_all()  # else DROP DATABASE has to force our own connection out
        drop_database(args.pg_url, args.db_name)
        delete_cache_keys(args.redis_url, cache_prefix)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], port: int, workers: int, threads: int, log_file: Path
) -> Iterator[subprocess.Popen[bytes]]:
    # Default: 4 sync workers, 2 per core, the usual shape for a CPU-bound Django app behind a proxy.
    # Each worker serves one request at a time; with more workers than cores one can use the CPU while
    # another waits on Redis or PostgreSQL, and more would only add context switches on 2 cores that
    # wrk, Redis and PostgreSQL share. Sync workers close the connection after each response, a fixed
    # cost both targets pay alike. --threads N (gthread) instead keeps connections alive and lets one
    # worker's threads overlap their Redis waits: another shape worth comparing, not the default.
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "salloq.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync" if threads == 1 else "gthread",
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--error-logfile",
        str(log_file),
        "--timeout",
        "30",
        "--graceful-timeout",
        "5",
    ]
    # Own process group: stopping it reaches the workers too, and only them.
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        stop_process_group(proc)


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def http_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    # http.client, not urllib: a redirect must show up as a failure, not be followed.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until_ready(proc: subprocess.Popen[bytes], port: int, headers: dict[str, str], log_file: Path) -> bytes:
    """Poll GET /api/ until it answers 200 and return its body."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gunicorn exited with code {proc.returncode}:\n{read_tail(log_file)}")
        try:
            status, body = http_get(port, API_PATH, headers)
        except OSError:
            time.sleep(0.2)
            continue
        if status != 200:
            raise BenchError(f"GET {API_PATH} answered {status}: {body[:500]!r}\n{read_tail(log_file)}")
        return body
    raise BenchError(f"gunicorn did not answer within 30 s:\n{read_tail(log_file)}")


def read_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- wrk --------------------------------------------------------------------------------------

_RPS_RE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL_RE = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
_NON_2XX_RE = re.compile(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", re.MULTILINE)
_SOCKET_RE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_PERCENTILE_RE = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str, target: str, round_no: int) -> WrkResult:
    rps = _RPS_RE.search(output)
    total = _TOTAL_RE.search(output)
    if not rps or not total:
        raise BenchError(f"could not read wrk's output:\n{output}")
    non_2xx = _NON_2XX_RE.search(output)
    sockets = _SOCKET_RE.search(output)
    percentiles = {p: float(v) * _UNIT_MS[u] for p, v, u in _PERCENTILE_RE.findall(output)}
    return WrkResult(
        target=target,
        round=round_no,
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        # wrk prints these lines only when the count is not zero.
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=(
            dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True))
            if sockets
            else {}
        ),
        latency_p50_ms=percentiles.get("50"),
        latency_p99_ms=percentiles.get("99"),
    )


def run_wrk(
    wrk: str,
    url: str,
    headers: dict[str, str],
    seconds: int,
    connections: int,
    target: str,
    round_no: int,
    script: Path | None = None,
) -> WrkResult:
    """One wrk run; `script` is a Lua script shaping the requests (a POST body, say)."""
    # One wrk thread: it needs a fraction of a core at these rates, and every cycle it does not
    # take is left to the server under test on this 2-core machine.
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if script is not None:
        command += ["-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    measured = parse_wrk(result.stdout, target, round_no)
    # Every response must be a 2xx and every request must have been answered: anything else
    # measures an error path, not the one we want. (wrk counts only statuses >= 400 as errors;
    # redirects were ruled out by the 200 checks before the runs.)
    if measured.non_2xx_3xx or any(measured.socket_errors.values()) or measured.requests == 0:
        raise BenchError(f"{target} run {round_no} was not clean:\n{result.stdout}")
    return measured


@dataclass
class Summary:
    date: str
    cpus: int | None
    settings: dict[str, int]
    median_rps: dict[str, float]
    ratio_plain_over_api: float
    median_round_ratio: float
    target_ratio: float
    target_met: bool
    runs: list[WrkResult]


def describe(result: WrkResult) -> str:
    latency = ""
    if result.latency_p50_ms is not None and result.latency_p99_ms is not None:
        latency = f"  p50 {result.latency_p50_ms:6.2f} ms  p99 {result.latency_p99_ms:6.2f} ms"
    return f"{result.target:5} round {result.round}: {result.requests_per_second:9.1f} req/s{latency}"


# --- Main ---------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, wrk: str, scratch: Path, cache_prefix: str) -> Summary:
    env = server_env(args, scratch, cache_prefix)
    started = time.monotonic()
    recreate_database(args.pg_url, args.db_name)
    manage(env, "migrate", "--noinput", "-v0", timeout=150)
    company_id, api_key = create_api_key(env)
    log(f"scratch database {args.db_name} migrated, key created ({time.monotonic() - started:.1f} s)")

    # Both targets get the same request headers, so request parsing costs them the same.
    headers = {"Authorization": f"Bearer {api_key}", "X-Company-ID": str(company_id)}
    port = free_port()
    log_file = scratch / "gunicorn.log"
    with gunicorn(env, port, args.workers, args.threads, log_file) as proc:
        api_body = wait_until_ready(proc, port, headers, log_file)
        Path(env["BENCH_PLAIN_BODY_FILE"]).write_bytes(api_body)
        status, plain_body = http_get(port, PLAIN_PATH, headers)
        if status != 200 or plain_body != api_body:
            raise BenchError(f"{PLAIN_PATH} answered {status} {plain_body!r}, expected 200 {api_body!r}")
        kind = "sync workers" if args.threads == 1 else f"gthread workers x {args.threads} threads"
        log(f"gunicorn up on 127.0.0.1:{port} with {args.workers} {kind}; body: {api_body.decode()}")

        urls = {"plain": f"http://127.0.0.1:{port}{PLAIN_PATH}", "api": f"http://127.0.0.1:{port}{API_PATH}"}
        if args.warmup:
            # Warm-up: every worker's first requests load code, open the DB and Redis connections.
            for target, url in urls.items():
                run_wrk(wrk, url, headers, args.warmup, args.connections, target, 0)
        results: list[WrkResult] = []
        for round_no in range(1, args.rounds + 1):
            # Alternate which target goes first, so a drift in machine load does not favour one.
            order = ("plain", "api") if round_no % 2 else ("api", "plain")
            for target in order:
                result = run_wrk(wrk, urls[target], headers, args.duration, args.connections, target, round_no)
                results.append(result)
                log(describe(result))
        if proc.poll() is not None:
            raise BenchError(f"gunicorn died during the runs:\n{read_tail(log_file)}")

    medians = {
        target: statistics.median(r.requests_per_second for r in results if r.target == target) for target in urls
    }
    ratio = medians["plain"] / medians["api"]
    # Both targets of a round ran back to back under much the same machine load; the median of the
    # per-round ratios is a second reading that the neighbours' load disturbs less.
    by_round = {(r.round, r.target): r.requests_per_second for r in results}
    round_ratios = [by_round[n, "plain"] / by_round[n, "api"] for n in range(1, args.rounds + 1)]
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        settings={k: getattr(args, k) for k in ("duration", "rounds", "connections", "warmup", "workers", "threads")},
        median_rps=medians,
        ratio_plain_over_api=ratio,
        median_round_ratio=statistics.median(round_ratios),
        target_ratio=TARGET_RATIO,
        target_met=ratio <= TARGET_RATIO,
        runs=results,
    )


def report(summary: Summary) -> None:
    medians, ratio, rounds = summary.median_rps, summary.ratio_plain_over_api, summary.settings["rounds"]
    verdict = "MET" if summary.target_met else "NOT MET"
    print()
    print(f"GET {API_PATH} (key auth, rate limit, DRF): {medians['api']:9.1f} req/s  (median of {rounds})")
    print(f"{PLAIN_PATH} (plain view, same JSON):  {medians['plain']:9.1f} req/s  (median of {rounds})")
    print(f"API path costs {ratio:.2f}x the plain view; target at most {TARGET_RATIO:.2f}x: {verdict}")
    print(f"(median of the per-round ratios: {summary.median_round_ratio:.2f}x)")


def run_bounded(args: argparse.Namespace, label: str, measure_run, report_run) -> int:
    """Run `measure_run(scratch, cache_prefix)` within --time-limit, always clean up, then report.

    Shared by the benchmarks that start a server: whatever happens, the scratch database, this
    run's Redis keys and the scratch directory go. Returns the process exit status.
    """
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGALRM, on_alarm)
    cache_prefix = f"salloq-bench-{label}{os.getpid()}"
    scratch = Path(tempfile.mkdtemp(prefix=f"salloq-bench-{label}"))
    signal.alarm(args.time_limit)
    try:
        summary = measure_run(scratch, cache_prefix)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        # The cleanup must not be cut short by the alarm; each step is bounded by its own timeout.
        signal.alarm(0)
        for step, cleanup in (
            ("drop the scratch database", lambda: drop_database(args.pg_url, args.db_name)),
            ("delete the Redis keys", lambda: delete_cache_keys(args.redis_url, cache_prefix)),
            ("remove the scratch directory", lambda: shutil.rmtree(scratch, ignore_errors=True)),
        ):
            try:
                cleanup()
            except Exception as exc:  # report, and still try the other steps
                print(f"cleanup: could not {step}: {exc}", file=sys.stderr)
    report_run(summary)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    log(f"results written to {args.results}")
    return 1 if args.check and not summary.target_met else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = ensure_wrk()
    return run_bounded(args, "", lambda scratch, prefix: measure(args, wrk, scratch, prefix), report)


if __name__ == "__main__":
    sys.exit(main())
