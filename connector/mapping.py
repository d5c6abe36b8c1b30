"""The Salloq Ecommerce API's records as the catalog services' items: one function per record."""

from decimal import Decimal, InvalidOperation

MAX_IMAGES = 5  # the catalog keeps up to 5 extra image URLs


def storefront_url(base_url: str) -> str:
    """The shop's site for product links: the API's base URL without its /api."""
    base = base_url.rstrip("/")
    return base[: -len("/api")] if base.endswith("/api") else base


def _decimal(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _text(value) -> str:
    return "" if value is None else str(value)


def product_item(product: dict, storefront: str) -> dict:
    images = [image for image in product.get("images") or [] if isinstance(image, dict) and image.get("url")]
    images.sort(key=lambda image: not image.get("is_primary"))  # the primary one first, the rest in order
    categories = [str(c) for c in product.get("categories") or [] if c]
    stock = product.get("stock_qty")
    stock = stock if isinstance(stock, int) and not isinstance(stock, bool) else None
    slug = _text(product.get("slug"))
    return {
        "product_id": _text(product.get("id")),
        "name": _text(product.get("name")),
        "slug": slug,
        "description": _text(product.get("description")),
        "price": _decimal(product.get("price")),
        "stock_qty": stock,
        "quantity": stock,
        "available": bool(stock and stock > 0),
        "active": True,
        "subscription_enabled": bool(product.get("subscription_enabled")),
        "main_category": categories[0] if categories else "",
        "categories": categories,
        "main_image_url": images[0]["url"] if images else "",
        "image_urls": [image["url"] for image in images[1 : 1 + MAX_IMAGES]],
        "product_url": f"{storefront}/products/{slug}" if slug else "",
    }


def customer_ref(customer: dict, customer_id: str) -> dict:
    """A reference resolve_contacts matches by email, then by the shop's customer id (the contact's
    external id). The phone goes as the shop has it: one that cannot be normalized is kept aside,
    it never stops the customer."""
    ref = {"customer_id": customer_id}
    for name in ("email", "first_name", "last_name", "phone"):
        if customer.get(name):
            ref[name] = str(customer[name])
    return ref


def order_item(order: dict, contact_id: int | None, customer_id: str) -> dict:
    item = {
        "external_id": _text(order.get("id")),
        "status": _text(order.get("status")) or "pending",
        "completed": True,  # the shop's orders are placed orders; a pending one is not a cart
        "subtotal": _decimal(order.get("subtotal")),
        "tax": _decimal(order.get("tax")),
        "shipping": _decimal(order.get("shipping")),
        "total": _decimal(order.get("total")),
        "placed_at": order.get("created_at"),
        "is_subscription": bool(order.get("is_subscription")),
        "lines": [
            {
                "product_id": _text(line.get("product_id")),
                "product_name": _text(line.get("product_name")),
                "quantity": _decimal(line.get("qty")),
                "unit_price": _decimal(line.get("price")),
                "line_total": _decimal(line.get("subtotal")),
            }
            for line in order.get("items") or []
            if isinstance(line, dict)
        ],
    }
    if contact_id is not None:
        item["contact_id"] = contact_id
    elif customer_id:
        item["customer_id"] = customer_id
    for name in ("discount",):
        if order.get(name) is not None:
            item[name] = _decimal(order[name])
    for name in (
        "tracking_number",
        "shipping_address",
        "shipping_city",
        "shipping_state",
        "shipping_zip",
        "shipping_country",
        "promo_code",
    ):
        if order.get(name):
            item[name] = str(order[name])
    return {name: value for name, value in item.items() if value is not None}


def subscription_item(subscription: dict, contacts: dict[str, int | None]) -> dict:
    customer_id = _text(subscription.get("customer_id"))
    item = {
        "external_id": _text(subscription.get("id")),
        "product_id": _text(subscription.get("product_id")),
        "plan": _text(subscription.get("frequency_name")),
        "quantity": subscription.get("quantity"),
        "price": _decimal(subscription.get("price")),
        "status": _text(subscription.get("status")),
        "next_billing_date": subscription.get("next_billing_date"),
        "started_at": subscription.get("created_at"),
        "cancelled_at": subscription.get("cancelled_at"),
    }
    if contacts.get(customer_id) is not None:
        item["contact_id"] = contacts[customer_id]
    else:
        item["customer_id"] = customer_id
    return {name: value for name, value in item.items() if value is not None}


def loyalty_values(answer: dict) -> tuple[int, int, Decimal | None] | None:
    """(balance, lifetime points, value) as stored, or None when the points are not whole numbers."""
    balance, lifetime = answer.get("current_balance"), answer.get("lifetime_points")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (balance, lifetime)):
        return None
    value = _decimal(answer.get("dollar_value"))
    return balance, lifetime, None if value is None else value.quantize(Decimal("0.01"))
