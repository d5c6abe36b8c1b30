"""contacts.bulk: contact_upsert's rules, set-based, one result per item."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from contacts import services
from contacts.bulk import contacts_bulk_list_subscribe, contacts_bulk_upsert
from contacts.models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    ContactStatus,
    CustomFieldValue,
    FieldType,
    ListMembership,
    MembershipStatus,
    Suppression,
)
from contacts.services import ConsentContext
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


def bulk(company, items, **kwargs):
    return contacts_bulk_upsert(company=company, items=items, **kwargs)


def contact(company, email):
    return Contact.objects.for_company(company).get(email=email)


def tags_of(c):
    return sorted(c.tags)


def test_creates_then_updates_with_one_result_per_item(company):
    first = bulk(company, [{"email": " Ann@Example.COM ", "first_name": "Ann"}, {"email": "bob@example.com"}])
    assert [(r.index, r.status, r.errors) for r in first] == [(0, "created", None), (1, "created", None)]
    ann = contact(company, "ann@example.com")
    assert first[0].contact_id == ann.pk and ann.first_name == "Ann" and ann.status == ContactStatus.SUBSCRIBED

    second = bulk(company, [{"email": "ann@example.com", "last_name": "Lee"}, {"email": "cy@example.com"}])
    assert [r.status for r in second] == ["updated", "created"]
    assert second[0].contact_id == ann.pk
    ann.refresh_from_db()
    assert (ann.first_name, ann.last_name) == ("Ann", "Lee")
    assert Contact.objects.for_company(company).count() == 3


def test_merges_tags_and_properties_and_types_custom_fields(company):
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)
    bulk(
        company, [{"email": "a@example.com", "tags": ["vip"], "properties": {"a": 1, "b": 2}, "fields": {"age": "41"}}]
    )
    bulk(
        company,
        [
            {
                "email": "a@example.com",
                "tags": ["newsletter", " vip "],
                "properties": {"b": 3},
                "fields": [{"name": "age", "value": 42}],
            }
        ],
    )
    a = contact(company, "a@example.com")
    assert tags_of(a) == ["newsletter", "vip"]
    assert a.properties == {"a": 1, "b": 3}
    assert CustomFieldValue.objects.get(contact=a).number_value == 42


def test_bad_items_get_errors_naming_each_field_and_never_sink_the_good_ones(company):
    services.custom_field_create(company=company, name="birthday", field_type=FieldType.DATE)
    items = [
        {"email": "good@example.com"},
        {"email": "not-an-email", "phone": "+1-555-0123", "tags": "vip"},
        "not an object",
        {"first_name": "Nobody"},
        {"email": "long@example.com", "first_name": "x" * 151},
        {"email": "f@example.com", "fields": {"birthday": "someday", "shoe_size": 42}},
        {"email": "s@example.com", "status": "maybe", "properties": ["x"]},
        {"email": "n@example.com", "phone": 33612345678},
        {"email": "good2@example.com", "external_id": "1234"},
    ]
    results = bulk(company, items)
    assert [r.status for r in results] == [
        "created",
        "error",
        "error",
        "error",
        "error",
        "error",
        "error",
        "error",
        "created",
    ]
    errors = [sorted(r.errors) if r.errors else None for r in results]
    assert errors[1] == ["email", "tags"]  # the phone alone would be kept with a warning
    assert errors[2] == ["non_field_errors"]
    assert errors[3] == ["email"] and "external_id or a phone" in results[3].errors["email"][0]
    assert errors[4] == ["first_name"] and "150" in results[4].errors["first_name"][0]
    assert errors[5] == ["fields.birthday"]  # the unknown field is only a warning
    assert errors[6] == ["properties", "status"]
    assert errors[7] == ["phone"]
    assert all(r.contact_id is None for r in results if r.status == "error")
    emails = set(Contact.objects.for_company(company).values_list("email", flat=True))
    assert emails == {"good@example.com", "good2@example.com"}
    assert contact(company, "good2@example.com").external_id == "1234"


def test_same_email_twice_in_a_batch_the_later_item_updates_the_earlier(company):
    results = bulk(
        company,
        [
            {"email": "dup@example.com", "first_name": "First", "tags": ["a"], "properties": {"x": 1}},
            {"email": "DUP@example.com", "first_name": "Second", "tags": ["b"], "properties": {"y": 2}},
        ],
    )
    assert [r.status for r in results] == ["created", "updated"]
    assert results[0].contact_id == results[1].contact_id
    dup = contact(company, "dup@example.com")
    assert dup.first_name == "Second" and dup.properties == {"x": 1, "y": 2} and tags_of(dup) == ["a", "b"]
    assert Contact.objects.for_company(company).count() == 1
    # One consent record for the one new contact, as two sequential upserts would leave.
    assert list(ConsentRecord.objects.filter(contact=dup).values_list("action", flat=True)) == ["subscribed"]


def test_external_id_identifies_before_email_and_can_move_an_email(company):
    original = bulk(company, [{"email": "old@example.com", "external_id": "CUST-1"}])[0]
    results = bulk(
        company,
        [
            {"external_id": "CUST-1", "email": "new@example.com"},
            # old@ was freed by the item before: a new contact takes it.
            {"email": "old@example.com", "first_name": "Newcomer"},
        ],
    )
    assert [r.status for r in results] == ["updated", "created"]
    assert results[0].contact_id == original.contact_id
    assert contact(company, "new@example.com").external_id == "CUST-1"
    assert contact(company, "old@example.com").first_name == "Newcomer"


def test_an_email_taken_by_another_contact_is_an_error_for_that_item_only(company):
    bulk(company, [{"email": "a@example.com", "external_id": "A"}, {"email": "b@example.com", "external_id": "B"}])
    results = bulk(company, [{"external_id": "A", "email": "b@example.com"}, {"external_id": "B", "first_name": "Bea"}])
    assert results[0].status == "error" and list(results[0].errors) == ["email"]
    assert results[1].status == "updated"
    assert contact(company, "a@example.com").external_id == "A"
    assert contact(company, "b@example.com").first_name == "Bea"


def test_items_swapping_emails_are_applied_in_order(company):
    bulk(company, [{"email": "one@example.com", "external_id": "1"}, {"email": "two@example.com", "external_id": "2"}])
    results = bulk(
        company,
        [
            {"external_id": "1", "email": "spare@example.com"},
            {"external_id": "2", "email": "one@example.com"},
            {"external_id": "1", "email": "two@example.com"},
        ],
    )
    assert [r.status for r in results] == ["updated"] * 3
    assert contact(company, "one@example.com").external_id == "2"
    assert contact(company, "two@example.com").external_id == "1"
    assert not Contact.objects.filter(email="spare@example.com").exists()


def test_no_resubscribe_without_fresh_consent(company):
    bulk(company, [{"email": "u@example.com", "status": "unsubscribed"}])
    u = contact(company, "u@example.com")
    results = bulk(company, [{"email": "u@example.com", "status": "subscribed", "first_name": "U"}])
    assert results[0].status == "updated" and "consent" in results[0].warnings[0]
    u.refresh_from_db()
    assert u.status == ContactStatus.UNSUBSCRIBED and u.first_name == "U"
    assert ConsentRecord.objects.filter(contact=u, action=ConsentAction.RESUBSCRIBE_REFUSED).count() == 1

    fresh = ConsentContext(source="signup form", ip_address="198.51.100.4", fresh=True)
    assert bulk(company, [{"email": "u@example.com", "status": "subscribed"}], consent=fresh)[0].warnings == []
    u.refresh_from_db()
    assert u.status == ContactStatus.SUBSCRIBED
    record = ConsentRecord.objects.filter(contact=u, action=ConsentAction.SUBSCRIBED).first()
    assert (record.source, record.ip_address) == ("signup form", "198.51.100.4")


def test_blacklisted_address_is_created_unsubscribed_and_only_fresh_consent_lifts_it(company):
    services.suppression_add(company=company, email="spam@example.com", reason="complaint")
    results = bulk(company, [{"email": "Spam@example.com"}])
    assert results[0].status == "created" and "blacklisted" in results[0].warnings[0]
    spam = contact(company, "spam@example.com")
    assert spam.status == ContactStatus.UNSUBSCRIBED
    assert not Contact.objects.for_company(company).mailable().exists()

    fresh = ConsentContext(source="double opt-in", fresh=True)
    bulk(company, [{"email": "spam@example.com", "status": "subscribed"}], consent=fresh)
    spam.refresh_from_db()
    assert spam.status == ContactStatus.SUBSCRIBED
    assert not Suppression.objects.for_company(company).exists()
    actions = list(ConsentRecord.objects.filter(contact=spam).order_by("id").values_list("action", flat=True))
    assert actions == ["unblacklisted", "subscribed"]


def test_another_company_with_the_same_email_is_never_touched(company, other_company):
    mine = bulk(company, [{"email": "same@example.com", "first_name": "Mine", "external_id": "X", "tags": ["a"]}])[0]
    theirs = bulk(
        other_company,
        [{"email": "same@example.com", "first_name": "Theirs", "external_id": "X", "status": "unsubscribed"}],
    )[0]
    assert theirs.status == "created" and theirs.contact_id != mine.contact_id
    a = Contact.objects.get(pk=mine.contact_id)
    assert (a.company_id, a.first_name, a.status, tags_of(a)) == (company.pk, "Mine", "subscribed", ["a"])
    assert Contact.objects.get(pk=theirs.contact_id).company_id == other_company.pk


def test_query_count_does_not_grow_with_the_batch(company):
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)

    def batch(size, offset):
        return [
            {"email": f"c{offset + n}@example.com", "tags": ["t"], "fields": {"age": n}, "first_name": "Q"}
            for n in range(size)
        ]

    counts = []
    # 60 items stay under SQLite's 999 parameters per statement, past which Django splits a bulk write.
    for size, offset in ((5, 0), (60 if connection.vendor == "sqlite" else 1000, 1000)):
        bulk(company, batch(size, offset))  # creates
        with CaptureQueriesContext(connection) as queries:
            results = bulk(company, [{**item, "first_name": "R"} for item in batch(size, offset)])  # updates
        assert {r.status for r in results} == {"updated"}
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 8


def _state(company):
    """Everything an upsert can change, comparable across companies."""
    rows = []
    for c in Contact.objects.for_company(company).order_by("email", "external_id", "phone"):
        rows.append(
            (
                c.email,
                c.external_id,
                c.phone,
                c.first_name,
                c.last_name,
                c.status,
                c.properties,
                tags_of(c),
                sorted((v.field.name, str(v.value)) for v in c.field_values.all()),
                list(c.consent_records.order_by("id").values_list("action", flat=True)),
            )
        )
    return rows


def _setup(company):
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)
    services.contact_upsert(company=company, data={"email": "existing@example.com", "first_name": "Old"})
    services.suppression_add(company=company, email="blocked@example.com")


MIXED = [
    {
        "email": " Ann@Example.com ",
        "first_name": "Ann",
        "tags": ["vip"],
        "properties": {"a": 1},
        "fields": {"age": "41"},
    },
    {"email": "bob@example.com", "external_id": "B-1", "phone": "0033612345678", "status": "unsubscribed"},
    {"email": "not-an-email"},
    {"external_id": "B-1", "email": "bob@new.example.com", "tags": ["moved"]},
    {"email": "ann@example.com", "last_name": "Lee", "tags": ["newsletter"], "properties": {"b": 2}},
    {"email": "bob@new.example.com", "status": "subscribed"},
    {"email": "blocked@example.com", "first_name": "Blocked"},
    {"phone": "+33698765432", "first_name": "Phone only"},
    {"email": "existing@example.com", "first_name": "Updated", "fields": [{"name": "age", "value": 7}]},
    {"email": "x@example.com", "fields": {"age": "old"}},
    {"email": "ann@example.com", "status": "bounced"},
]


def test_bulk_matches_sequential_contact_upsert_on_a_mixed_batch(company, other_company):
    _setup(company)
    _setup(other_company)
    sequential = []
    for item in MIXED:
        try:
            result = services.contact_upsert(company=company, data=item)
        except ValidationError as exc:
            sequential.append(("error", sorted(exc.message_dict), []))
        else:
            sequential.append(("created" if result.created else "updated", [], result.warnings))
    bulk_results = bulk(other_company, MIXED)
    assert [(r.status, sorted(r.errors or {}), r.warnings) for r in bulk_results] == sequential
    assert _state(other_company) == _state(company)


def test_bulk_list_subscribe_respects_unsubscribes_and_double_opt_in(company, other_company):
    results = bulk(company, [{"email": f"m{n}@example.com"} for n in range(3)])
    ids = [r.contact_id for r in results]
    weekly = services.contact_list_create(company=company, name="Weekly", double_opt_in=False)
    services.list_subscribe(contact=Contact.objects.get(pk=ids[0]), contact_list=weekly)
    services.list_unsubscribe(contact=Contact.objects.get(pk=ids[0]), contact_list=weekly)
    foreign = bulk(other_company, [{"email": "m0@example.com"}])[0].contact_id

    warnings = contacts_bulk_list_subscribe(contact_list=weekly, contact_ids=[*ids, foreign])
    assert list(warnings) == [ids[0]]
    statuses = dict(ListMembership.objects.filter(contact_list=weekly).values_list("contact_id", "status"))
    assert statuses == {ids[0]: "unsubscribed", ids[1]: "subscribed", ids[2]: "subscribed"}
    assert ConsentRecord.objects.filter(contact_id=ids[0], action=ConsentAction.RESUBSCRIBE_REFUSED).exists()
    # Idempotent: subscribing members again changes nothing and records nothing.
    before = ConsentRecord.objects.count()
    contacts_bulk_list_subscribe(contact_list=weekly, contact_ids=ids[1:])
    assert ConsentRecord.objects.count() == before
    # Fresh consent brings the one who left back.
    fresh = ConsentContext(source="signup form", fresh=True)
    assert contacts_bulk_list_subscribe(contact_list=weekly, contact_ids=[ids[0]], consent=fresh) == {}
    back = ListMembership.objects.get(contact_list=weekly, contact_id=ids[0])
    assert back.status == "subscribed" and back.subscribed_at and back.unsubscribed_at is None
    assert ConsentRecord.objects.filter(contact_id=ids[0], action="subscribed", source="signup form").exists()


@pytest.mark.django_db(transaction=True)
def test_bulk_list_subscribe_to_a_double_opt_in_list_leaves_members_pending(company):
    ids = [r.contact_id for r in bulk(company, [{"email": "p@example.com"}])]
    confirmed = services.contact_list_create(company=company, name="Confirmed", double_opt_in=True)
    contacts_bulk_list_subscribe(contact_list=confirmed, contact_ids=ids)
    membership = ListMembership.objects.get(contact_list=confirmed)
    assert membership.status == MembershipStatus.PENDING and membership.subscribed_at is None
    assert ConsentRecord.objects.get(contact_list=confirmed).note == "pending confirmation"


def run_at_once(*targets):
    """Each target in a thread of its own (with its own database connection), until all end."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_creating_the_same_emails_do_not_fail():
    """The second batch's INSERT waits on the first's uncommitted rows, then hits the unique key:
    it re-reads the batch and updates the rows the first one created."""
    company = CompanyFactory(name="Race Co")
    items = [{"email": f"race{n}@example.com", "first_name": "A"} for n in range(50)]
    inserted, outcome = threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                outcome["first"] = bulk(company, items)
                inserted.set()
                threading.Event().wait(0.5)  # hold the new rows uncommitted while the second batch runs
        finally:
            inserted.set()
            connection.close()

    def second():
        inserted.wait(10)
        try:
            outcome["second"] = bulk(company, [{**item, "first_name": "B"} for item in items])
        finally:
            connection.close()

    run_at_once(first, second)
    assert {r.status for r in outcome["first"]} == {"created"}
    assert {r.status for r in outcome["second"]} == {"updated"}
    assert [r.contact_id for r in outcome["second"]] == [r.contact_id for r in outcome["first"]]
    assert set(Contact.objects.for_company(company).values_list("first_name", flat=True)) == {"B"}
    assert Contact.objects.for_company(company).count() == 50


def _merge_with_bulk(company, loaded):
    bulk(company, [{"email": loaded.email, "properties": {"second": 2}, "tags": ["second"]}])


def _merge_with_upsert(company, loaded):
    data = {"email": loaded.email, "properties": {"second": 2}, "tags": ["second"]}
    services.contact_upsert(company=company, data=data)


def _merge_with_patch(company, loaded):
    # A PATCH of the contact as the view loaded it, before the first batch committed.
    services.contact_update(contact=loaded, data={"properties": {"second": 2}})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second_writer", [_merge_with_bulk, _merge_with_upsert, _merge_with_patch])
def test_a_merge_waits_for_a_concurrent_batch_on_the_same_contact_and_keeps_its_changes(second_writer):
    """Properties and tags are merged in Python: without the lookup's row lock the second writer
    would merge into the row as it was before the first batch and drop the first batch's keys."""
    company = CompanyFactory(name="Merge Race Co")
    bulk(company, [{"email": "merge@example.com", "properties": {"kept": 0}, "tags": ["kept"]}])
    loaded = contact(company, "merge@example.com")
    first_done, locked, outcome = threading.Event(), threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                bulk(company, [{"email": "merge@example.com", "properties": {"first": 1}, "tags": ["first"]}])
                locked.set()
                threading.Event().wait(0.5)  # hold the row while the second writer runs
                first_done.set()
        finally:
            locked.set()
            connection.close()

    def second():
        locked.wait(10)
        try:
            second_writer(company, loaded)
            outcome["waited"] = first_done.is_set()
        finally:
            connection.close()

    run_at_once(first, second)
    merged = contact(company, "merge@example.com")
    assert outcome["waited"] is True  # the second writer finished only after the first committed
    assert merged.properties == {"kept": 0, "first": 1, "second": 2}
    expected_tags = {"kept", "first", "second"} if second_writer is not _merge_with_patch else {"kept", "first"}
    assert set(merged.tags) == expected_tags


@pytest.mark.postgres
def test_the_lookup_of_existing_contacts_can_use_the_unique_indexes(company):
    """The unique indexes on email and external_id are partial; without their conditions in the
    lookup PostgreSQL cannot use them for a batch and scans all the company's contacts (200 ms a
    batch at a million contacts). The plan is checked with every other index out of the way (in
    this test's transaction), since on a test-sized table any plan is cheap."""
    # Nothing proves `email = v.email` implies `email <> ''`: the lookup must say so itself.
    from contacts.bulk_sql import LOOKUP_CONTACTS
    from salloq.core.db import binary_cursor

    items = [{"email": f"c{n}@example.com", "external_id": f"C{n}"} for n in range(150)]
    bulk(company, items)
    with CaptureQueriesContext(connection) as queries:
        results = bulk(company, items)
    assert {r.status for r in results} == {"updated"}
    assert sum(q["sql"].lstrip().startswith("SELECT c.id, c.email") for q in queries) == 1  # the lookup ran, once
    with binary_cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'contacts_contact'"
            " AND indexname NOT IN ('contact_unique_email_per_company', 'contact_unique_external_id_per_company',"
            " 'contacts_contact_pkey')"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        emails, external_ids = [i["email"] for i in items], [i["external_id"] for i in items]
        cursor.execute(f"EXPLAIN {LOOKUP_CONTACTS}", [emails, company.pk, external_ids, company.pk])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "contact_unique_email_per_company" in plan and "contact_unique_external_id_per_company" in plan, plan


def test_nul_character_in_properties_fails_only_that_item(company):
    from contacts.bulk import contacts_bulk_upsert

    nul_properties = [{"k": "x\u0000"}, {"k\u0000": 1}, {"k": [1, {"deep": ["\u0000"]}]}]
    results = contacts_bulk_upsert(
        company=company,
        items=[
            {"email": "ok@example.com", "properties": {"k": "\\u0000 is text", "n": [None, 1.5, True]}},
            *[{"email": f"nul{n}@example.com", "properties": p} for n, p in enumerate(nul_properties)],
        ],
    )
    assert [r.status for r in results] == ["created", "error", "error", "error"]
    assert all(list(r.errors) == ["properties"] for r in results[1:])
    assert all("must not contain NUL characters" in r.errors["properties"][0] for r in results[1:])
    assert Contact.objects.get(email="ok@example.com").properties == {"k": "\\u0000 is text", "n": [None, 1.5, True]}
