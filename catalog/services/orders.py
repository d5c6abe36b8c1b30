"""Writes for orders and open carts: one batch (the connector sends 100 orders at a time, the API one
or up to 100) in a few statements, not a dozen per order.

The Splio Data API 1.9's update rule: an update changes only the order fields it gives; lines, when
given, replace all of the order's lines, and when left out stay as they are. An order with
`completed` false is an open cart (Splio's order_completed 0, its abandoned basket); completing it
sets completed_at (now, unless given) and, when it still has the cart's default status pending and
no other status is given, the status completed.

1. every item is cleaned (catalog.order_input); a bad item gets its own errors and is left out;
2. one SELECT ... FOR UPDATE of the batch's existing orders, one of the stores named, one of the
   products the lines name (the company's default catalog first, then its other catalogs, oldest
   first), one of the replaced orders' current lines, and the contacts through
   catalog.customers.resolve_contacts_detailed (one lookup, one bulk upsert for the missing ones);
3. the items are applied in order to in-memory orders (the same external id twice: the second
   updates what the first wrote);
4. one INSERT of the new orders, one UPDATE of the changed ones, one DELETE and one INSERT of the
   replaced lines; then, in the same transaction, catalog.commerce.refresh_commerce_facts for every
   contact whose orders changed (the old and the new one when an order moves).

An order whose contact is erased keeps its contact link and sums (Order.contact is only cleared when
the contact row is deleted). A unique violation (a concurrent batch created one of our new orders)
rolls back to the batch's savepoint and runs it again, finding that order.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from salloq.core.models import Company

from ..customers import resolve_contacts_detailed
from ..models import Order, OrderLine, OrderSource, OrderStatus, Product, Store
from ..order_input import CleanOrder, InputError, clean_order, money_problem

try:  # written by the commerce facts stream; orders are stored whether or not it is there yet
    from ..commerce import refresh_commerce_facts
except ImportError:  # pragma: no cover - only until catalog.commerce lands
    refresh_commerce_facts = None

CREATED, UPDATED, UNCHANGED, INVALID = "created", "updated", "unchanged", "invalid"
BATCH_ATTEMPTS = 3
NEEDS_CONTACT = "Creating an order needs its contact: contact_id, email or customer_id."
# Columns compared to tell an update from an unchanged order, and written by the bulk UPDATE.
ORDER_STATE = (
    "contact_id",
    "store_id",
    "status",
    "completed",
    "currency",
    "subtotal",
    "tax",
    "shipping",
    "discount",
    "total",
    "placed_at",
    "completed_at",
    "shipping_address",
    "shipping_city",
    "shipping_state",
    "shipping_zip",
    "shipping_country",
    "tracking_number",
    "promo_code",
    "salesperson",
    "is_subscription",
    "custom_fields",
)
LINE_STATE = (
    "product_id",
    "product_external_id",
    "product_name",
    "quantity",
    "unit_price",
    "discount",
    "tax",
    "line_total",
    "currency",
    "custom_fields",
)


@dataclass
class OrderResult:
    index: int
    external_id: str | None
    order_id: int | None = None
    status: str = INVALID
    errors: dict[str, list[str]] = field(default_factory=dict)
    contact_id: int | None = None
    order: Order | None = None


@dataclass
class _Pending:
    """One order of the batch as applied in memory."""

    order: Order
    created: bool
    before: tuple | None
    old_contact_id: int | None
    lines: list[OrderLine] | None = None
    initialized: bool = False  # a new order's defaults are set by the first item that names it


def order_upsert_batch(
    *,
    company: Company,
    items: list[dict],
    source: str = OrderSource.API,
    item_errors: dict[int, dict[str, list[str]]] | None = None,
    url_external_id: str | None = None,
) -> list[OrderResult]:
    """Create or update each item's order by its external_id; one result per item, in order.

    Creating needs external_id and a contact reference; updating changes only the fields given
    (lines, when given, replace all lines). `item_errors` are problems found before (the API's
    parser), by item index; `url_external_id` is the id of PUT/PATCH /api/orders/{external_id}."""
    results = [OrderResult(index=index, external_id=None) for index in range(len(items))]
    cleaned: list[tuple[int, CleanOrder]] = []
    for index, raw in enumerate(items):
        if item_errors and index in item_errors:
            results[index].errors = item_errors[index]
            continue
        try:
            order = clean_order(raw, external_id=url_external_id)
        except InputError as exc:
            results[index].errors = exc.errors
            if isinstance(raw, dict) and isinstance(raw.get("external_id"), str | int):
                results[index].external_id = str(raw["external_id"])
            continue
        results[index].external_id = order.external_id
        cleaned.append((index, order))
    if not cleaned:
        return results

    for _attempt in range(BATCH_ATTEMPTS):
        attempt = [OrderResult(index=r.index, external_id=r.external_id) for r in results]
        try:
            with transaction.atomic():
                _write(company, cleaned, source, attempt)
        except IntegrityError:
            continue
        for index, _ in cleaned:
            results[index] = attempt[index]
        return results
    for index, _ in cleaned:
        results[index].errors = {"external_id": ["Another request was writing this order; send it again."]}
    return results


def _write(company: Company, cleaned: list[tuple[int, CleanOrder]], source: str, results: list[OrderResult]) -> None:
    external_ids = {order.external_id for _, order in cleaned}
    existing = {
        order.external_id: order
        for order in Order.objects.for_company(company).filter(external_id__in=external_ids).select_for_update()
    }
    stores = _stores(company, {order.store_id for _, order in cleaned if order.store_given and order.store_id})

    # References first (stores, the contact of a new order), so no contact is created for an item
    # that fails anyway.
    known = set(existing)
    valid: list[tuple[int, CleanOrder]] = []
    for index, order in cleaned:
        errors = results[index].errors
        if order.store_given and order.store_id and order.store_id not in stores:
            errors["store_id"] = [
                f"No store has the external id '{order.store_id}': create it first (POST /api/stores)."
            ]
        if order.external_id not in known and order.contact is None:
            errors["contact_id"] = [NEEDS_CONTACT]
        if errors:
            continue
        known.add(order.external_id)
        valid.append((index, order))

    with_contact = [(index, order) for index, order in valid if order.contact is not None]
    resolutions = resolve_contacts_detailed(company=company, refs=[order.contact for _, order in with_contact])
    contact_ids: dict[int, int] = {}
    for (index, _), resolution in zip(with_contact, resolutions, strict=True):
        if resolution.contact_id is None:
            results[index].errors = resolution.errors or {"contact_id": ["No contact found."]}
        else:
            contact_ids[index] = resolution.contact_id
    valid = [(index, order) for index, order in valid if not results[index].errors]

    products = _products(company, {line["product_id"] for _, order in valid for line in order.lines or ()})
    replaced = [
        existing[order.external_id].pk
        for _, order in valid
        if order.lines is not None and order.external_id in existing
    ]
    current_lines = _current_lines(replaced)

    now = timezone.now()
    pending: dict[str, _Pending] = {}
    for index, order in valid:
        entry = pending.get(order.external_id)
        if entry is None:
            found = existing.get(order.external_id)
            if found is None:
                entry = _Pending(Order(company=company, external_id=order.external_id, source=source), True, None, None)
            else:
                entry = _Pending(found, False, _state(found), found.contact_id, current_lines.get(found.pk))
            pending[order.external_id] = entry
        if entry.created and not entry.initialized and index not in contact_ids:
            # Its contact was to come from an earlier item of the batch that failed.
            results[index].errors = {"contact_id": [NEEDS_CONTACT]}
            del pending[order.external_id]
            continue
        problem = _apply(entry, order, contact_ids.get(index), stores, products, now)
        if problem:
            results[index].errors = problem
            if entry.created and not entry.initialized:
                del pending[order.external_id]  # never created: a later item may create it
            continue
        results[index].order = entry.order

    new = [entry for entry in pending.values() if entry.created]
    changed = [entry for entry in pending.values() if not entry.created and _changed(entry, current_lines)]
    if new:
        Order.objects.bulk_create([entry.order for entry in new])
    if changed:
        for entry in changed:
            entry.order.updated_at = now
        Order.objects.bulk_update([entry.order for entry in changed], [*ORDER_STATE, "updated_at"])
    rewritten = [
        entry
        for entry in (*new, *changed)
        if entry.lines is not None
        and (entry.created or _line_states(entry.lines) != _line_states(current_lines.get(entry.order.pk, [])))
    ]
    old_line_orders = [entry.order.pk for entry in rewritten if not entry.created]
    if old_line_orders:
        OrderLine.objects.filter(order_id__in=old_line_orders).delete()
    lines = []
    for entry in rewritten:
        for position, line in enumerate(entry.lines):
            line.order = entry.order
            line.position = position
            lines.append(line)
    if lines:
        OrderLine.objects.bulk_create(lines)

    touched = {entry.order.external_id for entry in (*new, *changed)}
    for index, _ in valid:
        result = results[index]
        if result.order is None:
            continue
        entry = pending[result.order.external_id]
        result.order_id = result.order.pk
        result.contact_id = result.order.contact_id
        result.status = CREATED if entry.created else UPDATED if result.order.external_id in touched else UNCHANGED
    contacts = set()
    for entry in (*new, *changed):
        contacts.update(contact for contact in (entry.old_contact_id, entry.order.contact_id) if contact)
    if contacts and refresh_commerce_facts is not None:
        refresh_commerce_facts(company_id=company.pk, contact_ids=sorted(contacts))


def _stores(company: Company, external_ids: set[str]) -> dict[str, int]:
    if not external_ids:
        return {}
    rows = Store.objects.for_company(company).filter(external_id__in=external_ids).values_list("external_id", "pk")
    return dict(rows)


def _products(company: Company, product_ids: set[str]) -> dict[str, int]:
    """The catalog product each product id names: in the default catalog, else the oldest catalog having it."""
    if not product_ids:
        return {}
    rows = (
        Product.objects.for_company(company)
        .filter(product_id__in=product_ids)
        .order_by(F("catalog__is_default").desc(), "catalog_id")
        .values_list("product_id", "pk")
    )
    found: dict[str, int] = {}
    for product_id, pk in rows:
        found.setdefault(product_id, pk)
    return found


def _current_lines(order_ids: list[int]) -> dict[int, list[OrderLine]]:
    lines: dict[int, list[OrderLine]] = {}
    if order_ids:
        for line in OrderLine.objects.filter(order_id__in=order_ids).order_by("order_id", "position", "id"):
            lines.setdefault(line.order_id, []).append(line)
    return lines


def _state(order: Order) -> tuple:
    return tuple(getattr(order, name) for name in ORDER_STATE)


def _line_states(lines: list[OrderLine]) -> list[tuple]:
    return [tuple(getattr(line, name) for name in LINE_STATE) for line in lines]


def _changed(entry: _Pending, current_lines: dict[int, list[OrderLine]]) -> bool:
    if _state(entry.order) != entry.before:
        return True
    return entry.lines is not None and _line_states(entry.lines) != _line_states(current_lines.get(entry.order.pk, []))


def _apply(
    entry: _Pending, given: CleanOrder, contact_id: int | None, stores: dict, products: dict, now
) -> dict[str, list[str]] | None:
    """The item's fields on the in-memory order, Splio's update rule and the cart's lifecycle."""
    order = entry.order
    values = given.values
    first = entry.created and not entry.initialized
    was_completed = order.completed
    if contact_id is not None:
        order.contact_id = contact_id
    if given.store_given:
        order.store_id = stores.get(given.store_id) if given.store_id else None
    for name, value in values.items():
        setattr(order, name, value)
    if first:
        order.placed_at = values.get("placed_at") or now
        order.completed = values.get("completed", True)
        if "status" not in values:
            order.status = OrderStatus.COMPLETED if order.completed else OrderStatus.PENDING
        if order.completed and order.completed_at is None:
            order.completed_at = order.placed_at
    elif was_completed != order.completed:
        if order.completed:
            if "completed_at" not in values:
                order.completed_at = now
            if "status" not in values and order.status == OrderStatus.PENDING:
                order.status = OrderStatus.COMPLETED
        else:
            order.completed_at = None
    if given.lines is not None:
        entry.lines = [_line(line, order.currency, products) for line in given.lines]
    if first:
        problem = _totals(order, values, entry.lines)
        entry.initialized = problem is None
        return problem
    return None


def _line(line: dict, currency: str, products: dict) -> OrderLine:
    return OrderLine(
        product_id=products.get(line["product_id"]),
        product_external_id=line["product_id"],
        product_name=line.get("product_name", ""),
        quantity=line["quantity"],
        unit_price=line["unit_price"],
        discount=line["discount"],
        tax=line["tax"],
        line_total=line["line_total"],
        currency=line.get("currency") or currency,
        custom_fields=line.get("custom_fields") or {},
    )


def _totals(order: Order, values: dict, lines: list[OrderLine] | None) -> dict[str, list[str]] | None:
    """A new order's subtotal and total when left out: from its lines, and from the other amounts."""
    if "subtotal" not in values and lines:
        order.subtotal = sum((line.line_total for line in lines), Decimal("0.00"))
        if money_problem(order.subtotal):
            return {"subtotal": ["The sum of the line totals is out of range: send subtotal."]}
    if "total" not in values:
        total = Decimal(order.subtotal) + Decimal(order.tax) + Decimal(order.shipping) - Decimal(order.discount)
        if total < 0 or money_problem(total):
            return {"total": ["subtotal + tax + shipping - discount is out of range: send total."]}
        order.total = total
    return None


def forget_erased_contact(*, contact, **_signal) -> int:
    """The contacts' erase (contacts.signals.contact_erased, inside its transaction): the contact's
    orders and carts stay, linked, with their amounts, lines and country (so sums and reports
    still add up), without where the person lives, their parcel's tracking number or the shop's
    custom fields, the orders' and their lines' (which may hold anything). Returns how many orders
    changed."""
    OrderLine.objects.filter(order__contact=contact).exclude(custom_fields={}).update(custom_fields={})
    return Order.objects.filter(contact=contact).update(
        shipping_address="",
        shipping_city="",
        shipping_state="",
        shipping_zip="",
        tracking_number="",
        custom_fields={},
    )
