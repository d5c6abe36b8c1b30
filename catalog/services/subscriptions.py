"""Writes for product subscriptions (the Salloq Ecommerce API's subscriptions), a batch at a time.

    from catalog.services.subscriptions import subscription_upsert_batch
    results = subscription_upsert_batch(company=company, items=[{"external_id": "42", "email": ..., "plan": ...}])

Items use the API's snake_case names: external_id (the shop's subscription id), contact_id | email |
customer_id (+ first_name, last_name), product_id, plan, quantity, price, status, next_billing_date,
started_at, cancelled_at. Creating needs external_id and a contact reference; updating patches only
the fields given. A subscription that becomes cancelled without a cancelled_at gets the moment it
was stored. One result per item, in order; a bad item never sinks the others.

A batch is a few statements whatever its size: one read of the existing subscriptions (FOR UPDATE),
one contact resolution (catalog.customers, creating missing contacts), one read of the products
named, one INSERT of the new rows, one UPDATE of the changed ones, then refresh_commerce_facts for
every contact whose subscriptions changed (active_subscriptions), in the same transaction.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from events.event_input import parse_moment
from salloq.core.models import Company
from salloq.core.numbers import NumberError, parse_decimal
from salloq.core.text import text_problem

from ..commerce import refresh_commerce_facts
from ..customers import resolve_contacts_detailed
from ..models import Product, Subscription, SubscriptionStatus

CREATED, UPDATED, UNCHANGED, INVALID = "created", "updated", "unchanged", "invalid"
CONTACT_KEYS = ("contact_id", "email", "customer_id", "first_name", "last_name", "phone")
FIELDS = (
    "external_id",
    *CONTACT_KEYS,
    "product_id",
    "plan",
    "quantity",
    "price",
    "status",
    "next_billing_date",
    "started_at",
    "cancelled_at",
)
# The columns an update may change (and the bulk UPDATE writes).
STATE = (
    "contact_id",
    "product_id",
    "product_external_id",
    "plan",
    "quantity",
    "price",
    "status",
    "next_billing_date",
    "started_at",
    "cancelled_at",
)
MAX_TEXT = 255
MAX_QUANTITY = 2**31 - 1
MONEY_LIMIT = Decimal(10) ** 19  # Subscription.price: 19 digits before the point, 2 after
NEEDS_CONTACT = "Creating a subscription needs its contact: contact_id, email or customer_id."


@dataclass
class SubscriptionResult:
    index: int
    external_id: str | None
    subscription_id: int | None = None
    status: str = INVALID
    errors: dict[str, list[str]] = field(default_factory=dict)
    contact_id: int | None = None


def _text(errors: dict, name: str, raw, *, identifier: bool = False) -> str | None:
    if identifier and isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        errors[name] = ["Must be a string" + (" or a whole number." if identifier else ".")]
        return None
    if problem := text_problem(raw):
        errors[name] = [problem]
        return None
    text = raw.strip()
    if identifier and not text:
        errors[name] = ["This field may not be blank."]
        return None
    if len(text) > MAX_TEXT:
        errors[name] = [f"Ensure this field has no more than {MAX_TEXT} characters."]
        return None
    return text


def _clean(raw) -> tuple[dict, dict[str, list[str]]]:
    """The item's values by column name (only those given), and its errors by field."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return {}, {"non_field_errors": ["A subscription is an object."]}
    values: dict = {}
    for name in sorted(set(raw) - set(FIELDS)):
        errors[name] = ["Unknown field."]
    if raw.get("external_id") is None:
        errors["external_id"] = ["This field is required."]
    else:
        values["external_id"] = _text(errors, "external_id", raw["external_id"], identifier=True)
    if raw.get("product_id") is not None:
        values["product_external_id"] = _text(errors, "product_id", raw["product_id"], identifier=True)
    if "plan" in raw:
        values["plan"] = _text(errors, "plan", raw["plan"] if raw["plan"] is not None else "")
    if "quantity" in raw:
        quantity = raw["quantity"]
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            errors["quantity"] = [f"Must be a whole number from 1 to {MAX_QUANTITY}."]
        values["quantity"] = quantity
    if "price" in raw:
        values["price"] = _price(errors, raw["price"])
    if "status" in raw:
        if raw["status"] not in SubscriptionStatus.values:
            errors["status"] = [f"Must be one of: {', '.join(SubscriptionStatus.values)}."]
        values["status"] = raw["status"]
    if "next_billing_date" in raw:
        values["next_billing_date"] = _day(errors, raw["next_billing_date"])
    for name in ("started_at", "cancelled_at"):
        if name in raw:
            moment = raw[name]
            if isinstance(moment, datetime):
                values[name] = moment
            elif moment is None and name == "cancelled_at":
                values[name] = None
            else:
                values[name] = parse_moment(moment)
                if values[name] is None:
                    errors[name] = ["Must be a date and time in RFC 3339, e.g. 2025-12-08T10:00:00Z."]
    return values, errors


def _price(errors: dict, raw) -> Decimal | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        errors["price"] = ["Must be a number."]
        return None
    try:
        price = parse_decimal(raw, limit=MONEY_LIMIT)
    except NumberError as exc:
        errors["price"] = [f"Must be a number: {exc}."]
        return None
    if price < 0 or price != price.quantize(Decimal("0.01")):
        errors["price"] = ["Must be an amount of 0 or more with at most 2 decimal places."]
        return None
    return price


def _day(errors: dict, raw) -> date | None:
    if raw is None or isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else _bad_day(errors)
    except ValueError:
        return _bad_day(errors)


def _bad_day(errors: dict) -> None:
    errors["next_billing_date"] = ["Must be a date, YYYY-MM-DD."]
    return None


def subscription_upsert_batch(*, company: Company, items: list[dict]) -> list[SubscriptionResult]:
    results: list[SubscriptionResult] = []
    cleaned: list[tuple[int, dict, dict]] = []
    for index, raw in enumerate(items):
        values, errors = _clean(raw)
        result = SubscriptionResult(index=index, external_id=values.get("external_id"), errors=errors)
        results.append(result)
        if not errors:
            ref = {name: raw[name] for name in CONTACT_KEYS if raw.get(name) is not None}
            cleaned.append((index, values, ref))
    if cleaned:
        with transaction.atomic():
            _write(company, cleaned, results)
    return results


def _write(company: Company, cleaned: list[tuple[int, dict, dict]], results: list[SubscriptionResult]) -> None:
    external_ids = {values["external_id"] for _, values, _ in cleaned}
    existing = {
        row.external_id: row
        for row in Subscription.objects.for_company(company).filter(external_id__in=external_ids).select_for_update()
    }
    referenced = [(index, ref) for index, _, ref in cleaned if ref]
    resolutions = resolve_contacts_detailed(company=company, refs=[ref for _, ref in referenced])
    contacts = dict(zip((index for index, _ in referenced), resolutions, strict=True))
    product_ids = {values["product_external_id"] for _, values, _ in cleaned if values.get("product_external_id")}
    products: dict[str, int] = {}
    # The default catalog's product first, then the other catalogs', oldest first.
    for product_id, pk in (
        Product.objects.for_company(company)
        .filter(product_id__in=product_ids)
        .order_by("-catalog__is_default", "catalog_id")
        .values_list("product_id", "pk")
    ):
        products.setdefault(product_id, pk)

    now = timezone.now()
    new: dict[str, Subscription] = {}
    before: dict[str, tuple] = {row.external_id: _state(row) for row in existing.values()}
    touched_contacts: set[int] = set()
    for index, values, _ in cleaned:
        result = results[index]
        resolution = contacts.get(index)
        if resolution is not None and resolution.contact_id is None:
            result.errors = resolution.errors or {"contact": ["No contact found for this reference."]}
            continue
        external_id = values["external_id"]
        row = existing.get(external_id) or new.get(external_id)
        if row is None:
            if resolution is None:
                result.errors = {"contact": [NEEDS_CONTACT]}
                continue
            row = Subscription(company=company, external_id=external_id, started_at=now)
            new[external_id] = row
        if row.contact_id is not None:
            touched_contacts.add(row.contact_id)
        if resolution is not None:
            row.contact_id = resolution.contact_id
            touched_contacts.add(resolution.contact_id)
        for name, value in values.items():
            if name != "external_id":
                setattr(row, name, value)
        if "product_external_id" in values:
            row.product_id = products.get(values["product_external_id"])
        if row.status == SubscriptionStatus.CANCELLED and row.cancelled_at is None:
            row.cancelled_at = now
        result.contact_id = row.contact_id
        result.status = CREATED if external_id in new else UPDATED

    Subscription.objects.bulk_create(list(new.values()))
    changed = [row for external_id, row in existing.items() if _state(row) != before[external_id]]
    if changed:
        for row in changed:
            row.updated_at = now
        Subscription.objects.bulk_update(changed, [*STATE, "updated_at"])
    unchanged = {external_id for external_id, row in existing.items() if _state(row) == before[external_id]}
    rows = {**existing, **new}
    for index, values, _ in cleaned:
        result = results[index]
        if result.status == INVALID:
            continue
        result.subscription_id = rows[values["external_id"]].pk
        if values["external_id"] in unchanged:
            result.status = UNCHANGED
    refresh_commerce_facts(company_id=company.pk, contact_ids=touched_contacts)


def _state(row: Subscription) -> tuple:
    return tuple(getattr(row, name) for name in STATE)
