"""The demo company's data, so a first `bin/run` shows a shop rather than empty pages: a product
catalog and a store, contacts in two lists, a custom field, segments, what they did (events:
product views, orders and abandoned carts, which the events' handlers turn into orders, carts and
commerce facts once the worker dispatches them), an email layout and a draft campaign ready to send.

Written once, through the same services as the API (nothing here bypasses a rule), when the demo
company has no contacts yet; a company someone has started using is never touched. Deterministic:
the same names, orders and events on every fresh machine.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from campaigns.services import campaign_create, template_create
from catalog.services.catalogs import catalog_upsert
from catalog.services.products import product_upsert_batch
from catalog.services.stores import store_upsert
from contacts import services as contact_services
from contacts.consent_policy import ConsentContext
from contacts.models import Contact, ContactList
from contacts.segments.services import segment_create
from events.models import EventSource
from events.services import record_events
from salloq.core.company_settings import company_sending_update
from salloq.core.models import Company

DEMO_CONSENT = ConsentContext(source="demo data")
FIRST_NAMES = ["Ada", "Ben", "Chloé", "Dev", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kenji", "Lena"]
LAST_NAMES = ["Martin", "Nowak", "Okafor", "Petit", "Quinn", "Rossi", "Silva", "Tanaka", "Umar", "Vogel"]
PRODUCTS = [
    ("P-100", "Iris Élysée eau de parfum", "perfume", Decimal("145.00")),
    ("P-101", "Vetiver Noir eau de toilette", "perfume", Decimal("98.00")),
    ("P-102", "Rose Absolue candle", "home", Decimal("42.00")),
    ("P-103", "Cedar & Sage diffuser", "home", Decimal("56.50")),
    ("P-104", "Neroli hand cream", "body", Decimal("24.90")),
    ("P-105", "Amber body oil", "body", Decimal("38.00")),
]
CONTACT_COUNT = 60


def seed_demo_data(company: Company) -> bool:
    """Fill the demo company once; False when it already has contacts."""
    if Contact.objects.for_company(company).exists():
        return False
    rng = random.Random(12)  # noqa: S311 (demo names, not secrets)
    with transaction.atomic():
        _catalog(company)
        contacts = _contacts(company, rng)
        _segments(company)
        _campaign(company)
    _events(company, contacts, rng)  # JSON numbers, as the API gets them
    return True


def _catalog(company: Company) -> None:
    catalog = catalog_upsert(
        company=company, data={"name": "Demo_Shop", "currency": "EUR", "location": "demo_shop", "is_default": True}
    )
    results = product_upsert_batch(
        catalog=catalog,
        items=[
            {
                "product_id": product_id,
                "name": name,
                "main_category": category,
                "product_url": f"https://shop.example.com/products/{product_id.lower()}",
                "available": True,
                "price": price,
                "quantity": 20 + 7 * number,
                "brand": "Maison Demo",
            }
            for number, (product_id, name, category, price) in enumerate(PRODUCTS)
        ],
    )
    refused = [result.errors for result in results if result.errors]
    if refused:
        raise ValueError(f"demo products refused: {refused[:3]}")
    store_upsert(
        company=company,
        data={"external_id": "paris-1", "name": "Paris flagship", "channel": "offline", "store_type": "Flagship"},
    )


DEMO_LAYOUT = """<html><head><style>
body { font-family: Georgia, serif; background: #f6f1ea; margin: 0; }
.wrap { max-width: 560px; margin: 0 auto; background: #ffffff; padding: 24px; }
h1 { color: #5b3a29; font-size: 24px; }
a.button { background: #5b3a29; color: #ffffff; padding: 10px 18px; text-decoration: none; }
</style></head><body><div class="wrap">{{ content }}</div></body></html>"""

DEMO_CONTENT = """<h1>Spring picks for you, {{ contact.first_name|default:"friend" }}</h1>
<p>Iris Élysée is back in stock, and our new Rose Absolue candle fills a room in minutes.</p>
{% if commerce.order_count %}<p>Thank you for your {{ commerce.order_count }} order{{ commerce.order_count|pluralize }}
with us.</p>{% endif %}
<p><a class="button" href="https://shop.example/collections/spring">See the spring collection</a></p>
<p><a href="https://shop.example/products/rose-absolue-candle">Rose Absolue candle</a></p>"""


def _campaign(company: Company) -> None:
    company_sending_update(
        company=company,
        sender_name=company.name,
        sender_email="hello@shop.example",
        reply_to_email="",
        postal_address="12 Rue des Parfums, 75003 Paris, France",
        send_rate_per_second=None,
    )
    layout = template_create(company=company, data={"name": "Shop newsletter", "html": DEMO_LAYOUT})
    newsletter = ContactList.objects.for_company(company).get(name="Newsletter")
    campaign_create(
        company=company,
        data={
            "name": "Spring picks",
            "type": "email",
            "subject": '🌸 Spring picks, {{ contact.first_name|default:"for you" }}',
            "preview_text": "Iris Élysée is back, and a new candle",
            "content": DEMO_CONTENT,
            "template_id": layout.pk,
            "list_id": newsletter.pk,
        },
    )


def _contacts(company: Company, rng: random.Random) -> list[Contact]:
    newsletter = contact_services.contact_list_create(
        company=company, name="Newsletter", description="Signed up in the shop", double_opt_in=False
    )
    vip = contact_services.contact_list_create(
        company=company, name="VIP", description="Loyalty club members", double_opt_in=False
    )
    contact_services.custom_field_create(
        company=company, name="Skin type", field_type="choice", choices=["dry", "oily", "normal"]
    )
    contacts = []
    for number in range(CONTACT_COUNT):
        first, last = FIRST_NAMES[number % len(FIRST_NAMES)], LAST_NAMES[number % len(LAST_NAMES)]
        lists = [{"id": newsletter.pk}] + ([{"id": vip.pk}] if number % 5 == 0 else [])
        data = {
            "email": f"{first.lower()}.{last.lower()}{number}@example.com".replace("é", "e"),
            "first_name": first,
            "last_name": last,
            "external_id": f"C-{1000 + number}",
            "lang": rng.choice(["en", "fr", "de"]),
            "tags": rng.sample(["perfume", "home", "body", "gift"], k=rng.randint(0, 2)),
            "fields": [{"name": "Skin type", "value": rng.choice(["dry", "oily", "normal"])}],
            "lists": lists,
        }
        if number % 17 == 3:
            data["status"] = "unsubscribed"
        contacts.append(contact_services.contact_upsert(company=company, data=data, consent=DEMO_CONSENT).contact)
    return contacts


def _segments(company: Company) -> None:
    segment_create(
        company=company,
        name="Perfume lovers",
        description="Tagged perfume or viewed a perfume in the last 30 days",
        definition={
            "operator": "or",
            "rules": [
                {"field": "tags", "comparison": "contains", "value": "perfume"},
                {
                    "field": "events.product_viewed.count",
                    "comparison": "greater_than",
                    "value": 0,
                    "within_last_days": 30,
                },
            ],
        },
    )
    segment_create(
        company=company,
        name="Repeat customers",
        description="Two orders or more (commerce facts)",
        definition={
            "operator": "and",
            "rules": [{"field": "commerce.order_count", "comparison": "greater_than", "value": 1}],
        },
    )


def _events(company: Company, contacts: list[Contact], rng: random.Random) -> None:
    now = timezone.now()
    items = []
    for number, contact in enumerate(contacts):
        for _ in range(rng.randint(0, 4)):
            product_id, name, _, price = rng.choice(PRODUCTS)
            moment = now - timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1440))
            items.append(
                {
                    "event_type": "product_viewed",
                    "event_data": {"email": contact.email, "product_id": product_id, "product_name": name},
                    "occurred_at": moment.isoformat(),
                }
            )
        for order in range(rng.randint(0, 3)):
            lines = rng.sample(PRODUCTS, k=rng.randint(1, 3))
            total = sum((price for *_, price in lines), Decimal("0"))
            moment = now - timedelta(days=rng.randint(1, 120), minutes=rng.randint(0, 1440))
            items.append(
                {
                    "event_type": "order_placed",
                    "event_data": {
                        "email": contact.email,
                        "order_id": f"DEMO-{number:03d}-{order}",
                        "total": float(total),
                        "currency": "EUR",
                        "items": [
                            {"product_id": product_id, "product_name": name, "quantity": 1, "price": float(price)}
                            for product_id, name, _, price in lines
                        ],
                    },
                    "occurred_at": moment.isoformat(),
                }
            )
        if number % 9 == 4:
            product_id, name, _, price = rng.choice(PRODUCTS)
            items.append(
                {
                    "event_type": "cart_abandoned",
                    "event_data": {
                        "email": contact.email,
                        "cart_total": float(price),
                        "items": [
                            {"product_id": product_id, "product_name": name, "quantity": 1, "price": float(price)}
                        ],
                    },
                    "occurred_at": (now - timedelta(hours=rng.randint(1, 48))).isoformat(),
                }
            )
    # Through the API's own path, so the handlers (orders, carts, flows) see them like any other events.
    for start in range(0, len(items), 500):
        with transaction.atomic():
            results = record_events(company=company, items=items[start : start + 500], source=EventSource.API)
        refused = [result.errors for result in results if result.errors]
        if refused:
            raise ValueError(f"demo events refused: {refused[:3]}")
