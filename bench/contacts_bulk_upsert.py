"""Bulk upsert throughput: POST /api/contacts/bulk against raw psycopg binary COPY of the same rows.

Run from the repository root:  .venv/bin/python bench/contacts_bulk_upsert.py [--contacts 100000 --rounds 3]

What it does, all on loopback and bounded in time (--time-limit, 600 s by default):
  1. creates a scratch PostgreSQL database, migrates it and creates an API key (create_api_key);
  2. makes --contacts contact rows (email, external_id, first and last name, lang, source, two tags,
     one property) and serializes them into requests of --batch contacts;
  3. starts gunicorn (--workers sync workers) with the Redis cache, as in production;
  4. each round: binary COPY of the rows into a scratch table shaped like contacts_contact (same
     columns, constraints and indexes), then the same rows through POST /api/contacts/bulk sent by
     --clients threads at once (a first pass creates every contact, a second one updates every
     contact: new first names); the contacts tables are emptied before each round;
  5. prints the median contacts/s of each, the ratio and the target: the bulk API at least 1/5 of
     COPY's rate (issue 3: about 50,000 contacts/s on this machine).
Whatever happens, gunicorn is stopped, the scratch database dropped and the run's Redis keys deleted.

Exit status: 0 when every run was clean (also when the target is missed, unless --check), 1 on any
failure (a non-200 answer, an item that is not created/updated, a server that does not start, the
time limit).
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
from pathlib import Path

import psycopg
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
from bench.load import post_all_with_status  # noqa: E402

BULK_PATH = "/api/contacts/bulk"
# The bulk API should reach at least this fraction of COPY's rate (issue 3).
TARGET_FRACTION = 1 / 5
COPY_COLUMNS = (
    "company_id",
    "email",
    "external_id",
    "phone",
    "first_name",
    "last_name",
    "lang",
    "source",
    "status",
    "properties",
    "tags",
    "created_at",
    "updated_at",
)
COPY_TYPES = ["int8", "varchar", "varchar", "varchar", "varchar", "varchar", "varchar", "varchar", "varchar"]
COPY_TYPES += ["jsonb", "jsonb", "timestamptz", "timestamptz"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts per pass (default 100000)")
    parser.add_argument("--batch", type=int, default=1000, help="contacts per request, at most 1000 (default 1000)")
    parser.add_argument("--clients", type=int, default=4, help="client threads sending at once (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--time-limit", type=int, default=600, help="abort (and clean up) after this many seconds")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="salloq_bench_bulk", help="scratch database, dropped before and after")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="cache for the server under test")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "contacts_bulk_upsert.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    for name in ("contacts", "batch", "clients", "rounds", "workers", "time_limit"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch > 1000:
        parser.error("--batch must be at most 1000 (the API's limit)")
    return args


# --- The rows -----------------------------------------------------------------------------------


def make_contacts(count: int) -> list[dict]:
    return [
        {
            "email": f"bench.user{n}@example.com",
            "external_id": f"BENCH-{n:08d}",
            "first_name": f"First{n % 997}",
            "last_name": f"Last{n % 991}",
            "lang": "fr",
            "source": "bench",
            "tags": ["bench", f"group-{n % 10}"],
            "properties": {"score": n % 100},
        }
        for n in range(count)
    ]


def request_bodies(contacts: list[dict], batch: int, first_name_suffix: str) -> list[bytes]:
    """Serialized before the clock starts: the client's JSON encoding is not what is measured."""
    bodies = []
    for start in range(0, len(contacts), batch):
        chunk = [{**c, "first_name": c["first_name"] + first_name_suffix} for c in contacts[start : start + batch]]
        bodies.append(json.dumps({"contacts": chunk}).encode())
    return bodies


# --- COPY baseline --------------------------------------------------------------------------------


def create_copy_table(conn: psycopg.Connection) -> None:
    # Same columns, defaults, constraints and indexes as the contacts table the API writes to.
    conn.execute("DROP TABLE IF EXISTS bench_copy_contacts")
    conn.execute("CREATE TABLE bench_copy_contacts (LIKE contacts_contact INCLUDING ALL)")
    conn.commit()


def copy_rate(conn: psycopg.Connection, company_id: int, contacts: list[dict]) -> float:
    conn.execute("TRUNCATE bench_copy_contacts")
    conn.commit()
    started = time.perf_counter()
    now = datetime.now(UTC)
    with conn.cursor() as cursor:
        statement = f"COPY bench_copy_contacts ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        with cursor.copy(statement) as copy:
            copy.set_types(COPY_TYPES)
            for c in contacts:
                copy.write_row(
                    (
                        company_id,
                        c["email"],
                        c["external_id"],
                        "",
                        c["first_name"],
                        c["last_name"],
                        c["lang"],
                        c["source"],
                        "subscribed",
                        Jsonb(c["properties"]),
                        Jsonb(c["tags"]),
                        now,
                        now,
                    )
                )
    conn.commit()
    elapsed = time.perf_counter() - started
    copied = conn.execute("SELECT count(*) FROM bench_copy_contacts").fetchone()[0]
    if copied != len(contacts):
        raise BenchError(f"COPY wrote {copied} rows, expected {len(contacts)}")
    return len(contacts) / elapsed


def empty_contacts(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE contacts_contact CASCADE")
    conn.commit()


@dataclass
class Round:
    round: int
    copy_per_second: float
    bulk_create_per_second: float
    bulk_update_per_second: float


@dataclass
class Summary:
    date: str
    cpus: int | None
    settings: dict[str, int]
    median_per_second: dict[str, float]
    create_fraction_of_copy: float
    update_fraction_of_copy: float
    target_fraction: float
    target_met: bool
    rounds: list[Round] = field(default_factory=list)


def measure(args: argparse.Namespace, scratch: Path, cache_prefix: str) -> Summary:
    env = server_env(args, scratch, cache_prefix)
    started = time.monotonic()
    recreate_database(args.pg_url, args.db_name)
    manage(env, "migrate", "--noinput", "-v0", timeout=150)
    company_id, api_key = create_api_key(env)
    log(f"scratch database {args.db_name} migrated, key created ({time.monotonic() - started:.1f} s)")

    contacts = make_contacts(args.contacts)
    creates = request_bodies(contacts, args.batch, "")
    updates = request_bodies(contacts, args.batch, "-v2")
    headers = {"Authorization": f"Bearer {api_key}", "X-Company-ID": str(company_id)}
    rounds: list[Round] = []
    with psycopg.connect(f"{args.pg_url}/{args.db_name}", connect_timeout=10) as conn:
        create_copy_table(conn)
        port = free_port()
        log_file = scratch / "gunicorn.log"
        with gunicorn(env, port, args.workers, 1, log_file) as proc:
            wait_until_ready(proc, port, headers, log_file)
            log(f"gunicorn up on 127.0.0.1:{port} with {args.workers} sync workers")
            url = f"http://127.0.0.1:{port}{BULK_PATH}"
            # Warm-up: every worker loads its code and opens its connections on a throwaway batch.
            warmup = request_bodies(make_contacts(args.workers * 20), 20, "")
            post_all_with_status(url, headers, warmup, args.workers, "created")
            for number in range(1, args.rounds + 1):
                empty_contacts(conn)
                copied = copy_rate(conn, company_id, contacts)
                created = post_all_with_status(url, headers, creates, args.clients, "created")
                # What autovacuum does soon after such growth in production; this server may run
                # without it, and the update pass would then be planned for an empty table.
                conn.execute("ANALYZE contacts_contact")
                conn.commit()
                updated = post_all_with_status(url, headers, updates, args.clients, "updated")
                rounds.append(Round(number, copied, created, updated))
                log(
                    f"round {number}: COPY {copied:9.0f}/s   bulk create {created:8.0f}/s   "
                    f"bulk update {updated:8.0f}/s"
                )
            if proc.poll() is not None:
                raise BenchError(f"gunicorn died during the runs:\n{read_tail(log_file)}")

    medians = {
        "copy": statistics.median(r.copy_per_second for r in rounds),
        "bulk_create": statistics.median(r.bulk_create_per_second for r in rounds),
        "bulk_update": statistics.median(r.bulk_update_per_second for r in rounds),
    }
    create_fraction = medians["bulk_create"] / medians["copy"]
    update_fraction = medians["bulk_update"] / medians["copy"]
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        settings={k: getattr(args, k) for k in ("contacts", "batch", "clients", "rounds", "workers")},
        median_per_second=medians,
        create_fraction_of_copy=create_fraction,
        update_fraction_of_copy=update_fraction,
        target_fraction=TARGET_FRACTION,
        target_met=min(create_fraction, update_fraction) >= TARGET_FRACTION,
        rounds=rounds,
    )


def report(summary: Summary) -> None:
    m, rounds = summary.median_per_second, summary.settings["rounds"]
    verdict = "MET" if summary.target_met else "NOT MET"
    target = m["copy"] * summary.target_fraction
    print()
    print(f"binary COPY into a contacts-shaped table: {m['copy']:9.0f} contacts/s  (median of {rounds})")
    print(
        f"POST {BULK_PATH}, creating:        {m['bulk_create']:9.0f} contacts/s  = 1/{1 / summary.create_fraction_of_copy:.1f} of COPY"
    )
    print(
        f"POST {BULK_PATH}, updating:        {m['bulk_update']:9.0f} contacts/s  = 1/{1 / summary.update_fraction_of_copy:.1f} of COPY"
    )
    print(f"target: at least 1/5 of COPY ({target:.0f} contacts/s): {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bounded(args, "bulk-", lambda scratch, prefix: measure(args, scratch, prefix), report)


if __name__ == "__main__":
    sys.exit(main())
