"""Template filters of the commerce pages: money as an exact decimal with its currency, and the
product image URL a page may show (catalog.views.images)."""

from decimal import Decimal, InvalidOperation

from django import template

from ..views.images import shown_image_url

register = template.Library()


@register.filter
def money(amount, currency: str = "") -> str:
    """1234.5 and "EUR" -> "1,234.50 EUR"; None -> "—". Decimal all the way (never a float)."""
    if amount is None or amount == "":
        return "—"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    text = f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


@register.filter
def shop_image(url: str) -> str:
    return shown_image_url(url)


@register.filter
def web_link(url: str) -> str:
    """The URL when it is an http(s) address, else "" (a shop's product_url is data, never a javascript: link)."""
    url = (url or "").strip()
    return url if url.lower().startswith(("https://", "http://")) else ""


@register.filter
def quantity(value) -> str:
    """A line's quantity without trailing zeros or an exponent: 10.000 -> "10", 1.500 -> "1.5"."""
    if value is None:
        return "—"
    text = format(Decimal(str(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
