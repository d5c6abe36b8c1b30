"""Salloq Ecommerce connector: a full sync of 10,000 customers and 20,000 orders from the local
Salloq Ecommerce API server (tests/connector/shop_server.py), on PostgreSQL: time, and the HTTP
requests made against the fewest the API's pagination allows.

Run from the repository root:  .venv/bin/python bench/shop_sync.py [--customers 10000 --orders 20000]

What it does, on loopback and bounded in time (--time-limit, 1800 s by default):
  1. creates a scratch PostgreSQL database and migrates it, with a company and its shop connection;
  2. starts the local shop with --customers customers, --orders orders (every customer has some),
     --products products and --subscriptions subscriptions (named by their subscription orders);
  3. runs sync_run inline (as the Celery task would), with the client's hourly limiter lifted (the
     real shop allows 1000 requests an hour: the figure printed says how long that makes it);
  4. checks every record arrived exactly once, and that the requests made are the minimum:
     ceil(products/100) + ceil(orders/100) pages, one customer and one loyalty request per customer,
     one request per subscription; then runs again (incremental) and checks it changes nothing.
Whatever happens, the scratch database and directory are removed.
"""

from __future__ import annotations

import argparse
import json
import math
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--subscriptions", type=int, default=200)
    parser.add_argument("--time-limit", type=int, default=1800, help="abort (and clean up) after this many seconds")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument(
        "--db-name", default="salloq_bench_shop_sync", help="scratch database, dropped before and after"
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "shop_sync.json")
    args = parser.parse_args(argv)
    if min(args.customers, args.orders, args.products) < 1 or args.orders < args.customers:
        parser.error("--customers, --orders and --products must be at least 1, and orders at least customers")
    return args


@dataclass
class Summary:
    date: str
    cpus: int | None
    customers: int
    orders: int
    products: int
    subscriptions: int
    seconds: float
    requests: int
    minimum_requests: int
    requests_per_second: float
    hours_at_1000_per_hour: float
    second_run_requests: int
    second_run_seconds: float
    counts: dict


def measure(args: argparse.Namespace, scratch: Path) -> Summary:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "salloq.settings",
            "DATABASE_URL": f"{args.pg_url}/{args.db_name}",
            "DEBUG": "0",  # DEBUG=1 would keep every query in memory
            "SECRET_KEY": "bench",
            "SALLOQ_VAR_DIR": str(scratch / "var"),
            "CELERY_BROKER_URL": "memory://",
            "LOG_LEVEL": "WARNING",
            "CONNECTOR_HOURLY_LIMIT": "100000000",
        }
    )
    recreate_database(args.pg_url, args.db_name)
    import django

    django.setup()
    from django.core.management import call_command

    from catalog.models import Order, OrderLine, Product, Subscription
    from connector import services, sync
    from connector.models import SyncStatus
    from contacts.models import Contact
    from salloq.core.models import Company
    from tests.connector.shop_server import FULL_KEY, ShopData, ShopServer

    call_command("migrate", "--noinput", verbosity=0)
    company = Company.objects.create(name="Bench Shop")
    started = time.monotonic()
    data = ShopData.generate(
        customers=args.customers, orders=args.orders, products=args.products, subscriptions=args.subscriptions
    )
    log(f"generated the shop's data in {time.monotonic() - started:.1f} s")
    shop = ShopServer(data).start()
    try:
        connection = services.connection_save(
            company=company,
            base_url=shop.base_url,
            api_key=FULL_KEY,
            resources=["products", "orders", "customers", "loyalty", "subscriptions"],
            sync_interval_minutes=0,
        )
        seen = {"phase": None}

        def progress(run) -> None:
            if run.phase != seen["phase"] or run.page % 20 == 0:
                seen["phase"] = run.phase
                log(f"{run.phase}: page {run.page}, {run.done}/{run.total}, {run.requests_made} requests")

        run = services.sync_start(connection=connection, trigger="bench", enqueue=False)
        started = time.monotonic()
        run = sync.sync_run(run_id=run.pk, on_progress=progress)
        seconds = time.monotonic() - started
        if run.status != SyncStatus.SUCCEEDED or run.error_count:
            raise BenchError(
                f"the sync ended {run.status} ({run.failure}) with {run.error_count} errors: {run.errors[:5]}"
            )
        minimum = (
            math.ceil(args.products / 100) + math.ceil(args.orders / 100) + 2 * args.customers + len(data.subscriptions)
        )
        stored = (
            Contact.objects.for_company(company).count(),
            Order.objects.for_company(company).count(),
            OrderLine.objects.filter(order__company=company).count(),
            Product.objects.for_company(company).count(),
            Subscription.objects.for_company(company).count(),
        )
        wanted = (args.customers, args.orders, args.orders, args.products, len(data.subscriptions))
        if stored != wanted:
            raise BenchError(f"stored (contacts, orders, lines, products, subscriptions) {stored}, wanted {wanted}")
        if run.requests_made != minimum or len(shop.requests) != minimum:
            raise BenchError(f"{run.requests_made} requests ({len(shop.requests)} answered), the minimum is {minimum}")

        shop.reset_log()
        second = services.sync_start(connection=connection, trigger="bench", enqueue=False)
        started = time.monotonic()
        second = sync.sync_run(run_id=second.pk)
        second_seconds = time.monotonic() - started
        changed = {r: c for r, c in second.counts.items() if set(c) - {"unchanged", "matched"}}
        if second.status != SyncStatus.SUCCEEDED or changed:
            raise BenchError(f"the second run ended {second.status} and changed {changed}")
    finally:
        shop.stop()
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        customers=args.customers,
        orders=args.orders,
        products=args.products,
        subscriptions=len(data.subscriptions),
        seconds=round(seconds, 1),
        requests=run.requests_made,
        minimum_requests=minimum,
        requests_per_second=round(run.requests_made / seconds),
        hours_at_1000_per_hour=round(run.requests_made / 1000, 1),
        second_run_requests=second.requests_made,
        second_run_seconds=round(second_seconds, 2),
        counts=run.counts,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGALRM, on_alarm)
    scratch = Path(tempfile.mkdtemp(prefix="salloq-bench-shop-"))
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
        f"Full sync of {summary.customers} customers and {summary.orders} orders ({summary.products} products, "
        f"{summary.subscriptions} subscriptions): {summary.seconds} s, {summary.requests} HTTP requests "
        f"(minimum the pagination allows: {summary.minimum_requests}); at the shop's 1000 requests/hour that is "
        f"{summary.hours_at_1000_per_hour} h. Second (incremental) run: {summary.second_run_requests} requests, "
        f"{summary.second_run_seconds} s, nothing changed."
    )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    log(f"results written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
