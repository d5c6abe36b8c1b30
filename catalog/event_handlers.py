"""Events become orders, open carts and subscriptions: the handler catalog registers with
events.dispatch (CatalogConfig.ready), called after the events commit with a batch of event ids.

- order_placed (order_id, email, total, items?, currency?, status?): an order, completed; a new one
  is placed at the event's occurred_at with status pending (or the status the event gives);
- order_completed (order_id, email): the order completed with status completed (created if missing,
  its total the event's total when given);
- cart_abandoned (email, cart_total, items): an open cart (completed false, status pending);
- subscription_created (email, subscription_id, plan): an active subscription started at occurred_at;
- subscription_cancelled (email, subscription_id): the subscription cancelled at occurred_at;
- SALESmanago API v3's PURCHASE: an order, completed; CART: an open cart; their total is the value.

- An open cart's external id is the event's cart_id, else its order_id, else "cart-<contact id>":
  one open cart per contact, each cart_abandoned replacing its lines and total. When the contact
  then places an order (order_placed, order_completed, PURCHASE), that per-contact cart still open
  is cancelled: it is no longer abandoned. SALESmanago's events name the order by externalId, else
  eventId, else the event's own id ("event-<id>"), and the cart by externalId, else "cart-<contact id>".
- Only what the event says is written: an existing order keeps its placed_at and status (an
  order_placed arriving after order_completed does not reopen it), a completed order is never turned
  back into a cart, a cancelled or refunded order stays so, and a subscription_created older than
  the subscription's cancellation (arriving late) does not reactivate it.
- Batched: one query loads the events, one the orders they name, then one order_upsert_batch (per
  100 orders) and one subscription_upsert_batch per company (source OrderSource.EVENT), which
  refresh the commerce facts. Idempotent: the same events handled twice change nothing.
- An item the order or subscription rules refuse (a negative total, an unknown currency) is logged
  and skipped; the others are written, and the events stay dispatched.
"""

import logging
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from events.models import Event
from salloq.core.models import Company
from salloq.core.text import text_problem

from .models import UNCOUNTED_STATUSES, Order, OrderSource, OrderStatus, Subscription
from .order_input import CURRENCIES, MAX_BATCH, MAX_LINES
from .services.orders import order_upsert_batch
from .services.subscriptions import subscription_upsert_batch

logger = logging.getLogger(__name__)

ORDER_PLACED, ORDER_COMPLETED, CART_ABANDONED = "order_placed", "order_completed", "cart_abandoned"
SUBSCRIPTION_CREATED, SUBSCRIPTION_CANCELLED = "subscription_created", "subscription_cancelled"
PURCHASE, CART = "PURCHASE", "CART"
ORDER_EVENTS = (ORDER_PLACED, ORDER_COMPLETED, PURCHASE)
CART_EVENTS = (CART_ABANDONED, CART)
SUBSCRIPTION_EVENTS = (SUBSCRIPTION_CREATED, SUBSCRIPTION_CANCELLED)
HANDLED = (*ORDER_EVENTS, *CART_EVENTS, *SUBSCRIPTION_EVENTS)
CENT = Decimal("0.01")
MILLI = Decimal("0.001")
MAX_TEXT = 255


def contact_cart_id(contact_id: int) -> str:
    """The external id of a contact's open cart when the event names none."""
    return f"cart-{contact_id}"


def commerce_from_events(event_ids: list[int]) -> None:
    """The registered handler: the commerce events among `event_ids` written to orders, carts and
    subscriptions of their company."""
    events = list(
        Event.objects.filter(pk__in=event_ids, event_type__in=HANDLED, contact__isnull=False)
        .order_by("occurred_at", "pk")
        .only("pk", "company_id", "contact_id", "event_type", "data", "value", "occurred_at")
    )
    by_company: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        by_company[event.company_id].append(event)
    for company in Company.objects.filter(pk__in=by_company):
        _write(company, by_company[company.pk])


def _write(company: Company, events: list[Event]) -> None:
    orders: list[dict] = []
    subscriptions: list[dict] = []
    order_ids = {_order_id(event) for event in events if event.event_type in ORDER_EVENTS + CART_EVENTS}
    order_ids |= {contact_cart_id(event.contact_id) for event in events if event.event_type in ORDER_EVENTS}
    # What the database holds before this batch: (completed, status) by external id.
    known = {
        external_id: (completed, status)
        for external_id, completed, status in Order.objects.for_company(company)
        .filter(external_id__in=order_ids)
        .values_list("external_id", "completed", "status")
    }
    subscription_ids = {_identifier(_data(event).get("subscription_id")) for event in events}
    # When each subscription the events name was cancelled, if it was.
    cancelled = dict(
        Subscription.objects.for_company(company)
        .filter(external_id__in=subscription_ids - {None}, cancelled_at__isnull=False)
        .values_list("external_id", "cancelled_at")
    )
    for event in events:
        if event.event_type in SUBSCRIPTION_EVENTS:
            item = _subscription(event, cancelled)
            if item:
                subscriptions.append(item)
        elif event.event_type in ORDER_EVENTS:
            orders += _order(event, known)
        else:
            item = _cart(event, known)
            if item:
                orders.append(item)
    for start in range(0, len(orders), MAX_BATCH):
        chunk = orders[start : start + MAX_BATCH]
        results = order_upsert_batch(company=company, items=chunk, source=OrderSource.EVENT)
        _log_refused("order", chunk, results)
    if subscriptions:
        _log_refused("subscription", subscriptions, subscription_upsert_batch(company=company, items=subscriptions))


def _log_refused(kind: str, items: list[dict], results) -> None:
    for item, result in zip(items, results, strict=True):
        if result.errors:
            logger.warning("An event's %s %s was not written: %s", kind, item.get("external_id"), result.errors)


def _data(event: Event) -> dict:
    return event.data if isinstance(event.data, dict) else {}


def _identifier(raw) -> str | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, str) and raw.strip() and len(raw.strip()) <= MAX_TEXT and not text_problem(raw):
        return raw.strip()
    return None


def _order_id(event: Event) -> str:
    data = _data(event)
    if event.event_type in (PURCHASE, CART):
        given = _identifier(data.get("externalId"))
        if event.event_type == PURCHASE:
            given = given or _identifier(data.get("eventId"))
            return given or f"event-{event.pk}"
        return given or contact_cart_id(event.contact_id)
    if event.event_type == CART_ABANDONED:
        return (
            _identifier(data.get("cart_id")) or _identifier(data.get("order_id")) or contact_cart_id(event.contact_id)
        )
    return _identifier(data.get("order_id")) or f"event-{event.pk}"


def _moment(event: Event) -> str:
    return event.occurred_at.isoformat()


def _common(event: Event, item: dict) -> None:
    """Currency and lines, when the event carries usable ones."""
    data = _data(event)
    currency = data.get("currency")
    if isinstance(currency, str) and currency in CURRENCIES:
        item["currency"] = currency
    lines = _lines(data.get("items"))
    if lines:
        item["lines"] = lines


def _amount(raw, exponent: Decimal) -> Decimal | None:
    """A JSON number from the event's data as an exact, non-negative Decimal (JSON numbers come back
    from the database as floats: their shortest text is the number that was sent)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        return None
    try:
        value = Decimal(repr(raw) if isinstance(raw, float) else str(raw))
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value >= 10**12:
        return None
    return value.quantize(exponent, rounding=ROUND_HALF_EVEN)


def _lines(raw) -> list[dict]:
    """The Salloq Marketing API's items ({product_id, name, price, quantity}) as order lines; items
    without a usable product id are left out."""
    if not isinstance(raw, list):
        return []
    lines = []
    for entry in raw[:MAX_LINES]:
        if not isinstance(entry, dict):
            continue
        product_id = _identifier(entry.get("product_id"))
        if product_id is None:
            continue
        line: dict = {"product_id": product_id}
        name = entry.get("name", entry.get("product_name"))
        if isinstance(name, str) and len(name) <= MAX_TEXT and not text_problem(name):
            line["product_name"] = name.strip()
        quantity = _amount(entry.get("quantity", 1), MILLI)
        if quantity is not None:
            line["quantity"] = quantity
        price = _amount(entry.get("price"), CENT)
        if price is not None:
            line["unit_price"] = price
        lines.append(line)
    return lines


def _total(event: Event) -> Decimal | None:
    # A negative total is passed on: the order rules refuse it, and the order is skipped.
    return event.value


def _order(event: Event, known: dict) -> list[dict]:
    external_id = _order_id(event)
    item: dict = {"external_id": external_id, "contact_id": event.contact_id, "completed": True}
    total = _total(event)
    if total is not None:
        item["total"] = total
    _common(event, item)
    state = known.get(external_id)
    given_status = _data(event).get("status")
    if state is None:
        item["placed_at"] = _moment(event)
        if event.event_type == ORDER_PLACED:
            item["status"] = given_status if given_status in OrderStatus.values else OrderStatus.PENDING
        else:
            item["status"] = OrderStatus.COMPLETED
    elif state[1] not in UNCOUNTED_STATUSES:
        if event.event_type == ORDER_COMPLETED:
            item["status"] = OrderStatus.COMPLETED
        elif given_status in OrderStatus.values and event.event_type == ORDER_PLACED:
            item["status"] = given_status
    else:
        item.pop("completed")  # a cancelled or refunded order stays what it is
    known[external_id] = (True, item.get("status", state[1] if state else OrderStatus.PENDING))
    items = [item]
    # The contact's own open cart is no longer abandoned once they order.
    cart_id = contact_cart_id(event.contact_id)
    cart = known.get(cart_id)
    if cart_id != external_id and cart is not None and not cart[0] and cart[1] not in UNCOUNTED_STATUSES:
        items.append({"external_id": cart_id, "status": OrderStatus.CANCELLED})
        known[cart_id] = (False, OrderStatus.CANCELLED)
    return items


def _cart(event: Event, known: dict) -> dict | None:
    external_id = _order_id(event)
    state = known.get(external_id)
    if state is not None and (state[0] or state[1] in UNCOUNTED_STATUSES and state[1] != OrderStatus.CANCELLED):
        return None  # a completed order is never a cart again
    item: dict = {"external_id": external_id, "contact_id": event.contact_id, "completed": False}
    total = _total(event)
    if total is not None:
        item["total"] = total
    _common(event, item)
    if state is None:
        item["placed_at"] = _moment(event)
        item["status"] = OrderStatus.PENDING
    elif state[1] == OrderStatus.CANCELLED:
        # The per-contact cart, closed by an earlier order, is abandoned again: a fresh open cart.
        item["status"] = OrderStatus.PENDING
        item["placed_at"] = _moment(event)
    known[external_id] = (False, OrderStatus.PENDING)
    return item


def _subscription(event: Event, cancelled: dict) -> dict | None:
    data = _data(event)
    external_id = _identifier(data.get("subscription_id"))
    if external_id is None:
        return None
    item: dict = {"external_id": external_id, "contact_id": event.contact_id}
    if event.event_type == SUBSCRIPTION_CANCELLED:
        item.update(status="cancelled", cancelled_at=_moment(event))
        cancelled[external_id] = event.occurred_at
        return item
    plan = data.get("plan")
    if isinstance(plan, str) and len(plan.strip()) <= MAX_TEXT and not text_problem(plan):
        item["plan"] = plan.strip()
    product_id = _identifier(data.get("product_id"))
    if product_id:
        item["product_id"] = product_id
    price = _amount(data.get("price"), CENT)
    if price is not None:
        item["price"] = price
    if cancelled.get(external_id) is None or cancelled[external_id] < event.occurred_at:
        # A subscription_created older than the cancellation (arriving late) never reactivates it.
        item.update(status="active", started_at=_moment(event), cancelled_at=None)
        cancelled.pop(external_id, None)
    return item
