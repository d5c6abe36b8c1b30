"""The slowest segment definitions inside the complexity budget, against a simple count, on PostgreSQL.

Run from the repository root:  .venv/bin/python bench/segment_budget.py [--contacts 100000 --events 1000000]

What it does, all on loopback and bounded in time (--time-limit, 600 s by default):
  1. recreates the scratch database salloq_bench_budget and migrates it (the helpers of segment_count.py);
  2. fills it with server-side SQL: one company, --contacts contacts whose properties hold a nested object
     a.b.c.d with one key per budgeted rule (text and numbers, about 1.5 KB of JSON each), a number custom
     field on every contact and --events events (as segment_count.py), then ANALYZE;
  3. counts, through the compiler as the API and the dashboard do, a one-rule segment (the baseline) and
     each worst case the budget allows, alternating, --rounds times after a warm-up. Every worst case is
     an "or" whose rules never match, so each rule is tested on every contact: the most rules, values,
     subqueries and nesting contacts/segments/budget.py lets through;
  4. prints the median of each, the slowest, its ratio to the baseline and whether the target holds:
     no definition inside the budget over 2 s. --explain prints the slowest one's plan.
Whatever happens, the scratch database is dropped.

Exit status: 0 when the runs were clean (also when the target is missed, unless --check), 1 on failure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the bench package is importable from the root
    sys.path.insert(0, str(ROOT))

from bench.api_root import BenchError, log  # noqa: E402
from bench.segment_count import (  # noqa: E402
    EVENTS_SQL,
    run_on_scratch_database,
    secondary_indexes,
    write_results,
)

TARGET_MS = 2000.0
BASELINE = {"operator": "and", "rules": [{"field": "status", "comparison": "equals", "value": "subscribed"}]}

# Keys p0..p{MAX_RULES-1} under a.b.c.d (the deepest path the budget allows): even keys hold text,
# odd keys numbers, so both kinds of comparison read a value that is there.
CONTACTS_SQL = """
INSERT INTO contacts_contact (company_id, email, external_id, phone, first_name, last_name, lang, source,
                              status, properties, tags, erased_at, created_at, updated_at)
SELECT %(company)s, 'c' || g || '@example.com', NULL, '', 'First' || g, 'Last' || g, 'fr', 'bench',
       CASE g %% 10 WHEN 0 THEN 'unsubscribed' ELSE 'subscribed' END,
       jsonb_build_object('country', 'FR', 'a', jsonb_build_object('b', jsonb_build_object('c', jsonb_build_object(
           'd', (SELECT jsonb_object_agg('p' || k, CASE WHEN k %% 2 = 0 THEN to_jsonb('value ' || (g * k) %% 997)
                                                                  ELSE to_jsonb((g * k) %% 997) END)
                 FROM generate_series(0, %(keys)s - 1) AS k))))),
       '[]'::jsonb, NULL, now() - (g %% 1000) * interval '1 day', now()
FROM generate_series(1::bigint, %(n)s) AS g
"""

FIELD_VALUES_SQL = """
INSERT INTO contacts_customfieldvalue (contact_id, field_id, number_value)
SELECT id, %(field)s, id %% 500 FROM contacts_contact WHERE company_id = %(company)s
"""


def worst_cases() -> dict[str, dict]:
    """The costliest definitions inside the budget, each an "or" of rules that match nobody."""
    from contacts.segments import budget

    json_rules = budget.MAX_COST // budget.RULE_COST  # the most property rules the cost allows
    values_per_rule = min(budget.MAX_VALUES, budget.MAX_TOTAL_VALUES // json_rules)
    path = "properties." + ".".join(["a", "b", "c", "d"][: budget.MAX_PATH_KEYS - 1])

    def text_in(k: int) -> dict:
        return {"field": f"{path}.p{k}", "comparison": "in", "value": [f"zz{i}" for i in range(values_per_rule)]}

    def number_in(k: int) -> dict:
        return {"field": f"{path}.p{k}", "comparison": "in", "value": [10**6 + i for i in range(values_per_rule)]}

    events = [
        {"field": "events.order_placed.total", "comparison": "greater_than", "value": 10**9, "within_last_days": 365},
        {"field": "events.product_viewed.count", "comparison": "greater_than", "value": 10**6},
        {"field": "events.cart_abandoned.last", "comparison": "before", "value": "1990-01-01"},
        {"field": "events.page_viewed.total", "comparison": "greater_than", "value": 10**9},
    ][: budget.MAX_COST // budget.EVENTS_RULE_COST]
    half = budget.MAX_COST // 2
    mixed = events[: half // budget.EVENTS_RULE_COST]
    mixed += [{"field": "fields.Points", "comparison": "greater_than", "value": 10**6}]
    mixed += [text_in(k) for k in range(0, 2 * (half // budget.RULE_COST - 1), 2)]

    def nested(items: list[dict]) -> dict:
        """The rules spread over MAX_GROUPS groups: chains of groups down to MAX_DEPTH."""
        chains, per_group = budget.MAX_GROUPS // (budget.MAX_DEPTH - 1), -(-len(items) // budget.MAX_GROUPS)
        groups = [items[i : i + per_group] for i in range(0, len(items), per_group)]
        top: list = []
        for _ in range(chains):
            node = top
            for _ in range(budget.MAX_DEPTH - 1):
                child = {"operator": "or", "rules": list(groups.pop()) if groups else []}
                node.append(child)
                node = child["rules"]
        return {"operator": "or", "rules": top}

    attributes = ("first_name", "last_name", "email", "source")
    return {
        "properties, text in": {"operator": "or", "rules": [text_in(k) for k in range(0, 2 * json_rules, 2)]},
        "properties, number in": {"operator": "or", "rules": [number_in(k) for k in range(1, 2 * json_rules, 2)]},
        "attributes, contains": {
            "operator": "or",
            "rules": [
                {"field": attributes[k % 4], "comparison": "contains", "value": "zz"} for k in range(budget.MAX_RULES)
            ],
        },
        "events": {"operator": "or", "rules": events},
        "events, custom field, properties": {"operator": "or", "rules": mixed},
        "nested groups": nested([text_in(k) for k in range(0, 2 * json_rules, 2)]),
    }


@dataclass
class Summary:
    date: str
    cpus: int | None
    contacts: int
    events: int
    rounds: int
    baseline_ms: list[float]
    median_baseline_ms: float
    cases_ms: dict[str, list[float]]
    medians_ms: dict[str, float]
    slowest: str
    median_slowest_ms: float
    ratio: float
    target_ms: float
    target_met: bool


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to create (default 100,000)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to create (default 1,000,000)")
    parser.add_argument("--rounds", type=int, default=5, help="measured runs of each count, alternating (default 5)")
    parser.add_argument("--time-limit", type=int, default=900, help="abort (and clean up) after this many seconds")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="salloq_bench_budget", help="scratch database, dropped before and after")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "segment_budget.json")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the slowest definition")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    for name in ("contacts", "events", "rounds", "time_limit"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def load(args: argparse.Namespace) -> int:
    from django.db import connection

    from contacts.models import CustomField
    from contacts.segments.budget import MAX_COST, RULE_COST
    from salloq.core.models import Company

    keys = MAX_COST // RULE_COST  # one text and one number key per property rule the budget allows
    company = Company.objects.create(name="Bench shop")
    field = CustomField.objects.create(company=company, name="Points", field_type="number")
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SET session_replication_role = replica")  # every id below exists by construction
        cursor.execute("SELECT setseed(0.42)")
        for table, statement, params in (
            ("contacts_contact", CONTACTS_SQL, {"company": company.pk, "n": args.contacts, "keys": 2 * keys}),
            ("contacts_customfieldvalue", FIELD_VALUES_SQL, {"company": company.pk, "field": field.pk}),
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
            for _, definition in indexes:
                cursor.execute(definition)
        cursor.execute("SET session_replication_role = DEFAULT")
        for table in ("contacts_contact", "contacts_customfieldvalue", "events_event"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("SELECT avg(pg_column_size(properties))::int FROM contacts_contact")
        log(f"properties: {cursor.fetchone()[0]} bytes per contact on average")
    return company.pk


def measure(args: argparse.Namespace, company_id: int) -> Summary:
    from contacts.segments import segment_contacts
    from contacts.segments.budget import over_budget
    from salloq.core.models import Company

    company = Company.objects.get(pk=company_id)
    cases = worst_cases()
    for name, definition in cases.items():
        if over_budget(definition):
            raise BenchError(f"{name} is not inside the budget: {over_budget(definition)}")

    def count(definition: dict) -> int:
        return segment_contacts(company, definition).count()

    everything = {"baseline": BASELINE, **cases}
    for name, definition in everything.items():  # warm-up; a worst case must match nobody
        found = count(definition)
        if name != "baseline" and found:
            raise BenchError(f"{name} matched {found} contacts: its rules are not all tested on every contact")
    log(f"measuring {args.rounds} rounds of {len(everything)} counts")
    timings: dict[str, list[float]] = {name: [] for name in everything}
    for round_no in range(1, args.rounds + 1):
        names = list(everything) if round_no % 2 else list(reversed(everything))
        for name in names:
            started = time.perf_counter()
            count(everything[name])
            timings[name].append(round((time.perf_counter() - started) * 1000, 1))
        log(f"round {round_no}: " + ", ".join(f"{name} {timings[name][-1]:.0f} ms" for name in everything))

    medians = {name: statistics.median(runs) for name, runs in timings.items()}
    slowest = max(cases, key=lambda name: medians[name])
    ratio = medians[slowest] / medians["baseline"]
    if args.explain:
        from django.db import connection

        executed: list[tuple[str, object]] = []

        def capture(execute, statement, params, many, context):
            executed.append((statement, params))
            return execute(statement, params, many, context)

        with connection.execute_wrapper(capture):
            count(cases[slowest])  # the very SQL and parameters count() sends
        statement, params = executed[-1]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + statement, params)
            print(f"\n--- {slowest} ---\n" + "\n".join(row[0][:200] for row in cursor.fetchall()))
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        contacts=args.contacts,
        events=args.events,
        rounds=args.rounds,
        baseline_ms=timings.pop("baseline"),
        median_baseline_ms=round(medians.pop("baseline"), 1),
        cases_ms=timings,
        medians_ms={name: round(value, 1) for name, value in medians.items()},
        slowest=slowest,
        median_slowest_ms=round(medians[slowest], 1),
        ratio=round(ratio, 1),
        target_ms=TARGET_MS,
        target_met=medians[slowest] <= TARGET_MS,
    )


def report(summary: Summary) -> None:
    print()
    print(f"{summary.contacts:,} contacts, {summary.events:,} events; medians of {summary.rounds} rounds")
    print(f"{'baseline (status equals subscribed)':40} {summary.median_baseline_ms:9.1f} ms")
    for name, median in summary.medians_ms.items():
        print(f"{name:40} {median:9.1f} ms  {median / summary.median_baseline_ms:6.1f}x the baseline")
    print(
        f"slowest inside the budget: {summary.slowest}, {summary.median_slowest_ms:.0f} ms "
        f"({summary.ratio:.1f}x the baseline); target under {TARGET_MS:.0f} ms: "
        f"{'MET' if summary.target_met else 'NOT MET'}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    summary = run_on_scratch_database(args, "salloq-bench-budget-", lambda args: measure(args, load(args)))
    if summary is None:
        return 1
    report(summary)
    write_results(args, summary, started)
    return 1 if args.check and not (summary.target_met) else 0


if __name__ == "__main__":
    sys.exit(main())
