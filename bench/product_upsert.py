"""Product batch upsert: POST /api/catalogs/{id}/products/batch (100 products a request, SALESmanago
API v3's limit) against psycopg binary COPY of the same rows.

Run from the repository root:  .venv/bin/python bench/product_upsert.py [--products 20000 --rounds 3]

What it does, all on loopback and bounded in time (--time-limit, 600 s by default):
  1. creates a scratch PostgreSQL database, migrates it and creates an API key (create_api_key);
  2. starts gunicorn (--workers sync workers) with Redis as cache, as in production, and creates a
     catalog through POST /api/catalogs;
  3. makes --products products as a shop sends them (SALESmanago's sample: categories, three image
     URLs, a description, prices, system and custom details) and serializes them into requests of
     --batch products;
  4. each round: binary COPY of the same rows into a scratch table shaped like catalog_product (same
     columns, constraints and indexes), then the rows through the batch endpoint sent by --clients
     threads at once (a first pass creates every product, a second one updates every product: new
     prices); the products table is emptied before each round;
  5. prints the median products/s of each, the ratio and the target: creating through the API at
     least 1/5 of COPY's rate (issue 12).
Whatever happens, gunicorn is stopped, the scratch database dropped and the run's Redis keys deleted.

Exit status: 0 when every run was clean (also when the target is missed, unless --check), 1 on any
failure (a non-200 answer, an item not created/updated, a server that does not start, the time limit).
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
from decimal import Decimal
from pathlib import Path

import httpx
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

# The batch API should reach at least this fraction of COPY's rate (issue 12).
TARGET_FRACTION = 1 / 5
MAX_BATCH = 100
COPY_COLUMNS = (
    ("company_id", "int8"),
    ("catalog_id", "int8"),
    ("product_id", "varchar"),
    ("name", "varchar"),
    ("main_category", "varchar"),
    ("category_external_id", "varchar"),
    ("categories", "jsonb"),
    ("description", "text"),
    ("product_url", "varchar"),
    ("main_image_url", "varchar"),
    ("image_urls", "jsonb"),
    ("available", "bool"),
    ("active", "bool"),
    ("quantity", "int4"),
    ("price", "numeric"),
    ("discount_price", "numeric"),
    ("unit_price", "numeric"),
    ("brand", "varchar"),
    ("manufacturer", "varchar"),
    ("season", "varchar"),
    ("color", "varchar"),
    ("popularity", "int2"),
    ("gender", "int2"),
    ("bestseller", "bool"),
    ("new_product", "bool"),
    ("custom_details", "jsonb"),
    ("slug", "varchar"),
    ("stock_qty", "int4"),
    ("subscription_enabled", "bool"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=20_000, help="products per round (default 20000)")
    parser.add_argument("--batch", type=int, default=MAX_BATCH, help="products per request, at most 100")
    parser.add_argument("--clients", type=int, default=4, help="client threads sending at once (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--time-limit", type=int, default=600, help="abort (and clean up) after this many seconds")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432", help="server, without database")
    parser.add_argument("--db-name", default="salloq_bench_product_upsert", help="scratch database, dropped after")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15", help="cache of the server")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "product_upsert.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    for name in ("products", "batch", "clients", "rounds", "workers", "time_limit"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.batch > MAX_BATCH:
        parser.error(f"--batch must be at most {MAX_BATCH} (the API's limit)")
    return args


# --- The products ---------------------------------------------------------------------------------


def make_products(count: int, round_no: int, price: str) -> list[dict]:
    """Products as SALESmanago's sample sends them; ids are new in every round."""
    return [
        {
            "product_id": f"R{round_no}-SKU-{n:07d}",
            "name": f"White t-shirt {n}",
            "main_category": f"t-shirts-{n % 20}",
            "category_external_id": str(1000 + n % 20),
            "categories": ["Winter collection", "Linen products"],
            "description": "Classic t-shirt with a round neck, made of organic linen. " * 4,
            "product_url": f"https://example.com/shop/t-shirts/white-t-shirt-{n}",
            "main_image_url": f"https://example.com/media/white-t-shirt-{n}-cover.jpg",
            "image_urls": [f"https://example.com/media/white-t-shirt-{n}-{i}.jpg" for i in range(3)],
            "available": True,
            "active": True,
            "quantity": 90,
            "price": Decimal(price),
            "discount_price": Decimal("19.99"),
            "unit_price": Decimal("19.99"),
            "brand": "My Brand",
            "manufacturer": "My Brand",
            "popularity": 40,
            "gender": 0,
            "season": "summer",
            "color": "white",
            "bestseller": True,
            "new_product": False,
            "custom_details": {"detail1": "linen", "detail2": "short"},
        }
        for n in range(count)
    ]


def _json(value):
    if isinstance(value, Decimal):
        return float(value)  # the bench's prices have two decimals: their shortest repr is exact
    raise TypeError(type(value))


def request_bodies(products: list[dict], batch: int) -> list[bytes]:
    """Serialized before the clock starts: the client's JSON encoding is not what is measured."""
    return [
        json.dumps({"products": products[i : i + batch]}, default=_json).encode()
        for i in range(0, len(products), batch)
    ]


# --- COPY baseline --------------------------------------------------------------------------------


def create_copy_table(conn: psycopg.Connection) -> None:
    # Same columns, defaults, constraints and indexes as the table the API writes to.
    conn.execute("DROP TABLE IF EXISTS bench_copy_products")
    conn.execute("CREATE TABLE bench_copy_products (LIKE catalog_product INCLUDING ALL)")
    conn.commit()


def copy_rate(conn: psycopg.Connection, company_id: int, catalog_pk: int, products: list[dict]) -> float:
    conn.execute("TRUNCATE bench_copy_products")
    conn.commit()
    started = time.perf_counter()
    now = datetime.now(UTC)
    names = [name for name, _ in COPY_COLUMNS]
    with conn.cursor() as cursor:
        statement = f"COPY bench_copy_products ({', '.join(names)}) FROM STDIN (FORMAT BINARY)"
        with cursor.copy(statement) as copy:
            copy.set_types([kind for _, kind in COPY_COLUMNS])
            for p in products:
                row = {
                    **p,
                    "company_id": company_id,
                    "catalog_id": catalog_pk,
                    "categories": Jsonb(p["categories"]),
                    "image_urls": Jsonb(p["image_urls"]),
                    "custom_details": Jsonb(p["custom_details"]),
                    "slug": "",
                    "stock_qty": None,
                    "subscription_enabled": False,
                    "created_at": now,
                    "updated_at": now,
                }
                copy.write_row(tuple(row[name] for name in names))
    conn.commit()
    elapsed = time.perf_counter() - started
    copied = conn.execute("SELECT count(*) FROM bench_copy_products").fetchone()[0]
    if copied != len(products):
        raise BenchError(f"COPY wrote {copied} rows, expected {len(products)}")
    return len(products) / elapsed


def empty_products(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE catalog_product CASCADE")
    conn.commit()


@dataclass
class Round:
    round: int
    copy_per_second: float
    create_per_second: float
    update_per_second: float


@dataclass
class Summary:
    date: str
    cpus: int | None
    settings: dict[str, int]
    median_per_second: dict[str, float]
    fraction_of_copy: float
    update_fraction_of_copy: float
    target_fraction: float
    target_met: bool
    rounds: list[Round] = field(default_factory=list)


def create_catalog(port: int, headers: dict[str, str]) -> str:
    body = {"name": "Bench_shop", "currency": "USD", "location": "benchshop", "is_default": True}
    response = httpx.post(f"http://127.0.0.1:{port}/api/catalogs", json=body, headers=headers, timeout=30)
    if response.status_code != 201:
        raise BenchError(f"POST /api/catalogs answered {response.status_code}: {response.text[:500]}")
    return response.json()["catalog_id"]


def measure(args: argparse.Namespace, scratch: Path, cache_prefix: str) -> Summary:
    env = server_env(args, scratch, cache_prefix)
    started = time.monotonic()
    recreate_database(args.pg_url, args.db_name)
    manage(env, "migrate", "--noinput", "-v0", timeout=150)
    company_id, api_key = create_api_key(env)
    log(f"scratch database {args.db_name} migrated, key created ({time.monotonic() - started:.1f} s)")

    headers = {"Authorization": f"Bearer {api_key}", "X-Company-ID": str(company_id)}
    rounds: list[Round] = []
    with psycopg.connect(f"{args.pg_url}/{args.db_name}", connect_timeout=10) as conn:
        create_copy_table(conn)
        port = free_port()
        log_file = scratch / "gunicorn.log"
        with gunicorn(env, port, args.workers, 1, log_file) as proc:
            wait_until_ready(proc, port, headers, log_file)
            log(f"gunicorn up on 127.0.0.1:{port} with {args.workers} sync workers")
            catalog_id = create_catalog(port, headers)
            catalog_pk = conn.execute(
                "SELECT id FROM catalog_productcatalog WHERE public_id = %s", [catalog_id]
            ).fetchone()[0]
            url = f"http://127.0.0.1:{port}/api/catalogs/{catalog_id}/products/batch"
            # Warm-up: every worker loads its code and connections.
            warmup = make_products(args.batch * args.workers, 0, "29.99")
            post_all_with_status(url, headers, request_bodies(warmup, args.batch), args.workers, "created")
            for number in range(1, args.rounds + 1):
                products = make_products(args.products, number, "29.99")
                creating = request_bodies(products, args.batch)
                updating = request_bodies(make_products(args.products, number, "24.99"), args.batch)
                empty_products(conn)
                copied = copy_rate(conn, company_id, catalog_pk, products)
                empty_products(conn)
                created = post_all_with_status(url, headers, creating, args.clients, "created")
                updated = post_all_with_status(url, headers, updating, args.clients, "updated")
                in_table = conn.execute(
                    "SELECT count(*), min(price), max(price) FROM catalog_product WHERE catalog_id = %s", [catalog_pk]
                ).fetchone()
                if tuple(in_table) != (len(products), Decimal("24.99"), Decimal("24.99")):
                    raise BenchError(f"the table holds {in_table} after the update pass of {len(products)} products")
                rounds.append(Round(number, copied, created, updated))
                log(f"round {number}: COPY {copied:9.0f}/s   API create {created:8.0f}/s   update {updated:8.0f}/s")
            if proc.poll() is not None:
                raise BenchError(f"gunicorn died during the runs:\n{read_tail(log_file)}")

    medians = {
        "copy": statistics.median(r.copy_per_second for r in rounds),
        "create": statistics.median(r.create_per_second for r in rounds),
        "update": statistics.median(r.update_per_second for r in rounds),
    }
    fraction = medians["create"] / medians["copy"]
    return Summary(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cpus=os.cpu_count(),
        settings={k: getattr(args, k) for k in ("products", "batch", "clients", "rounds", "workers")},
        median_per_second=medians,
        fraction_of_copy=fraction,
        update_fraction_of_copy=medians["update"] / medians["copy"],
        target_fraction=TARGET_FRACTION,
        target_met=fraction >= TARGET_FRACTION,
        rounds=rounds,
    )


def report(summary: Summary) -> None:
    m, rounds = summary.median_per_second, summary.settings["rounds"]
    verdict = "MET" if summary.target_met else "NOT MET"
    print()
    print(f"binary COPY into a products-shaped table:  {m['copy']:9.0f} products/s  (median of {rounds})")
    print(
        f"POST .../products/batch, creating:          {m['create']:9.0f} products/s  "
        f"= 1/{1 / summary.fraction_of_copy:.1f} of COPY"
    )
    print(
        f"POST .../products/batch, updating:          {m['update']:9.0f} products/s  "
        f"= 1/{1 / summary.update_fraction_of_copy:.1f} of COPY"
    )
    print(f"target: creating at least 1/5 of COPY ({m['copy'] * summary.target_fraction:.0f} products/s): {verdict}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bounded(args, "product-upsert-", lambda scratch, prefix: measure(args, scratch, prefix), report)


if __name__ == "__main__":
    sys.exit(main())
