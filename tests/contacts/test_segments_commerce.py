"""Commerce facts as segment fields (`commerce.total_spent`, ...) and product collections
(`collections.<name>`): the compiler, the API's count, the dashboard's builder, contacts without
facts counting as 0 / null, and tenant isolation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.commerce import refresh_commerce_facts, set_loyalty
from catalog.models import CommerceFacts, OrderStatus
from contacts.segments import segment_contacts
from contacts.segments.builder import builder_from_definition
from tests.conftest import html
from tests.factories import (
    CollectionItemFactory,
    ContactFactory,
    OrderFactory,
    ProductCatalogFactory,
    ProductCollectionFactory,
    ProductFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def shop(company, other_company):
    """alice bought twice (100 + 50.50), had an order cancelled and has an open cart; bob's only
    order was refunded and he subscribes; carol never bought (no facts row). In another company a
    big spender with alice's address."""
    now = timezone.now()
    alice, bob, carol = (
        ContactFactory(company=company, email=f"{name}@example.com") for name in ("alice", "bob", "carol")
    )
    OrderFactory(company=company, contact=alice, total=Decimal("100.00"), placed_at=now - timedelta(days=40))
    OrderFactory(company=company, contact=alice, total=Decimal("50.50"), placed_at=now - timedelta(days=2))
    OrderFactory(company=company, contact=alice, total=Decimal("1000.00"), status=OrderStatus.CANCELLED)
    OrderFactory(company=company, contact=alice, total=Decimal("30.00"), completed=False, status=OrderStatus.PENDING)
    OrderFactory(company=company, contact=bob, total=Decimal("200.00"), status=OrderStatus.REFUNDED)
    SubscriptionFactory(company=company, contact=bob)
    refresh_commerce_facts(company_id=company.pk, contact_ids=[alice.pk, bob.pk])
    rival = ContactFactory(company=other_company, email="alice@example.com")
    OrderFactory(company=other_company, contact=rival, total=Decimal("10000.00"))
    refresh_commerce_facts(company_id=other_company.pk, contact_ids=[rival.pk])
    return {"alice": alice, "bob": bob, "carol": carol, "rival": rival}


def names(company, shop, *rules, operator="and") -> set[str]:
    ids = set(segment_contacts(company, {"operator": operator, "rules": list(rules)}).values_list("pk", flat=True))
    return {name for name, contact in shop.items() if contact.pk in ids}


def rule(field, comparison, value=None, **extra) -> dict:
    body = {"field": f"commerce.{field}", "comparison": comparison, **extra}
    if value is not None:
        body["value"] = value
    return body


def test_total_spent_counts_completed_orders_only(company, shop):
    assert names(company, shop, rule("total_spent", "greater_than", 100)) == {"alice"}
    assert names(company, shop, rule("total_spent", "equals", 150.5)) == {"alice"}
    assert names(company, shop, rule("order_count", "equals", 2)) == {"alice"}
    assert names(company, shop, rule("average_order_value", "equals", 75.25)) == {"alice"}
    assert names(company, shop, rule("open_cart_value", "greater_than", 0)) == {"alice"}
    assert names(company, shop, rule("active_subscriptions", "equals", 1)) == {"bob"}


def test_contacts_without_facts_count_as_zero_and_null(company, shop):
    assert not CommerceFacts.objects.filter(contact=shop["carol"]).exists()
    assert names(company, shop, rule("total_spent", "equals", 0)) == {"bob", "carol"}
    assert names(company, shop, rule("order_count", "less_than", 1)) == {"bob", "carol"}
    assert names(company, shop, rule("total_spent", "between", [0, 10])) == {"bob", "carol"}
    assert names(company, shop, rule("total_spent", "in", [0, 150.5])) == {"alice", "bob", "carol"}
    assert names(company, shop, rule("total_spent", "not_equals", 0)) == {"alice"}
    assert names(company, shop, rule("open_cart_value", "is_set")) == {"alice", "bob", "carol"}
    assert names(company, shop, rule("average_order_value", "is_not_set")) == {"bob", "carol"}
    assert names(company, shop, rule("average_order_value", "not_equals", 75.25)) == {"bob", "carol"}
    assert names(company, shop, rule("last_order_at", "is_set")) == {"alice"}
    assert names(company, shop, rule("first_order_at", "is_not_set")) == {"bob", "carol"}


def test_dates_compare_like_other_dates(company, shop):
    assert names(company, shop, rule("last_order_at", "within_last", 7)) == {"alice"}
    assert names(company, shop, rule("first_order_at", "within_last", 7)) == set()
    today = timezone.now().date()
    assert names(company, shop, rule("first_order_at", "before", (today - timedelta(days=30)).isoformat())) == {"alice"}
    assert names(company, shop, rule("last_cart_at", "after", (today - timedelta(days=1)).isoformat())) == {"alice"}
    # Not after yesterday: no date at all is not "after", so carol and bob are in the complement.
    assert names(company, shop, rule("last_order_at", "not_equals", today.isoformat())) == {"alice", "bob", "carol"}


def test_loyalty_fields(company, shop):
    set_loyalty(company=company, contact_id=shop["carol"].pk, balance=2500, lifetime_points=5000, value=Decimal(25))
    assert names(company, shop, rule("loyalty_balance", "greater_than", 1000)) == {"carol"}
    assert names(company, shop, rule("lifetime_points", "equals", 0)) == {"alice", "bob"}
    # Loyalty leaves the order facts alone, and a refresh leaves loyalty alone.
    refresh_commerce_facts(company_id=company.pk, contact_ids=[shop["carol"].pk])
    facts = CommerceFacts.objects.get(contact=shop["carol"])
    assert (facts.loyalty_balance, facts.lifetime_points, facts.loyalty_value) == (2500, 5000, Decimal("25.00"))
    assert facts.total_spent == 0 and facts.order_count == 0


def test_commerce_rules_combine_with_the_others(company, shop):
    by_email = {"field": "email", "comparison": "contains", "value": "bo"}
    assert names(company, shop, rule("total_spent", "greater_than", 0), by_email, operator="or") == {"alice", "bob"}


def test_a_segment_never_counts_another_companys_orders(company, other_company, shop):
    assert names(company, shop, rule("total_spent", "greater_than", 5000)) == set()
    assert names(other_company, shop, rule("total_spent", "greater_than", 5000)) == {"rival"}
    # Zero-matching rules go through the complement: still only this company's contacts.
    assert names(company, shop, rule("total_spent", "less_than", 1)) == {"bob", "carol"}


def test_unknown_commerce_field_and_bad_values_are_named(api, shop):
    response = api.post(
        "/api/segments/count", {"definition": {"operator": "and", "rules": [rule("nope", "equals", 1)]}}
    )
    assert response.status_code == 400
    assert "commerce.total_spent" in str(response.json()["details"]["definition.rules[0].field"])
    response = api.post(
        "/api/segments/count", {"definition": {"operator": "and", "rules": [rule("total_spent", "equals", "lots")]}}
    )
    assert response.status_code == 400
    assert "definition.rules[0].value" in response.json()["details"]
    response = api.post(
        "/api/segments/count",
        {"definition": {"operator": "and", "rules": [rule("last_order_at", "greater_than", 5)]}},
    )
    assert response.status_code == 400
    assert "definition.rules[0].comparison" in response.json()["details"]


def test_the_api_counts_commerce_segments_per_company(api, other_api, shop):
    body = {"definition": {"operator": "and", "rules": [rule("total_spent", "greater_than", 100)]}}
    assert api.post("/api/segments/count", body).json() == {"count": 1}
    assert other_api.post("/api/segments/count", body).json() == {"count": 1}  # the rival, not alice
    body = {"definition": {"operator": "and", "rules": [rule("order_count", "equals", 0)]}}
    assert api.post("/api/segments/count", body).json() == {"count": 2}
    assert other_api.post("/api/segments/count", body).json() == {"count": 0}
    saved = api.post("/api/segments", {"name": "Big spenders", "definition": body["definition"]})
    assert saved.status_code == 201, saved.content
    assert api.get(f"/api/segments/{saved.json()['segment_id']}/count").json()["count"] == 2


def test_the_dashboard_builder_offers_and_counts_commerce_fields(marketer_client, shop):
    form = {
        "name": "Spenders",
        "operator": "and",
        "row": ["1"],
        "r1-parent": "",
        "r1-field": "commerce.total_spent",
        "r1-comparison": "greater_than",
        "r1-value": "100",
    }
    markup = html(marketer_client.post("/contacts/segments/live/", form, **HX))
    assert '<strong id="segment-count">1</strong>' in markup
    page = html(marketer_client.get("/contacts/segments/new/"))
    assert 'value="commerce.total_spent"' in page and "Total spent" in page
    form.update({"r1-field": "commerce.last_order_at", "r1-comparison": "within_last", "r1-value": "7"})
    markup = html(marketer_client.post("/contacts/segments/live/", form, **HX))
    assert '<strong id="segment-count">1</strong>' in markup


def test_the_builder_reads_back_a_commerce_definition(company):
    definition = {"operator": "and", "rules": [rule("open_cart_value", "between", [10, 50])]}
    builder = builder_from_definition(company, definition)
    assert builder.definition()[0] == definition
    [row] = builder.tree()
    assert row.widget == "number"


def test_collections_hold_products_per_contact(company, other_company, shop, marketer_client):
    catalog = ProductCatalogFactory(company=company)
    mug, cup = ProductFactory(catalog=catalog, product_id="MUG"), ProductFactory(catalog=catalog, product_id="CUP")
    wishlist = ProductCollectionFactory(catalog=catalog, name="Wishlist")
    CollectionItemFactory(collection=wishlist, contact=shop["alice"], product=mug)
    CollectionItemFactory(collection=wishlist, contact=shop["bob"], product=cup)
    # Another company's Wishlist holding a MUG for its contact.
    theirs = ProductCollectionFactory(catalog=ProductCatalogFactory(company=other_company), name="Wishlist")
    CollectionItemFactory(
        collection=theirs, contact=shop["rival"], product=ProductFactory(catalog=theirs.catalog, product_id="MUG")
    )

    def collection(comparison, value=None):
        body = {"field": "collections.Wishlist", "comparison": comparison}
        return body if value is None else {**body, "value": value}

    assert names(company, shop, collection("contains", "MUG")) == {"alice"}
    assert names(company, shop, collection("in", ["MUG", "CUP"])) == {"alice", "bob"}
    assert names(company, shop, collection("is_set")) == {"alice", "bob"}
    assert names(company, shop, collection("is_not_set")) == {"carol"}
    assert names(other_company, shop, collection("contains", "MUG")) == {"rival"}
    assert names(company, shop, {"field": "collections.Nope", "comparison": "is_set"}) == set()
    form = {
        "operator": "and",
        "row": ["1"],
        "r1-parent": "",
        "r1-field": "collections",
        "r1-name": "Wishlist",
        "r1-comparison": "contains",
        "r1-value": "CUP",
    }
    markup = html(marketer_client.post("/contacts/segments/live/", form, **HX))
    assert '<strong id="segment-count">1</strong>' in markup
    definition = {"operator": "and", "rules": [collection("in", ["MUG", "CUP"])]}
    assert builder_from_definition(company, definition).definition()[0] == definition
