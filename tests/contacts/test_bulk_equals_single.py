"""POST /api/contacts/bulk is exactly POST /api/contacts, a thousand at a time.

The same random items, hostile ones included, go one by one to POST /api/contacts for one fresh
company and as one batch to POST /api/contacts/bulk for another; both must store the same
contacts (attributes, tags, properties, custom fields, list memberships) and answer each item
with the same outcome: the same per-field errors, or the same warnings.
"""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts import services
from contacts.models import Contact, FieldType, ListMembership
from tests.conftest import make_api_client
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db

# JSON that json.dumps cannot write (1e400 is read as infinity) goes in as a marker, replaced in the body text.
HUGE, TINY = "<<1e400>>", "<<1e-999999999>>"
HOSTILE_TEXT = ["\ud800", "nul\x00", "x" * 10_000, "\u202e", " "]

texts = st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE_TEXT))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=False), texts)
json_values = st.recursive(
    st.one_of(scalars, st.sampled_from([HUGE, TINY])),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


field_values = st.one_of(scalars, st.sampled_from(["41", "2024-02-30", "1990-02-03", "yes", HUGE, "NaN", ["a", "b"]]))
items = st.fixed_dictionaries(
    {},
    optional={
        "email": st.sampled_from(["ann@example.com", " ANN@Example.com", "bob@example.com", "not-an-email", "", 7]),
        "external_id": st.sampled_from(["C-1", "C-2", "", 5, None]),
        "phone": st.sampled_from(["+33612345678", "+1-555-0123", "555-0123", "0", "", 42, "+" + "1" * 45]),
        "first_name": st.one_of(texts, st.sampled_from(["x" * 151, 7])),
        "lang": st.sampled_from(["fr", "much-too-long-language"]),
        "status": st.sampled_from(["subscribed", "unsubscribed", "bounced", "maybe"]),
        "tags": st.one_of(
            st.lists(texts, max_size=4), st.just("vip"), st.just([f"t{n}" for n in range(201)]), st.just(["x" * 101])
        ),
        "properties": st.one_of(
            st.dictionaries(st.text(max_size=5), json_values, max_size=3),
            st.just({"deep": nested(25)}),
            st.just(["x"]),
        ),
        "fields": st.one_of(
            st.dictionaries(st.sampled_from(["age", "nick", "vip", "birthday", "nope"]), field_values, max_size=3),
            st.lists(
                st.fixed_dictionaries({"name": st.sampled_from(["age", "nick"]), "value": field_values}), max_size=2
            ),
            st.just("x"),
        ),
        "lists": st.one_of(
            st.lists(
                st.sampled_from(
                    [
                        {"name": "News"},
                        {"name": "News", "action": "unsubscribe"},
                        {"name": "DOI"},
                        {"name": "Nope"},
                        {"id": "abc"},
                        {"action": "unsubscribe"},
                    ]
                ),
                max_size=3,
            ),
            st.just("News"),
        ),
        "consent": st.sampled_from([{"source": "form"}, {"ip": "203.0.113.9"}, {"ip": "not an ip"}]),
    },
)


def body_text(value) -> str:
    return json.dumps(value).replace(f'"{HUGE}"', "1e400").replace(f'"{TINY}"', "1e-999999999")


def fresh_company():
    company = CompanyFactory()
    for name, kind in (("age", FieldType.NUMBER), ("nick", FieldType.TEXT), ("vip", FieldType.BOOLEAN)):
        services.custom_field_create(company=company, name=name, field_type=kind)
    services.custom_field_create(company=company, name="birthday", field_type=FieldType.DATE)
    services.contact_list_create(company=company, name="News", double_opt_in=False)
    services.contact_list_create(company=company, name="DOI", double_opt_in=True)
    return company, make_api_client(company)


def stored(company) -> list[tuple]:
    """Everything a write can change about the company's contacts, in creation order, without ids."""
    rows = []
    for contact in Contact.objects.for_company(company).order_by("pk").prefetch_related("field_values__field"):
        fields = {value.field.name: value.value for value in contact.field_values.all()}
        memberships = dict(
            ListMembership.objects.filter(contact=contact).values_list("contact_list__name", "status").order_by("pk")
        )
        rows.append(
            (
                contact.email,
                contact.external_id,
                contact.phone,
                contact.phone_valid,
                contact.first_name,
                contact.lang,
                contact.status,
                contact.tags,
                contact.properties,
                fields,
                memberships,
            )
        )
    return rows


def single_outcome(response) -> tuple:
    body = response.json()
    if response.status_code in (400, 409):
        return ("error", body["details"])
    assert response.status_code in (200, 201), response.content
    return ("created" if response.status_code == 201 else "updated", body.get("warnings", []))


def bulk_outcome(result: dict) -> tuple:
    if result["status"] == "error":
        return ("error", result["errors"])
    return (result["status"], result.get("warnings", []))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(items, min_size=1, max_size=4))
def test_bulk_stores_and_answers_exactly_what_single_upserts_do(batch):
    single_company, single_api = fresh_company()
    bulk_company, bulk_api = fresh_company()

    single = [
        single_outcome(single_api.post("/api/contacts", body_text(item), content_type="application/json"))
        for item in batch
    ]
    response = bulk_api.post("/api/contacts/bulk", body_text({"contacts": batch}), content_type="application/json")
    assert response.status_code == 200, response.content
    assert [bulk_outcome(result) for result in response.json()["results"]] == single
    assert stored(bulk_company) == stored(single_company)


# --- The repros, each through the bulk endpoint -----------------------------------------


def test_bulk_items_apply_their_lists_like_the_upsert(api, company):
    news = services.contact_list_create(company=company, name="News", double_opt_in=False)
    vip = services.contact_list_create(company=company, name="VIP", double_opt_in=False)
    contacts = [{"email": f"m{n}@example.com", "lists": [{"id": news.pk}, {"name": "VIP"}]} for n in range(300)]
    contacts.append({"email": "m0@example.com", "lists": [{"id": vip.pk, "action": "unsubscribe"}]})
    contacts.append({"email": "x@example.com", "lists": [{"name": "No such list"}]})
    body = api.post("/api/contacts/bulk", {"contacts": contacts}).json()
    assert (body["created"], body["updated"], body["failed"]) == (301, 1, 0)
    # An unknown list loses nothing else of the item: it is skipped with a warning naming it.
    assert body["results"][-1]["status"] == "created"
    warning = "lists[0]: no list with name 'No such list'; skipped (see GET /api/lists)."
    assert body["results"][-1]["warnings"] == [warning]
    assert ListMembership.objects.filter(contact_list=news, status="subscribed").count() == 300
    assert ListMembership.objects.filter(contact_list=vip, status="subscribed").count() == 299
    m0 = Contact.objects.for_company(company).get(email="m0@example.com")
    assert ListMembership.objects.get(contact_list=vip, contact=m0).status == "unsubscribed"


def test_bulk_refuses_what_the_upsert_refuses_per_item_and_quickly(api, company):
    services.custom_field_create(company=company, name="nick", field_type=FieldType.TEXT)
    contacts = [
        {"email": "deep@example.com", "properties": {"deep": nested(25)}},
        {"email": "tags@example.com", "tags": [f"t{n}" for n in range(40_000)]},
        {"email": "list@example.com", "fields": {"nick": ["a", "b"]}},
        {"email": "ok@example.com", "fields": {"nick": "Annie"}},
    ]
    started = time.monotonic()
    results = api.post("/api/contacts/bulk", {"contacts": contacts}).json()["results"]
    assert time.monotonic() - started < 5
    assert [(r["status"], sorted(r.get("errors", {}))) for r in results] == [
        ("error", ["properties"]),
        ("error", ["tags"]),
        ("error", ["fields.nick"]),
        ("created", []),
    ]
    for item in contacts[:3]:
        single = api.post("/api/contacts", item)
        assert single.status_code == 400 and sorted(single.json()["details"]) == sorted(
            results[contacts.index(item)]["errors"]
        )
    assert list(Contact.objects.for_company(company).values_list("email", flat=True)) == ["ok@example.com"]


@pytest.mark.parametrize("hostile", ['{"score": 1e400}', '{"name": "\\ud800"}', '{"n": 1e-999999999}'])
def test_one_hostile_item_never_sinks_the_batch(api, company, hostile):
    body = (
        '{"contacts": [{"email": "a@example.com"}, '
        f'{{"email": "b@example.com", "properties": {hostile}}}, {{"email": "c@example.com"}}]}}'
    )
    response = api.post("/api/contacts/bulk", body, content_type="application/json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "created"]
    assert all(key.startswith("properties") for key in results[1]["errors"])
    assert set(Contact.objects.for_company(company).values_list("email", flat=True)) == {
        "a@example.com",
        "c@example.com",
    }


def test_bulk_items_warn_about_an_unusable_phone_and_keep_it(api, company):
    results = api.post(
        "/api/contacts/bulk",
        {"contacts": [{"email": "a@example.com", "phone": "+1-555-0123"}, {"phone": "555-0123"}]},
    ).json()["results"]
    assert [r["status"] for r in results] == ["created", "created"]
    assert all(r["warnings"][0].startswith("phone:") for r in results)
    assert set(Contact.objects.for_company(company).values_list("phone", "phone_valid")) == {
        ("+1-555-0123", False),
        ("555-0123", False),
    }


def test_an_item_with_its_own_consent_is_resubscribed_like_the_upsert(api, company):
    ann = services.contact_upsert(company=company, data={"email": "ann@example.com"}).contact
    services.contact_unsubscribe_all(contact=ann)
    results = api.post(
        "/api/contacts/bulk",
        {
            "contacts": [
                {"email": "ann@example.com", "status": "subscribed", "consent": {"source": "signup form"}},
                {"email": "bob@example.com"},
            ]
        },
    ).json()["results"]
    assert "warnings" not in results[0]
    ann.refresh_from_db()
    assert ann.status == "subscribed"
    assert ann.consent_records.filter(action="subscribed", source="signup form").exists()
    bob = Contact.objects.for_company(company).get(email="bob@example.com")
    assert bob.consent_records.get().source == "api"
