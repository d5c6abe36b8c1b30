"""Segment compilation: one explicit case per comparison and field kind, validation errors by rule path,
tenant isolation, and the single-query guarantee."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import services
from contacts.models import Contact, ContactList, ListMembership, MembershipStatus
from contacts.segments import compile_definition, segment_contacts, validate_definition
from events.models import Event
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def _event(contact, event_type, when, value=None, data=None):
    Event.objects.create(
        company_id=contact.company_id, contact=contact, event_type=event_type, occurred_at=when, value=value,
        data=data or {},
    )  # fmt: skip


@pytest.fixture
def people(company, other_company):
    for name, kind, choices in (
        ("Plan", "choice", ["gold", "silver"]),
        ("Points", "number", None),
        ("Birthday", "date", None),
        ("Opt in", "boolean", None),
        ("Nickname", "text", None),
    ):
        services.custom_field_create(company=company, name=name, field_type=kind, choices=choices)
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=False)
    vip_list = services.contact_list_create(company=company, name="VIP", double_opt_in=False)

    ann = ContactFactory(
        company=company, email="ann@example.com", created_at=days_ago(10), first_name="Ann", last_name="Lee", lang="fr",
        source="shop", phone="+33612345678", external_id="A-1",
        properties={"city": "Paris", "age": 34, "vip": True, "score": "12.5", "address": {"zip": "75001"}},
        tags=["VIP", "newsletter"],
        fields={"Plan": "gold", "Points": 120, "Birthday": "1990-05-01", "Opt in": True, "Nickname": "Annie"},
    )  # fmt: skip
    bob = ContactFactory(
        company=company, email="bob@example.com", created_at=days_ago(100), first_name="Bob", status="unsubscribed",
        properties={"city": "paris", "age": "29", "vip": False, "score": "n/a"}, tags=["newsletter"],
        fields={"Plan": "silver", "Points": 15, "Opt in": False},
    )  # fmt: skip
    cat = ContactFactory(
        company=company, email="cat@example.com", created_at=days_ago(1), first_name="Cat", properties={"city": ""}
    )
    erased = ContactFactory(
        company=company, email="gone@example.com", created_at=days_ago(5), first_name="Ann", tags=["VIP"]
    )
    Contact.objects.filter(pk=erased.pk).update(erased_at=NOW)

    services.key_information_upsert(contact=ann, numeric=[{"name": "shoe_size", "value": 38}])
    services.key_information_upsert(contact=ann, text=[{"name": "fav_color", "value": "Blue"}])
    services.key_information_upsert(contact=bob, numeric=[{"name": "shoe_size", "value": 44}])

    services.list_subscribe(contact=ann, contact_list=newsletter)
    services.list_subscribe(contact=bob, contact_list=newsletter)
    services.list_unsubscribe(contact=bob, contact_list=newsletter)
    services.list_subscribe(contact=bob, contact_list=vip_list)
    ListMembership.objects.create(contact=cat, contact_list=newsletter, status=MembershipStatus.PENDING)

    for when, value in ((days_ago(2), 50), (days_ago(20), 120), (days_ago(40), 80)):
        _event(ann, "order_placed", when, Decimal(value))
    _event(ann, "product_viewed", days_ago(1), data={"product_id": "PROD-001", "price": 19.9, 'odd "key".\\': "yes"})
    _event(bob, "order_placed", days_ago(100), Decimal(300))
    _event(bob, "product_viewed", days_ago(3), data={"product_id": "PROD-002", "price": "25"})
    _event(erased, "order_placed", days_ago(1), Decimal(999))

    # Another company: same address, its own list, field and events; none of it may show up.
    rival = ContactFactory(
        company=other_company, email="ann@example.com", created_at=days_ago(1), first_name="Ann", tags=["VIP"]
    )
    rival_list = services.contact_list_create(company=other_company, name="Newsletter", double_opt_in=False)
    services.list_subscribe(contact=rival, contact_list=rival_list)
    services.custom_field_create(company=other_company, name="Secret", field_type="text")
    _event(rival, "order_placed", days_ago(1), Decimal(5))
    return {"newsletter": newsletter, "vip": vip_list, "rival_list": rival_list}


def matching(company, definition) -> set[str]:
    return {c.email.split("@")[0] for c in segment_contacts(company, definition, now=NOW)}


def one(field, comparison, value=None, **extra) -> dict:
    rule = {"field": field, "comparison": comparison, **extra}
    if value is not None:
        rule["value"] = value
    return {"operator": "and", "rules": [rule]}


CASES = [
    # contact attributes: text
    ("email", "equals", " ANN@example.com", {"ann"}),
    ("email", "not_equals", "ann@example.com", {"bob", "cat"}),
    ("first_name", "equals", "ann", {"ann"}),
    ("first_name", "contains", "A", {"ann", "cat"}),
    ("last_name", "starts_with", "l", {"ann"}),
    ("first_name", "in", ["bob", "CAT", "zed"], {"bob", "cat"}),
    ("last_name", "is_set", None, {"ann"}),
    ("last_name", "is_not_set", None, {"bob", "cat"}),
    ("external_id", "not_equals", "A-1", {"bob", "cat"}),
    ("external_id", "is_not_set", None, {"bob", "cat"}),
    ("phone", "starts_with", "+336", {"ann"}),
    ("lang", "equals", "FR", {"ann"}),
    ("source", "not_equals", "shop", {"bob", "cat"}),
    ("status", "equals", "subscribed", {"ann", "cat"}),
    ("status", "not_equals", "subscribed", {"bob"}),
    ("status", "in", ["unsubscribed", "bounced"], {"bob"}),
    # contact attributes: created_at
    ("created_at", "before", "2024-06-01", {"bob"}),
    ("created_at", "after", "2024-06-05", {"cat"}),  # the whole 5th is excluded: ann was created on it
    ("created_at", "after", "2024-06-05T11:00:00Z", {"ann", "cat"}),
    ("created_at", "equals", "2024-06-05", {"ann"}),
    ("created_at", "not_equals", "2024-06-05", {"bob", "cat"}),
    ("created_at", "between", ["2024-06-14", "2024-04-01"], {"ann", "cat"}),
    ("created_at", "within_last", {"days": 30}, {"ann", "cat"}),
    ("created_at", "within_last", 5, {"cat"}),
    ("created_at", "is_set", None, {"ann", "bob", "cat"}),
    # properties: text (case-insensitive), numbers (JSON numbers and numeric strings), booleans
    ("properties.city", "equals", "PARIS", {"ann", "bob"}),
    ("properties.city", "not_equals", "paris", {"cat"}),
    ("properties.city", "contains", "ar", {"ann", "bob"}),
    ("properties.city", "starts_with", "P", {"ann", "bob"}),
    ("properties.city", "in", ["lyon", "Paris"], {"ann", "bob"}),
    ("properties.city", "is_set", None, {"ann", "bob"}),  # cat's is an empty string
    ("properties.city", "is_not_set", None, {"cat"}),
    ("properties.age", "greater_than", 30, {"ann"}),
    ("properties.age", "less_than", 30, {"bob"}),
    ("properties.age", "equals", 29, {"bob"}),
    ("properties.age", "between", [29, 34], {"ann", "bob"}),
    ("properties.age", "in", [34, 40], {"ann"}),
    ("properties.age", "not_equals", 34, {"bob", "cat"}),
    ("properties.score", "greater_than", 10, {"ann"}),  # "n/a" is not a number: no match, no error
    ("properties.score", "less_than", 100, {"ann"}),
    ("properties.vip", "equals", True, {"ann"}),
    ("properties.vip", "equals", False, {"bob"}),
    ("properties.vip", "not_equals", True, {"bob", "cat"}),
    ("properties.address.zip", "equals", "75001", {"ann"}),
    ("properties.address", "is_set", None, {"ann"}),
    # custom fields
    ("fields.Plan", "equals", "Gold", {"ann"}),
    ("fields.Plan", "not_equals", "gold", {"bob", "cat"}),
    ("fields.Plan", "in", ["silver", "bronze"], {"bob"}),
    ("fields.Nickname", "contains", "nni", {"ann"}),
    ("fields.Nickname", "starts_with", "an", {"ann"}),
    ("fields.Nickname", "is_not_set", None, {"bob", "cat"}),
    ("fields.Points", "greater_than", 100, {"ann"}),
    ("fields.Points", "less_than", 100, {"bob"}),
    ("fields.Points", "between", [10, 15], {"bob"}),
    ("fields.Points", "equals", 120, {"ann"}),
    ("fields.Points", "in", [15, 16], {"bob"}),
    ("fields.Points", "not_equals", 15, {"ann", "cat"}),
    ("fields.Points", "is_set", None, {"ann", "bob"}),
    ("fields.Birthday", "before", "1990-05-02", {"ann"}),
    ("fields.Birthday", "after", "1990-05-01", set()),
    ("fields.Birthday", "equals", "1990-05-01T23:00:00Z", {"ann"}),
    ("fields.Birthday", "between", ["1990-01-01", "1990-12-31"], {"ann"}),
    ("fields.Birthday", "within_last", 30, set()),
    ("fields.Birthday", "is_not_set", None, {"bob", "cat"}),
    ("fields.Opt in", "equals", True, {"ann"}),
    ("fields.Opt in", "not_equals", True, {"bob", "cat"}),
    ("fields.Opt in", "is_set", None, {"ann", "bob"}),
    # key information
    ("key_information.shoe_size", "greater_than", 40, {"bob"}),
    ("key_information.shoe_size", "between", [30, 40], {"ann"}),
    ("key_information.shoe_size", "not_equals", 38, {"bob", "cat"}),
    ("key_information.fav_color", "equals", "blue", {"ann"}),
    ("key_information.fav_color", "contains", "lu", {"ann"}),
    ("key_information.fav_color", "is_not_set", None, {"bob", "cat"}),
    ("key_information.shoe_size", "in", [44], {"bob"}),
    # tags: "has the tag"
    ("tags", "contains", "vip", {"ann"}),
    ("tags", "equals", "newsletter", {"ann", "bob"}),
    ("tags", "not_equals", "VIP", {"bob", "cat"}),
    ("tags", "in", ["vip", "other"], {"ann"}),
    ("tags", "starts_with", "news", {"ann", "bob"}),
    ("tags", "is_set", None, {"ann", "bob"}),
    ("tags", "is_not_set", None, {"cat"}),
    # events: orders and product views
    ("events.order_placed.count", "greater_than", 0, {"ann", "bob"}),
    ("events.order_placed.count", "greater_than", 1, {"ann"}),
    ("events.order_placed.count", "equals", 0, {"cat"}),
    ("events.order_placed.count", "less_than", 2, {"bob", "cat"}),
    ("events.order_placed.count", "not_equals", 1, {"ann", "cat"}),
    ("events.order_placed.count", "between", [0, 1], {"bob", "cat"}),
    ("events.order_placed.total", "greater_than", 200, {"ann", "bob"}),
    ("events.order_placed.total", "greater_than", 250, {"bob"}),
    ("events.order_placed.total", "less_than", 100, {"cat"}),
    ("events.order_placed.total", "equals", 250, {"ann"}),
    ("events.order_placed.last", "within_last", 30, {"ann"}),
    ("events.order_placed.last", "before", "2024-06-01", {"bob"}),
    ("events.order_placed.last", "after", "2024-06-01", {"ann"}),
    ("events.order_placed.last", "between", ["2024-03-01", "2024-03-31"], {"bob"}),
    ("events.order_placed.last", "equals", "2024-06-13", {"ann"}),
    ("events.order_placed.last", "is_set", None, {"ann", "bob"}),
    ("events.order_placed.last", "is_not_set", None, {"cat"}),
    ("events.order_placed.last", "not_equals", "2024-06-13", {"bob", "cat"}),
]


@pytest.mark.parametrize(("field", "comparison", "value", "expected"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_each_comparison(company, people, field, comparison, value, expected):
    assert matching(company, one(field, comparison, value)) == expected


def test_lists_rule_means_a_subscribed_member(company, people):
    newsletter, vip = people["newsletter"].pk, people["vip"].pk
    assert matching(company, one("lists", "equals", newsletter)) == {"ann"}  # bob left it, cat is pending
    assert matching(company, one("lists", "not_equals", newsletter)) == {"bob", "cat"}
    assert matching(company, one("lists", "in", [newsletter, vip])) == {"ann", "bob"}
    assert matching(company, one("lists", "is_set")) == {"ann", "bob"}
    assert matching(company, one("lists", "is_not_set")) == {"cat"}


def test_another_companys_list_matches_nobody_and_leaks_nothing(company, people):
    rival_list = people["rival_list"].pk
    # Even a contact of ours put in the rival's list behind the services' back is not matched by it.
    ours = Contact.objects.for_company(company).get(email="cat@example.com")
    ListMembership.objects.create(contact=ours, contact_list=people["rival_list"], status=MembershipStatus.SUBSCRIBED)
    assert matching(company, one("lists", "equals", rival_list)) == set()
    assert matching(company, one("lists", "in", [rival_list, people["vip"].pk])) == {"bob"}
    assert matching(company, one("lists", "not_equals", rival_list)) == {"ann", "bob", "cat"}
    assert matching(company, one("lists", "equals", 10**12)) == set()


def test_another_companys_custom_field_is_an_unknown_field(company, people):
    with pytest.raises(ValidationError) as error:
        compile_definition(company, one("fields.Secret", "is_set"))
    assert error.value.message_dict == {"rules[0].field": ["No custom field named 'Secret' (see GET /api/fields)."]}


def test_events_within_a_window_and_matching_data(company, people):
    ordered_recently = one("events.order_placed.count", "greater_than", 0, within_last_days=30)
    assert matching(company, ordered_recently) == {"ann"}
    assert matching(company, one("events.order_placed.count", "equals", 2, within_last_days=30)) == {"ann"}
    assert matching(company, one("events.order_placed.total", "less_than", 100, within_last_days=30)) == {
        "bob",
        "cat",
    }
    viewed = one("events.product_viewed.count", "greater_than", 0, where={"product_id": "PROD-001"})
    assert matching(company, viewed) == {"ann"}
    # A data match reads numbers in strings as numbers, like properties do.
    assert matching(company, one("events.product_viewed.count", "greater_than", 0, where={"price": 25})) == {"bob"}
    not_viewed = one("events.product_viewed.count", "equals", 0, where={"product_id": "prod-001"})
    assert matching(company, not_viewed) == {"bob", "cat"}


def test_where_matches_any_data_key(company, people):
    odd = one("events.product_viewed.count", "greater_than", 0, where={'odd "key".\\': "YES"})
    assert matching(company, odd) == {"ann"}
    assert matching(company, one("events.product_viewed.count", "equals", 0, where={"": "x"})) == {"ann", "bob", "cat"}
    with pytest.raises(ValidationError) as error:
        compile_definition(company, one("events.product_viewed.count", "equals", 0, where={"nul\x00": 1}))
    assert list(error.value.message_dict) == ["rules[0].where.nul\x00"]


def test_nested_groups_and_the_issue_examples(company, people):
    definition = {
        "operator": "or",
        "rules": [
            {
                "operator": "and",
                "rules": [
                    {"field": "status", "comparison": "equals", "value": "subscribed"},
                    {
                        "field": "events.order_placed.count",
                        "comparison": "greater_than",
                        "value": 0,
                        "within_last_days": 30,
                    },
                ],
            },
            {"field": "events.order_placed.total", "comparison": "greater_than", "value": 200},
        ],
    }
    assert matching(company, definition) == {"ann", "bob"}
    definition["rules"][1] = {"field": "events.order_placed.total", "comparison": "greater_than", "value": 250}
    definition["rules"][0]["rules"].append({"field": "tags", "comparison": "contains", "value": "nobody-has-this"})
    assert matching(company, definition) == {"bob"}


def test_empty_and_group_is_everyone_and_empty_or_group_is_nobody(company, people):
    everyone = {"ann", "bob", "cat"}
    assert matching(company, {"operator": "and", "rules": []}) == everyone
    assert matching(company, {"operator": "or", "rules": []}) == set()
    rule = {"field": "first_name", "comparison": "equals", "value": "Ann"}
    assert matching(company, {"operator": "or", "rules": [rule, {"operator": "and", "rules": []}]}) == everyone
    assert matching(company, {"operator": "and", "rules": [rule, {"operator": "or", "rules": []}]}) == set()
    assert matching(company, {"operator": "or", "rules": [rule, {"operator": "or", "rules": []}]}) == {"ann"}


def test_erased_contacts_and_other_companies_are_never_in_a_segment(company, other_company, people):
    assert matching(company, one("tags", "equals", "VIP")) == {"ann"}  # not the erased contact, not the rival
    assert matching(other_company, one("tags", "equals", "VIP")) == {"ann"}
    rival = segment_contacts(other_company, one("email", "equals", "ann@example.com"), now=NOW).get()
    assert rival.company_id == other_company.pk


def test_a_segment_is_one_query(company, people):
    definition = {
        "operator": "and",
        "rules": [
            {"field": "status", "comparison": "equals", "value": "subscribed"},
            {"field": "properties.age", "comparison": "greater_than", "value": 18},
            {"field": "tags", "comparison": "not_equals", "value": "blocked"},
            {"field": "fields.Points", "comparison": "greater_than", "value": 10},
            {"field": "key_information.shoe_size", "comparison": "is_set"},
            {"field": "lists", "comparison": "equals", "value": people["newsletter"].pk},
            {
                "operator": "or",
                "rules": [
                    {"field": "events.order_placed.total", "comparison": "greater_than", "value": 200},
                    {"field": "events.order_placed.last", "comparison": "within_last", "value": 7},
                ],
            },
        ],
    }
    contacts = segment_contacts(company, definition, now=NOW)  # compiling reads fields and lists once
    with CaptureQueriesContext(connection) as queries:
        assert contacts.count() == 1
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        assert [c.email for c in contacts] == ["ann@example.com"]
    assert len(queries) == 1


def errors_of(company, definition) -> dict:
    with pytest.raises(ValidationError) as error:
        validate_definition(company, definition)
    return error.value.message_dict


def test_validation_names_each_bad_rule_by_path(company, people):
    definition = {
        "operator": "and",
        "rules": [
            {"field": "email", "comparison": "equals", "value": "a@b.c"},
            {
                "operator": "xor",
                "rules": [
                    {"field": "email", "comparison": "greater_than", "value": 3},
                    {"field": "shoe", "comparison": "equals", "value": 3},
                    {"field": "fields.Points", "comparison": "greater_than", "value": "ten"},
                    {"field": "created_at", "comparison": "before", "value": "yesterday"},
                    {"field": "tags", "comparison": "is_set", "value": "x"},
                    {"field": "events.order_placed.count", "comparison": "greater_than", "value": -1},
                    {"field": "events.order_placed", "comparison": "is_set"},
                    {"field": "status", "comparison": "equals", "value": "happy"},
                    {"field": "email", "comparison": "equals", "value": "x", "within_last_days": 3},
                    {"field": "email", "comparison": "equals", "valeu": "x"},
                    {"field": "lists", "comparison": "in", "value": [1, "two"]},
                    {"field": "properties.a b", "comparison": "is_set"},
                    "not a rule",
                ],
            },
        ],
    }
    errors = errors_of(company, definition)
    assert set(errors) == {
        "rules[1].operator",
        "rules[1].rules[0].comparison",
        "rules[1].rules[1].field",
        "rules[1].rules[2].value",
        "rules[1].rules[3].value",
        "rules[1].rules[4].value",
        "rules[1].rules[5].value",
        "rules[1].rules[6].field",
        "rules[1].rules[7].value",
        "rules[1].rules[8].within_last_days",
        "rules[1].rules[9].valeu",
        "rules[1].rules[9].value",
        "rules[1].rules[10].value",
        "rules[1].rules[11].field",
        "rules[1].rules[12]",
    }
    assert errors["rules[1].rules[0].comparison"] == [
        "'greater_than' does not apply to email (a text field); "
        "use one of: equals, not_equals, contains, starts_with, in, is_set, is_not_set."
    ]
    assert "Unknown field 'shoe'" in errors["rules[1].rules[1].field"][0]
    assert errors["rules[1].rules[2].value"] == ["For greater_than on fields.Points the value 'ten' is not a number."]
    assert errors["rules[1].rules[10].value"] == [
        "For in on lists the value item 1 must be a list id (a positive whole number)."
    ]


def test_validation_limits_depth_and_size(company):
    deep: dict = {"field": "email", "comparison": "is_set"}
    for _ in range(6):
        deep = {"operator": "and", "rules": [deep]}
    assert errors_of(company, deep) == {"rules[0].rules[0].rules[0].rules[0].rules[0]": ["Groups nest at most 5 deep."]}
    five_deep = deep["rules"][0]
    assert validate_definition(company, five_deep) is None

    wide = {"operator": "or", "rules": [{"field": "email", "comparison": "is_set"}] * 30}
    wide["rules"].append({"operator": "and", "rules": [{"field": "email", "comparison": "is_set"}] * 20})
    assert validate_definition(company, wide) is None  # 50 rules (and a group)
    wide["rules"][-1]["rules"].append({"field": "email", "comparison": "is_set"})
    assert errors_of(company, wide) == {
        "rules": ["Over the complexity budget: a segment has at most 50 rules; this one has 51."]
    }
    hollow = {"operator": "or", "rules": [{"operator": "and", "rules": [{"operator": "or", "rules": []}] * 10}] * 2}
    assert errors_of(company, hollow) == {
        "rules": ["Over the complexity budget: a segment has at most 20 groups; this one has 22."]
    }


ONE_EVENT = {"field": "events.x.count", "comparison": "equals", "value": 1}


def only(rule: dict) -> dict:
    return {"operator": "and", "rules": [rule]}


@pytest.mark.parametrize(
    ("definition", "key"),
    [
        (None, "definition"),
        ([], "definition"),
        ({"operator": "and"}, "rules"),
        ({"operator": "and", "rules": {}}, "rules"),
        ({"rules": []}, "operator"),
        ({"operator": "and", "rules": [], "name": "x"}, "name"),
        ({"operator": "and", "rules": [{"comparison": "is_set"}]}, "rules[0].field"),
        (only({"field": "email"}), "rules[0].comparison"),
        (only({"field": "email", "comparison": "equals"}), "rules[0].value"),
        (only({"field": "email", "comparison": "equals", "value": ""}), "rules[0].value"),
        (only({"field": "email", "comparison": "in", "value": []}), "rules[0].value"),
        (only({"field": "email", "comparison": "equals", "value": "a\x00"}), "rules[0].value"),
        (only({"field": "email", "comparison": "equals", "value": "a\ud800"}), "rules[0].value"),
        (only({"field": "key_information.\udfff", "comparison": "is_set"}), "rules[0].field"),
        (only({"field": "collections.a\x00", "comparison": "is_set"}), "rules[0].field"),
        (only({**ONE_EVENT, "where": {"\ud800": 1}}), "rules[0].where.\ud800"),
        (only({"field": "created_at", "comparison": "within_last", "value": 0}), "rules[0].value"),
        (only({"field": "created_at", "comparison": "between", "value": ["2024-01-01"]}), "rules[0].value"),
        (only({"field": "properties.vip", "comparison": "greater_than", "value": True}), "rules[0].value"),
        (only({"field": "key_information.x", "comparison": "equals", "value": True}), "rules[0].value"),
        (only({"field": "events.x.total", "comparison": "equals", "value": 1e30}), "rules[0].value"),
        (only({**ONE_EVENT, "where": []}), "rules[0].where"),
        (only({**ONE_EVENT, "where": {"a.b": [1]}}), "rules[0].where.a.b"),
        (only({**ONE_EVENT, "where": {"a": None}}), "rules[0].where.a"),
        (only({**ONE_EVENT, "within_last_days": "7"}), "rules[0].within_last_days"),
    ],
)  # fmt: skip
def test_each_kind_of_mistake_is_reported_at_its_path(company, definition, key):
    assert key in errors_of(company, definition)


def test_dates_at_the_edges_of_the_calendar_do_not_crash(company, people):
    for value in ("0001-01-01T00:00:00+01:00", "9999-12-31", "9999-12-31T23:59:59-05:00", "0001-01-01"):
        for comparison in ("before", "after", "equals"):
            segment_contacts(company, one("created_at", comparison, value), now=NOW).count()
            segment_contacts(company, one("fields.Birthday", comparison, value), now=NOW).count()
    assert matching(company, one("created_at", "after", "9999-12-31")) == set()
    assert matching(company, one("fields.Birthday", "after", "0001-01-01")) == {"ann"}


def test_custom_field_rules_follow_the_field_by_its_current_name(company, people):
    points = services.CustomField.objects.for_company(company).get(name="Points")
    rule = one("fields.Points", "greater_than", 100)
    assert matching(company, rule) == {"ann"}
    points.name = "Loyalty points"
    points.save()
    with pytest.raises(ValidationError):
        compile_definition(company, rule)
    assert matching(company, one("fields.Loyalty points", "greater_than", 100)) == {"ann"}


def test_segment_list_ids_are_resolved_for_the_company_only(company, other_company, people):
    ours = ContactList.objects.for_company(company).values_list("pk", flat=True)
    assert people["rival_list"].pk not in ours
    assert date(2024, 6, 15) == NOW.date()


def test_tag_rules_take_like_wildcards_and_backslashes_literally(company):
    for name, tags in [("pct", ["50%_off"]), ("under", ["50x_off"]), ("slash", ["a\\b"]), ("plain", ["50 off"])]:
        ContactFactory(company=company, email=f"{name}@example.com", created_at=days_ago(1), tags=tags)
    assert matching(company, one("tags", "starts_with", "50%")) == {"pct"}
    assert matching(company, one("tags", "starts_with", "50x_")) == {"under"}
    assert matching(company, one("tags", "equals", "50%_OFF")) == {"pct"}
    assert matching(company, one("tags", "equals", "A\\B")) == {"slash"}
    assert matching(company, one("tags", "in", ["50_off", "a_b"])) == set()
