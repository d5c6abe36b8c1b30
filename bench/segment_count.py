"""Segment count on PostgreSQL: segment_contacts(...).count() against the same count written by hand in SQL.

Run from the repository root:  .venv/bin/python bench/segment_count.py [--contacts 1000000 --events 10000000]

What it does, all on loopback and bounded in time (--time-limit, 600 s by default):
  1. recreates the scratch database salloq_bench_segments and migrates it (in this process);
  2. fills it with server-side SQL (INSERT ... SELECT generate_series): one company, --contacts contacts
     (80% subscribed, a `country` property, FR for 20%) and --events events over the last 365 days
     (15% order_placed), with the secondary indexes built after the load, then ANALYZE;
  3. counts a three-rule segment — status = subscribed, properties.country = "FR", and placed an order
     in the last 30 days — through the compiler (compile + COUNT, as the API and the UI do) and with a
     hand-written SQL COUNT, alternating, --rounds times after a warm-up, and checks both agree;
  4. prints the median of each, their ratio, and whether the targets hold: within 1.2x of the
     hand-written SQL and under 500 ms. --explain also prints both query plans.
Whatever happens, the scratch database is dropped.

Exit status: 0 when the runs were clean (also when a target is missed, unless --check), 1 on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the bench package is importable from the root
    sys.path.insert(0, str(ROOT))

from bench.api_root import (  # noqa: E402
    BenchError,
    drop_database,
    log,
    on_alarm,
    on_terminate,
    recreate_database,
)

TARGET_RATIO = 1.2
TARGET_MS = 500.0

DEFINITION = {
    "operator": "and",
    "rules": [
        {"field": "status", "comparison": "equals", "value": "subscribed"},
        {"field": "properties.country", "comparison": "equals", "value": "FR"},
        {"field": "events.order_placed.count", "comparison": "greater_than", "value": 0, "within_last_days": 30},
    ],
}

# What a person would write for the same question, with the segment's semantics: erased contacts are
# never in a segment, text compares without case, "the last 30 days" is [now - 30 days, now].
HAND_SQL = """
SELECT COUNT(*) FROM contacts_contact c
WHERE c.company_id = %(company)s
  AND c.erased_at IS NULL
  AND c.status = 'subscribed'
  AND upper(c.properties ->> 'country') = 'FR'
  AND EXISTS (
    SELECT 1 FROM events_event e
    WHERE e.contact_id = c.id AND e.company_id = %(company)s AND e.event_type = 'order_placed'
      AND e.occurred_at >= now() - interval '30 days' AND e.occurred_at <= now()
  )
"""


@dataclass
class Summary:
    date: str
    cpus: int | None
    contacts: int
    events: int
    rounds: int
    count: int
    orm_ms: list[float]
    hand_ms: list[float]
    median_orm_ms: float
    median_hand_ms: float
    ratio: float
    target_ratio: float
    target_ms: float
    ratio_met: bool
    time_met: bool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000, help="contacts to create (default 1,000,000)")
    parser.add_argument("--events", type=int, default=10_000_000, help="events to create (default 10,000,000)")
    parser.add_argument("--rounds", type=int, default=9, help="measured runs of each count, alternating (default 9)")
    parser.add_argument("--time-limit", type=int, default=600, help="abort (and clean up) after this many seconds")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="salloq_bench_segments", help="scratch database, dropped before and after")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "segment_count.json")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of both queries")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    for name in ("contacts", "events", "rounds", "time_limit"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def setup_django(args: argparse.Namespace, scratch: Path) -> None:
    """The project's settings, production-like, on the scratch database; then migrate it."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "salloq.settings",
            "DATABASE_URL": f"{args.pg_url}/{args.db_name}",
            "DEBUG": "0",
            "SECRET_KEY": "bench",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SALLOQ_VAR_DIR": str(scratch),
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)


# --- Data -----------------------------------------------------------------------------------------

CONTACTS_SQL = """
INSERT INTO contacts_contact (company_id, email, external_id, phone, first_name, last_name, lang, source,
                              status, properties, tags, erased_at, created_at, updated_at)
SELECT %(company)s, 'c' || g || '@example.com', NULL, '', 'First' || g, 'Last' || g, 'fr', 'bench',
       CASE g %% 10 WHEN 0 THEN 'unsubscribed' WHEN 1 THEN 'bounced' ELSE 'subscribed' END,
       jsonb_build_object('country', (ARRAY['FR', 'DE', 'ES', 'IT', 'GB'])[1 + floor(random() * 5)::int],
                          'age', 18 + g %% 60),
       '[]'::jsonb, NULL, now() - (g %% 1000) * interval '1 day', now()
FROM generate_series(1::bigint, %(n)s) AS g
"""

# Any contact, any time in the last 365 days; random() is seeded (setseed), so every run has the same data.
EVENTS_SQL = """
INSERT INTO events_event (company_id, contact_id, event_type, data, value, occurred_at, received_at, source,
                          dispatched_at)
SELECT %(company)s, %(first_contact)s + floor(random() * %(contacts)s)::bigint, kind.event_type, '{}'::jsonb,
       CASE WHEN kind.event_type = 'order_placed' THEN round((5 + random() * 195)::numeric, 2) END,
       now() - random() * interval '365 days', now(), 'api', now()
FROM (
    SELECT g, CASE WHEN r < 0.15 THEN 'order_placed' WHEN r < 0.65 THEN 'product_viewed'
                   WHEN r < 0.75 THEN 'cart_abandoned' ELSE 'page_viewed' END AS event_type
    FROM (SELECT g, random() AS r FROM generate_series(1::bigint, %(n)s) AS g) AS drawn
) AS kind
"""


def secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """Indexes of `table` that back no constraint: dropped for the load, rebuilt after (much faster)."""
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        [table],
    )
    return cursor.fetchall()


def load(args: argparse.Namespace) -> int:
    from django.db import connection

    from salloq.core.models import Company

    company = Company.objects.create(name="Bench shop")
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        # Foreign keys were just created by the migrations and every id below exists by construction.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SELECT setseed(0.42)")
        for table, statement, params in (
            ("contacts_contact", CONTACTS_SQL, {"company": company.pk, "n": args.contacts}),
            ("events_event", EVENTS_SQL, None),
        ):
            indexes = secondary_indexes(cursor, table)
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            if params is None:
                cursor.execute("SELECT min(id) FROM contacts_contact")
                params = {
                    "company": company.pk,
                    "first_contact": cursor.fetchone()[0],
                    "contacts": args.contacts,
                    "n": args.events,
                }
            started = time.monotonic()
            cursor.execute(statement, params)
            log(f"{table}: {cursor.rowcount:,} rows in {time.monotonic() - started:.1f} s")
            started = time.monotonic()
            for _, definition in indexes:
                cursor.execute(definition)
            log(f"{table}: {len(indexes)} indexes rebuilt in {time.monotonic() - started:.1f} s")
        cursor.execute("SET session_replication_role = DEFAULT")
        started = time.monotonic()
        cursor.execute("VACUUM ANALYZE contacts_contact")
        cursor.execute("VACUUM ANALYZE events_event")
        log(f"VACUUM ANALYZE in {time.monotonic() - started:.1f} s")
    return company.pk


# --- Measure -------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, company_id: int) -> Summary:
    from django.db import connection

    from contacts.segments import segment_contacts
    from salloq.core.models import Company

    company = Company.objects.get(pk=company_id)

    def orm() -> int:
        return segment_contacts(company, DEFINITION).count()

    def hand() -> int:
        with connection.cursor() as cursor:
            cursor.execute(HAND_SQL, {"company": company_id})
            return cursor.fetchone()[0]

    counts = {"orm": orm(), "hand": hand()}  # warm-up: caches, plans
    if counts["orm"] != counts["hand"]:
        raise BenchError(f"the counts differ: compiler {counts['orm']}, hand-written SQL {counts['hand']}")
    log(f"both count {counts['orm']:,} contacts; measuring {args.rounds} rounds")
    timings: dict[str, list[float]] = {"orm": [], "hand": []}
    for round_no in range(1, args.rounds + 1):
        # Alternate which goes first, so that a drift in machine load favours neither.
        order = ("orm", "hand") if round_no % 2 else ("hand", "orm")
        for name in order:
            started = time.perf_counter()
            result = orm() if name == "orm" else hand()
            timings[name].append((time.perf_counter() - started) * 1000)
            if result != counts[name]:
                raise BenchError(f"{name} counted {result}, then {counts[name]}")
        log(f"round {round_no}: compiler {timings['orm'][-1]:7.1f} ms   hand-written {timings['hand'][-1]:7.1f} ms")

    if args.explain:
        executed: list[tuple[str, object]] = []

        def capture(execute, statement, params, many, context):
            executed.append((statement, params))
            return execute(statement, params, many, context)

        with connection.execute_wrapper(capture):
            orm()  # the very SQL and parameters count() sends
        with connection.cursor() as cursor:
            for title, statement, parameters in (
                ("compiler", *executed[-1]),
                ("hand-written", HAND_SQL, {"company": company_id}),
            ):
                cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {statement}", parameters)
                print(f"\n--- {title} ---\n" + "\n".join(row[0] for row in cursor.fetchall()))

    median_orm, median_hand = statistics.median(timings["orm"]), statistics.median(timings["hand"])
    ratio = median_orm / median_hand
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        contacts=args.contacts,
        events=args.events,
        rounds=args.rounds,
        count=counts["orm"],
        orm_ms=[round(t, 1) for t in timings["orm"]],
        hand_ms=[round(t, 1) for t in timings["hand"]],
        median_orm_ms=round(median_orm, 1),
        median_hand_ms=round(median_hand, 1),
        ratio=round(ratio, 3),
        target_ratio=TARGET_RATIO,
        target_ms=TARGET_MS,
        ratio_met=ratio <= TARGET_RATIO,
        time_met=median_orm <= TARGET_MS,
    )


def report(summary: Summary) -> None:
    print()
    print(f"{summary.contacts:,} contacts, {summary.events:,} events; the segment holds {summary.count:,}")
    print(f"segment_contacts(...).count(): {summary.median_orm_ms:8.1f} ms  (median of {summary.rounds})")
    print(f"hand-written SQL COUNT:        {summary.median_hand_ms:8.1f} ms  (median of {summary.rounds})")
    print(
        f"compiler / hand-written = {summary.ratio:.2f}x; target at most {TARGET_RATIO:.1f}x: "
        f"{'MET' if summary.ratio_met else 'NOT MET'}"
    )
    print(f"compiler under {TARGET_MS:.0f} ms: {'MET' if summary.time_met else 'NOT MET'}")


def run_on_scratch_database(args: argparse.Namespace, prefix: str, work) -> object | None:
    """Recreate and migrate the scratch database, run `work(args)` on it and drop it again, even on
    error, Ctrl-C, SIGTERM or the time limit. Returns what `work` returned, or None after a
    BenchError (printed)."""
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGALRM, on_alarm)
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    signal.alarm(args.time_limit)
    started = time.monotonic()
    try:
        recreate_database(args.pg_url, args.db_name)
        setup_django(args, scratch)
        log(f"scratch database {args.db_name} migrated ({time.monotonic() - started:.1f} s)")
        return work(args)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return None
    finally:
        signal.alarm(0)  # the cleanup must not be cut short
        try:
            from django.db import connections

            connections.close_all()
        except Exception as exc:  # Django may not even be set up
            print(f"cleanup: could not close connections: {exc}", file=sys.stderr)
        try:
            drop_database(args.pg_url, args.db_name)
        except Exception as exc:
            print(f"cleanup: could not drop the scratch database: {exc}", file=sys.stderr)
        shutil.rmtree(scratch, ignore_errors=True)


def write_results(args: argparse.Namespace, summary, started: float) -> None:
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    log(f"results written to {args.results} ({time.monotonic() - started:.0f} s in all)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    summary = run_on_scratch_database(args, "salloq-bench-segments-", lambda args: measure(args, load(args)))
    if summary is None:
        return 1
    report(summary)
    write_results(args, summary, started)
    return 1 if args.check and not (summary.ratio_met and summary.time_met) else 0


if __name__ == "__main__":
    sys.exit(main())
