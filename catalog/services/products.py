"""Writes of products: a batch upsert as SALESmanago API v3's product/upsert takes it (up to 100).

Set-based: a batch is one SELECT of the catalog's products it names (locked, so a concurrent batch
naming the same products waits and compares against what this one wrote) and one
INSERT ... ON CONFLICT (catalog, product_id) DO UPDATE of the new and changed ones, whatever the
batch's size. A product that is given again with the same values is "unchanged" and not written.
Optional fields left out keep their stored value (a new product gets the model's default); null
clears an optional field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from salloq.core.db import prepared_cursor

from ..models import Product, ProductCatalog
from ..product_input import FIELDS, MAX_BATCH, ProductInput, Reason, parse_product, product_defaults

CREATED, UPDATED, UNCHANGED, INVALID = "created", "updated", "unchanged", "invalid"
STATUSES = (CREATED, UPDATED, UNCHANGED, INVALID)
DATA_FIELDS = tuple(FIELDS)
# Written on conflict: every data field but the key, and the time of the change.
UPDATE_FIELDS = [name for name in DATA_FIELDS if name != "product_id"] + ["updated_at"]
# PostgreSQL: one INSERT ... ON CONFLICT with every row's values in binary array parameters. Django's
# bulk_create binds on the client, quoting each of a batch's 2,800 values into the SQL text, which
# cost more than the rest of the request (bench/README.md).
ARRAY_TYPES = {
    "CharField": "varchar[]",
    "TextField": "text[]",
    "JSONField": "text[]",  # sent as JSON text, cast to jsonb per row
    "BooleanField": "boolean[]",
    "IntegerField": "int4[]",
    "PositiveSmallIntegerField": "int2[]",
    "SmallIntegerField": "int2[]",
    # Sent as the Decimal's text, cast to numeric per row: psycopg dumps a Decimal to binary numeric
    # in Python, about five times the cost of dumping its text (300 prices a batch).
    "DecimalField": "text[]",
}
# What each element of a text array is cast to, per field type.
ELEMENT_CASTS = {"JSONField": "::jsonb", "DecimalField": "::numeric"}


def _upsert_statement() -> str:
    fields = [Product._meta.get_field(name) for name in DATA_FIELDS]
    columns = [f.column for f in fields]
    arrays = ", ".join(f"%b::{ARRAY_TYPES[f.get_internal_type()]}" for f in fields)
    values = ", ".join(f"v.{f.column}{ELEMENT_CASTS.get(f.get_internal_type(), '')}" for f in fields)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in [*columns[1:], "updated_at"])
    # Names from the model's metadata only; every value is a parameter.
    table, names = Product._meta.db_table, ", ".join(columns)
    insert = f"INSERT INTO {table} (company_id, catalog_id, {names}, created_at, updated_at) "  # noqa: S608
    select = f"SELECT %b, %b, {values}, %b, %b FROM UNNEST({arrays}) AS v({names}) "  # noqa: S608
    return insert + select + f"ON CONFLICT (catalog_id, product_id) DO UPDATE SET {updates}"


UPSERT_PRODUCTS = _upsert_statement()
# The stored products a batch names, locked, values as the ORM reads them (jsonb decoded, numeric as
# Decimal). Their columns in DATA_FIELDS order. Each id probes the unique (catalog, product_id) index
# once, in a LATERAL subquery, and the ids come sorted, so rows are locked in one order whatever the
# batch (two batches naming the same products cannot deadlock). The plainer
# `catalog_id = %b AND product_id = ANY(%b)` is planned, whenever the table has grown since it was
# last analyzed (a catalog's first import, every pass of bench/product_upsert.py), as a scan of all
# the catalog's rows filtered by the list: each batch then read every product stored before it.
SELECT_PRODUCTS = (
    f"SELECT stored.* FROM UNNEST(%b::varchar[]) AS wanted(product_id) CROSS JOIN LATERAL ("  # noqa: S608 - model names
    f"SELECT {', '.join(Product._meta.get_field(name).column for name in DATA_FIELDS)} "
    f"FROM {Product._meta.db_table} WHERE catalog_id = %b AND product_id = wanted.product_id FOR UPDATE) AS stored"
)
JSON_FIELDS = {name for name in DATA_FIELDS if Product._meta.get_field(name).get_internal_type() == "JSONField"}
MONEY_FIELDS = {name for name in DATA_FIELDS if Product._meta.get_field(name).get_internal_type() == "DecimalField"}
JSON_POSITIONS = {position for position, name in enumerate(DATA_FIELDS) if name in JSON_FIELDS}


_quoted = json.encoder.encode_basestring_ascii  # json.dumps' own quoting of a string, in C


def _json_text(value) -> str:
    """json.dumps(value), the same text, for the JSON fields' usual values (a list of strings, an
    object of strings) without json.dumps' encoder set-up per call: 300 values in a batch of 100."""
    kind = value.__class__
    if kind is list and all(item.__class__ is str for item in value):
        return "[" + ", ".join(map(_quoted, value)) + "]"
    if kind is dict and all(key.__class__ is str and item.__class__ is str for key, item in value.items()):
        return "{" + ", ".join(f"{_quoted(key)}: {_quoted(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)


def _column(name: str, rows: list[dict]) -> list:
    """One field's values of every row, as its UPSERT_PRODUCTS array takes them."""
    if name in JSON_FIELDS:
        return [_json_text(row[name]) for row in rows]
    if name in MONEY_FIELDS:
        # A price is a Decimal of two places (product_input.money, or the stored numeric(21, 2)):
        # its str() is plain digits, the same number.
        return [None if row[name] is None else str(row[name]) for row in rows]
    return [row[name] for row in rows]


@dataclass
class ProductResult:
    index: int
    product_id: str | None
    status: str
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    # SALESmanago's reason code of the item's first refused field, and of each refused field.
    reason: int | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def answer(self) -> dict[str, Any]:
        row: dict[str, Any] = {"index": self.index, "product_id": self.product_id, "status": self.status}
        if self.errors:
            row.update(errors=self.errors, reason=self.reason, reasons=self.reasons)
        if self.warnings:
            row.update(warnings=self.warnings, warning_reason=int(Reason.TRIMMED))
        return row


def batch_too_large(count: int) -> ValidationError | None:
    """The request-level refusal of a batch over SALESmanago's limit (reason 19), or None."""
    if count <= MAX_BATCH:
        return None
    message = f"At most {MAX_BATCH} products per request ({count} sent)."
    return ValidationError({"products": ValidationError(message, code="resource_limit")})


def _invalid(parsed: ProductInput) -> ProductResult:
    return ProductResult(
        parsed.index,
        parsed.product_id,
        INVALID,
        errors=parsed.errors,
        warnings=parsed.warnings,
        reason=parsed.reason,
        reasons=parsed.reasons,
    )


def product_upsert_batch(*, catalog: ProductCatalog, items: list[dict]) -> list[ProductResult]:
    """Create or update up to 100 products of `catalog`; one result per item, in order. A refused item
    (status "invalid", errors by field with SALESmanago's reason codes) never stops the others; text
    stored trimmed carries a warning (reason 12)."""
    too_large = batch_too_large(len(items))
    if too_large is not None:
        raise too_large
    results: list[ProductResult | None] = [None] * len(items)
    valid: dict[str, ProductInput] = {}
    for index, raw in enumerate(items):
        parsed = parse_product(index, raw)
        if not parsed.errors and parsed.product_id in valid:
            parsed.refuse("product_id", Reason.NOT_UNIQUE, f"Also given by item {valid[parsed.product_id].index}.")
        if parsed.errors:
            results[index] = _invalid(parsed)
        else:
            valid[parsed.product_id] = parsed
    if valid:
        with transaction.atomic():
            _write(catalog, valid, results)
    return results  # type: ignore[return-value]


def _write(catalog: ProductCatalog, valid: dict[str, ProductInput], results: list) -> None:
    if connection.vendor == "postgresql":
        with prepared_cursor() as cursor:
            stored_rows = cursor.execute(SELECT_PRODUCTS, [sorted(valid), catalog.pk]).fetchall()
        # Django's connection loads jsonb as text (JSONField decodes it): decoded here the same way.
        stored_rows = [
            [json.loads(value) if position in JSON_POSITIONS else value for position, value in enumerate(row)]
            for row in stored_rows
        ]
    else:
        stored_rows = (
            Product.objects.filter(catalog=catalog, product_id__in=list(valid))
            .order_by("pk")
            .select_for_update()
            .values_list(*DATA_FIELDS)
        )
    existing = {row[0]: dict(zip(DATA_FIELDS, row, strict=True)) for row in stored_rows}
    defaults = product_defaults()
    rows: list[dict] = []
    # In product id order, as the lookup locked them: new rows are inserted (and their unique index
    # entries taken) in one order whatever the batch too.
    for product_id in sorted(valid):
        parsed = valid[product_id]
        current = existing.get(product_id)
        if current is None:
            status = CREATED
            values = {**defaults, **parsed.values}
        else:
            values = {**current, **parsed.values}
            status = UNCHANGED if values == current else UPDATED
        results[parsed.index] = ProductResult(parsed.index, product_id, status, warnings=parsed.warnings)
        if status != UNCHANGED:
            rows.append(values)
    if not rows:
        return
    if connection.vendor == "postgresql":
        now = timezone.now()
        arrays = [_column(name, rows) for name in DATA_FIELDS]
        with prepared_cursor() as cursor:
            cursor.execute(UPSERT_PRODUCTS, [catalog.company_id, catalog.pk, now, now, *arrays])
    else:
        Product.objects.bulk_create(
            [Product(company_id=catalog.company_id, catalog_id=catalog.pk, **values) for values in rows],
            update_conflicts=True,
            unique_fields=["catalog", "product_id"],
            update_fields=UPDATE_FIELDS,
        )
