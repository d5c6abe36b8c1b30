"""CSV import throughput: a generated 1,000,000-row file through the import service, in rows/s.

Run from the repository root:  .venv/bin/python bench/csv_import.py [--rows 1000000]

What it does, on loopback and bounded in time (--time-limit, 1200 s by default):
  1. creates a scratch PostgreSQL database and migrates it, with a company, a custom field and a list;
  2. writes a CSV of --rows rows (email, external_id, first and last name, lang, two tags, a number
     custom field, a free property), UTF-8, comma-separated;
  3. imports it as the dashboard does (contact_import_create stores the file and the mapping; the
     task's body, contact_import_run, then counts the rows and streams them in chunks of 1000
     through the bulk upsert, subscribing every contact to the list and tagging it), inline in this
     process instead of in a Celery worker;
  4. prints rows/s (the whole run: counting pass, every chunk, progress updates) and checks the
     import's counters and the contacts in the database.
Whatever happens, the scratch database and directory are removed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the project is importable from the root
    sys.path.insert(0, str(ROOT))

from bench.api_root import BenchError, drop_database, log, on_alarm, on_terminate, recreate_database  # noqa: E402

IMPORT_MAPPING = {
    "email": "email",
    "customer_id": "external_id",
    "first_name": "first_name",
    "last_name": "last_name",
    "lang": "lang",
    "tags": "tags",
    "points": "field:points",
    "city": "property:city",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the file (default 1000000)")
    parser.add_argument("--time-limit", type=int, default=1200, help="abort (and clean up) after this many seconds")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="salloq_bench_import", help="scratch database, dropped before and after")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "csv_import.json")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.time_limit < 1:
        parser.error("--rows and --time-limit must be at least 1")
    return args


def write_csv(path: Path, rows: int) -> None:
    cities = ["Paris", "Lyon", "Marseille", "Lille", "Nantes", "Bordeaux", "Toulouse", "Nice"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(IMPORT_MAPPING))
        for n in range(rows):
            writer.writerow(
                [
                    f"import.user{n}@example.com",
                    f"IMP-{n:08d}",
                    f"First{n % 997}",
                    f"Last{n % 991}",
                    "fr" if n % 3 else "en",
                    f"csv|group-{n % 10}",
                    n % 500,
                    cities[n % len(cities)],
                ]
            )


@dataclass
class Summary:
    date: str
    cpus: int | None
    rows: int
    file_megabytes: float
    upload_seconds: float
    import_seconds: float
    rows_per_second: float
    created: int
    errors: int


def measure(args: argparse.Namespace, scratch: Path) -> Summary:
    # Settings come from the environment when Django starts: production-like, on the scratch database.
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "salloq.settings",
            "DATABASE_URL": f"{args.pg_url}/{args.db_name}",
            "DEBUG": "0",  # DEBUG=1 would keep every query in memory
            "SECRET_KEY": "bench",
            "SALLOQ_VAR_DIR": str(scratch / "var"),
            "CELERY_BROKER_URL": "memory://",
            "LOG_LEVEL": "WARNING",
        }
    )
    recreate_database(args.pg_url, args.db_name)
    import django

    django.setup()
    from django.core.files import File
    from django.core.management import call_command

    from contacts import imports, services
    from contacts.models import Contact, ImportStatus, ListMembership
    from salloq.core.models import Company

    call_command("migrate", "--noinput", verbosity=0)
    company = Company.objects.create(name="Bench Co")
    services.custom_field_create(company=company, name="points", field_type="number")
    contact_list = services.contact_list_create(company=company, name="Imported", double_opt_in=False)

    path = scratch / "contacts.csv"
    started = time.monotonic()
    write_csv(path, args.rows)
    size = path.stat().st_size / 1e6
    log(f"wrote {args.rows} rows ({size:.1f} MB) in {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    with path.open("rb") as handle:
        contact_import = imports.contact_import_create(
            company=company,
            uploaded_file=File(handle, name=path.name),
            mapping=IMPORT_MAPPING,
            contact_list=contact_list,
            tags=["bench"],
            enqueue=False,
        )
    upload_seconds = time.monotonic() - started
    log(f"import {contact_import.pk} created (file stored, mapping checked) in {upload_seconds:.2f} s")

    every = max(1, args.rows // 1000 // 10)  # about ten progress lines
    chunks = {"seen": 0}

    def progress(current) -> None:
        chunks["seen"] += 1
        if chunks["seen"] % every == 0 or current.processed_rows == current.total_rows:
            rate = current.processed_rows / (time.monotonic() - started)
            log(f"{current.processed_rows}/{current.total_rows} rows ({current.percent}%), {rate:.0f} rows/s so far")

    started = time.monotonic()
    result = imports.contact_import_run(import_id=contact_import.pk, on_progress=progress)
    import_seconds = time.monotonic() - started
    if result.status != ImportStatus.DONE or result.processed_rows != args.rows:
        raise BenchError(f"import ended {result.status} after {result.processed_rows} rows: {result.failure}")
    stored = Contact.objects.for_company(company).count()
    members = ListMembership.objects.filter(contact_list=contact_list).count()
    if (result.created_count, result.error_count, stored, members) != (args.rows, 0, args.rows, args.rows):
        raise BenchError(
            f"expected {args.rows} new contacts and members and no error; got created={result.created_count} "
            f"errors={result.error_count} contacts={stored} members={members}"
        )
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        rows=args.rows,
        file_megabytes=round(size, 1),
        upload_seconds=round(upload_seconds, 2),
        import_seconds=round(import_seconds, 1),
        rows_per_second=round(args.rows / import_seconds),
        created=result.created_count,
        errors=result.error_count,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGALRM, on_alarm)
    scratch = Path(tempfile.mkdtemp(prefix="salloq-bench-import-"))
    signal.alarm(args.time_limit)
    try:
        summary = measure(args, scratch)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
        try:
            from django.db import connections

            connections.close_all()  # DROP DATABASE waits for no session; close ours first
        except Exception as exc:  # Django may not have started
            print(f"cleanup: {exc}", file=sys.stderr)
        for step, cleanup in (
            ("drop the scratch database", lambda: drop_database(args.pg_url, args.db_name)),
            ("remove the scratch directory", lambda: shutil.rmtree(scratch, ignore_errors=True)),
        ):
            try:
                cleanup()
            except Exception as exc:  # report, and still try the other steps
                print(f"cleanup: could not {step}: {exc}", file=sys.stderr)
    print()
    print(
        f"CSV import of {summary.rows} rows ({summary.file_megabytes} MB): {summary.rows_per_second} rows/s "
        f"({summary.import_seconds} s; upload step {summary.upload_seconds} s)"
    )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    log(f"results written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
