"""Bulk actions from the contact list: tag, untag, add to list, unsubscribe, export, erase; small
selections inline, large ones in a Celery worker with a progress page."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts import bulk_actions, services, tasks
from contacts.models import (
    BulkActionStatus,
    ConsentAction,
    ConsentRecord,
    Contact,
    ContactBulkAction,
    ContactStatus,
    ListMembership,
    MembershipStatus,
    Suppression,
)
from salloq.core.models import Role
from tests.conftest import html, log_in
from tests.factories import ContactFactory


def many(company, count, prefix="bulk", **fields):
    """`count` contacts written in one statement (the service is not what is under test here)."""
    Contact.objects.bulk_create(
        [Contact(company=company, email=f"{prefix}{n}@example.com", **fields) for n in range(count)]
    )


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


# --- Inline (small) ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_tag_the_ticked_contacts(client, company):
    log_in(client, company, Role.MARKETER)
    ada, bob, cy = (
        ContactFactory(company=company, email="ada@example.com", tags=["old"]),
        ContactFactory(company=company, email="bob@example.com"),
        ContactFactory(company=company, email="cy@x.io"),
    )

    response = client.post(
        "/contacts/bulk/",
        {"action": "tag", "tags": "vip, summer", "contact_ids": [ada.pk, bob.pk]},
        follow=True,
    )

    assert "Add tags vip, summer: 2 of 2 contacts changed." in messages_of(response)
    ada.refresh_from_db(), bob.refresh_from_db(), cy.refresh_from_db()
    assert ada.tags == ["old", "vip", "summer"]
    assert bob.tags == ["vip", "summer"]
    assert cy.tags == []
    action = ContactBulkAction.objects.get()
    assert (action.status, action.processed, action.changed) == (BulkActionStatus.DONE, 2, 2)


@pytest.mark.django_db
def test_untag_every_contact_matching_the_filter_and_return_to_the_filtered_list(client, company):
    log_in(client, company, Role.MARKETER)
    tagged = [ContactFactory(company=company, email=f"t{n}@example.com", tags=["promo", "keep"]) for n in range(3)]
    other = ContactFactory(company=company, email="other@example.com", tags=["keep"])

    response = client.post(
        "/contacts/bulk/",
        {"action": "untag", "tags": "promo", "all": "1", "filter_tag": "promo", "sort": "email"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/contacts/?tag=promo&sort=email"
    for contact in tagged:
        contact.refresh_from_db()
        assert contact.tags == ["keep"]
    other.refresh_from_db()
    assert other.tags == ["keep"]
    assert ContactBulkAction.objects.get().changed == 3


@pytest.mark.django_db
def test_add_to_a_double_opt_in_list_leaves_members_pending_and_says_who_refused(client, company):
    log_in(client, company, Role.MARKETER)
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=True)
    fresh = ContactFactory(company=company, email="fresh@example.com")
    left = ContactFactory(company=company, email="left@example.com")
    ListMembership.objects.create(contact_list=newsletter, contact=left, status=MembershipStatus.UNSUBSCRIBED)

    response = client.post(
        "/contacts/bulk/",
        {"action": "add_to_list", "target_list": newsletter.pk, "contact_ids": [fresh.pk, left.pk]},
        follow=True,
    )

    text = messages_of(response)
    assert "Add to Newsletter: 1 of 2 contacts changed." in text
    assert "left@example.com: lists: the contact unsubscribed from 'Newsletter'" in text
    statuses = dict(ListMembership.objects.filter(contact_list=newsletter).values_list("contact_id", "status"))
    assert statuses == {fresh.pk: MembershipStatus.PENDING, left.pk: MembershipStatus.UNSUBSCRIBED}


@pytest.mark.django_db
def test_add_to_list_says_how_many_added_contacts_will_not_be_mailed_and_why(client, company):
    log_in(client, company, Role.MARKETER)
    newsletter = services.contact_list_create(company=company, name="Newsletter")
    fine = ContactFactory(company=company, email="fine@example.com")
    blacklisted = [ContactFactory(company=company, email=f"spam{n}@example.com") for n in range(2)]
    Suppression.objects.bulk_create([Suppression(company=company, email=c.email) for c in blacklisted])
    bounced = ContactFactory(company=company, email="gone@example.com", status=ContactStatus.BOUNCED)
    unsubscribed = ContactFactory(company=company, email="out@example.com", status=ContactStatus.UNSUBSCRIBED)
    left = ContactFactory(company=company, email="left@example.com", status=ContactStatus.UNSUBSCRIBED)
    ListMembership.objects.create(contact_list=newsletter, contact=left, status=MembershipStatus.UNSUBSCRIBED)
    selected = [fine, *blacklisted, bounced, unsubscribed, left]

    response = client.post(
        "/contacts/bulk/",
        {"action": "add_to_list", "target_list": newsletter.pk, "contact_ids": [c.pk for c in selected]},
        follow=True,
    )

    text = messages_of(response)
    assert "Add to Newsletter: 5 of 6 contacts changed." in text
    assert (
        "4 of these contacts are on Newsletter but will not be mailed: 2 because the address is on the "
        "blacklist, 1 because the address bounced, 1 because the contact unsubscribed."
    ) in text
    assert "left@example.com: lists: the contact unsubscribed from 'Newsletter'" in text  # not counted again
    action = ContactBulkAction.objects.get()
    assert action.not_mailed == {"blacklisted": 2, "bounced": 1, "unsubscribed": 1}


@pytest.mark.django_db
def test_add_to_list_says_nothing_more_when_every_added_contact_can_be_mailed(client, company):
    log_in(client, company, Role.MARKETER)
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=True)
    people = [ContactFactory(company=company, email=f"p{n}@example.com") for n in range(2)]

    response = client.post(
        "/contacts/bulk/",
        {"action": "add_to_list", "target_list": newsletter.pk, "contact_ids": [c.pk for c in people]},
        follow=True,
    )

    assert "will not be mailed" not in messages_of(response)  # pending confirmation is on its way
    assert ContactBulkAction.objects.get().not_mailed == {}


@pytest.mark.django_db
def test_a_large_add_to_list_counts_the_unmailable_across_chunks_with_one_query_per_chunk(client, company, monkeypatch):
    monkeypatch.setattr(bulk_actions, "CHUNK_SIZE", 4)
    newsletter = services.contact_list_create(company=company, name="Newsletter")
    many(company, 6, prefix="ok")
    many(company, 5, prefix="bounced", status=ContactStatus.BOUNCED)
    many(company, 3, prefix="spam")
    Suppression.objects.bulk_create([Suppression(company=company, email=f"spam{n}@example.com") for n in range(3)])
    selection = bulk_actions.Selection(contact_ids=None, filters={})
    action = bulk_actions.contact_bulk_action_create(
        company=company, action="add_to_list", selection=selection, contact_list=newsletter
    )

    with CaptureQueriesContext(connection) as queries:
        bulk_actions.contact_bulk_action_run(bulk_action_id=action.pk)

    action.refresh_from_db()
    assert (action.status, action.processed) == ("done", 14)
    assert action.not_mailed == {"bounced": 5, "blacklisted": 3}
    counting = [q for q in queries if "contacts_suppression" in q["sql"]]
    assert len(counting) == 4  # 14 contacts in chunks of 4
    log_in(client, company, Role.MARKETER)
    page = html(client.get(f"/contacts/bulk/{action.pk}/"))
    assert (
        "8 of these contacts are on Newsletter but will not be mailed: 3 because the address is on the "
        "blacklist, 5 because the address bounced."
    ) in page


@pytest.mark.django_db
def test_unsubscribe_records_consent_once_per_contact_it_changes(client, company):
    log_in(client, company, Role.MARKETER)
    newsletter = services.contact_list_create(company=company, name="Newsletter")
    member = ContactFactory(company=company, email="member@example.com", lists=[{"id": newsletter.pk}])
    already = ContactFactory(company=company, email="already@example.com", status="unsubscribed")

    client.post("/contacts/bulk/", {"action": "unsubscribe", "contact_ids": [member.pk, already.pk]})

    member.refresh_from_db()
    assert member.status == ContactStatus.UNSUBSCRIBED
    assert ListMembership.objects.get(contact=member).status == MembershipStatus.UNSUBSCRIBED
    records = ConsentRecord.objects.filter(action=ConsentAction.UNSUBSCRIBED, note="all lists")
    assert list(records.values_list("contact_id", flat=True)) == [member.pk]
    assert records.get().source == f"dashboard bulk action {ContactBulkAction.objects.get().pk}"


@pytest.mark.django_db
def test_export_streams_the_selection_as_csv(client, company):
    log_in(client, company, Role.MARKETER)
    ContactFactory(company=company, email="in1@example.com", tags=["x"])
    ContactFactory(company=company, email="in2@example.com", tags=["x"])
    ContactFactory(company=company, email="out@example.com")

    response = client.post("/contacts/bulk/", {"action": "export", "all": "1", "filter_tag": "x"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(row["email"] for row in rows) == ["in1@example.com", "in2@example.com"]
    assert not ContactBulkAction.objects.exists()


@pytest.mark.django_db
def test_erase_asks_for_a_confirmation_stating_the_count_first(client, company):
    log_in(client, company, Role.MARKETER)
    doomed = [ContactFactory(company=company, email=f"gone{n}@example.com", tags=["gdpr"]) for n in range(3)]
    kept = ContactFactory(company=company, email="kept@example.com")

    response = client.post("/contacts/bulk/", {"action": "erase", "all": "1", "filter_tag": "gdpr"})

    assert response.status_code == 200
    page = html(response)
    assert "Erase 3 contacts?" in page
    assert 'name="confirmed_count" value="3"' in page
    assert Contact.objects.filter(erased_at__isnull=False).count() == 0

    response = client.post(
        "/contacts/bulk/", {"action": "erase", "all": "1", "filter_tag": "gdpr", "confirmed_count": "3"}, follow=True
    )

    assert "Erase: 3 of 3 contacts changed." in messages_of(response)
    assert {c.pk for c in Contact.objects.filter(erased_at__isnull=False)} == {c.pk for c in doomed}
    kept.refresh_from_db()
    assert kept.erased_at is None


@pytest.mark.django_db
def test_erase_with_a_count_that_no_longer_matches_asks_again(client, company):
    log_in(client, company, Role.MARKETER)
    for n in range(2):
        ContactFactory(company=company, email=f"gone{n}@example.com", tags=["gdpr"])
    ContactFactory(company=company, email="late@example.com", tags=["gdpr"])  # joined the filter after the page said 2

    response = client.post(
        "/contacts/bulk/", {"action": "erase", "all": "1", "filter_tag": "gdpr", "confirmed_count": "2"}
    )

    assert response.status_code == 200
    assert "it now holds 3 contacts" in html(response)
    assert not Contact.objects.filter(erased_at__isnull=False).exists()


@pytest.mark.django_db
def test_viewers_cannot_run_bulk_actions(client, company):
    log_in(client, company, Role.VIEWER)
    contact = ContactFactory(company=company, email="ada@example.com")

    response = client.post("/contacts/bulk/", {"action": "tag", "tags": "vip", "contact_ids": [contact.pk]})

    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.tags == []


@pytest.mark.django_db
def test_another_companys_ids_are_ignored(client, company, other_company):
    log_in(client, company, Role.MARKETER)
    mine = ContactFactory(company=company, email="mine@example.com")
    theirs = ContactFactory(company=other_company, email="theirs@example.com")

    client.post("/contacts/bulk/", {"action": "tag", "tags": "vip", "contact_ids": [mine.pk, theirs.pk]})

    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.tags == ["vip"]
    assert theirs.tags == []
    assert ContactBulkAction.objects.get().total == 1


@pytest.mark.django_db
def test_only_another_companys_ids_select_nothing(client, company, other_company):
    log_in(client, company, Role.MARKETER)
    theirs = ContactFactory(company=other_company, email="theirs@example.com")

    response = client.post(
        "/contacts/bulk/", {"action": "erase", "contact_ids": [theirs.pk], "confirmed_count": "1"}, follow=True
    )

    assert "No contact is selected" in messages_of(response)
    theirs.refresh_from_db()
    assert theirs.erased_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "tag", "contact_ids": ["1"]}, "Enter the tags"),
        ({"action": "add_to_list", "contact_ids": ["1"], "target_list": "999999"}, "Choose a list."),
        ({"action": "explode", "contact_ids": ["1"]}, "Choose an action."),
        ({"action": "tag", "tags": "x"}, "Tick at least one contact"),
        ({"action": "tag", "tags": "x", "contact_ids": ["1e400"]}, "not a contact id"),
        ({"action": "tag", "tags": "x", "all": "1", "filter_list_id": "1.5"}, "The filters cannot be used"),
    ],
)
def test_bad_bulk_input_is_a_clear_message(client, company, data, message):
    log_in(client, company, Role.MARKETER)
    contact = ContactFactory(company=company, email="ada@example.com")
    data = {k: [str(contact.pk)] if v == ["1"] else v for k, v in data.items()}

    response = client.post("/contacts/bulk/", data, follow=True)

    assert response.status_code == 200
    assert message in messages_of(response)
    assert not ContactBulkAction.objects.exists()


@pytest.mark.django_db
def test_contact_list_offers_checkboxes_and_select_all_with_the_match_count(client, company):
    log_in(client, company, Role.MARKETER)
    contact = ContactFactory(company=company, email="ada@example.com", tags=["vip"])
    ContactFactory(company=company, email="bob@example.com")

    page = html(client.get("/contacts/", {"tag": "vip"}))

    assert f'name="contact_ids" value="{contact.pk}" form="bulk-form"' in page
    assert "All 1 contact matching the filters" in page
    assert '<input type="hidden" name="filter_tag" value="vip">' in page


@pytest.mark.django_db
def test_viewer_sees_no_bulk_form(client, company):
    log_in(client, company, Role.VIEWER)
    ContactFactory(company=company, email="ada@example.com")

    page = html(client.get("/contacts/"))

    assert 'id="bulk-form"' not in page
    assert 'name="contact_ids"' not in page


# --- In a worker (large) -----------------------------------------------------------------------


def test_a_large_selection_runs_in_the_worker_with_a_progress_page(
    client, company, celery_worker_thread, finished_tasks
):
    log_in(client, company, Role.MARKETER)
    many(company, bulk_actions.INLINE_LIMIT + 1, tags=["old"])
    ContactFactory(company=company, email="not-selected@example.com")

    response = client.post("/contacts/bulk/", {"action": "tag", "tags": "big", "all": "1", "filter_search": "bulk"})

    action = ContactBulkAction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/contacts/bulk/{action.pk}/"
    assert action.total == bulk_actions.INLINE_LIMIT + 1
    finished_tasks.wait_for("contacts.tasks.run_contact_bulk_action")

    action.refresh_from_db()
    assert (action.status, action.processed, action.changed) == ("done", 501, 501)
    assert Contact.objects.filter(tags=["old", "big"]).count() == 501
    assert Contact.objects.get(email="not-selected@example.com").tags == []
    page = html(client.get(f"/contacts/bulk/{action.pk}/"))
    assert "100%" in page and 'hx-trigger="every 1s"' not in page  # finished: polling stops


@pytest.mark.django_db
def test_progress_partial_polls_while_running(client, company):
    log_in(client, company, Role.MARKETER)
    action = ContactBulkAction.objects.create(
        company=company, action="tag", tags=["x"], filters={}, total=1000, processed=250, status="running"
    )

    response = client.get(f"/contacts/bulk/{action.pk}/", HTTP_HX_REQUEST="true")

    page = html(response)
    assert "<html" not in page
    assert 'hx-trigger="every 1s"' in page
    assert "25%" in page and "250</span> of 1000" in page


@pytest.mark.django_db
def test_progress_page_of_another_company_is_404(client, company, other_company):
    log_in(client, company, Role.MARKETER)
    action = ContactBulkAction.objects.create(company=other_company, action="tag", tags=["x"], total=1)

    assert client.get(f"/contacts/bulk/{action.pk}/").status_code == 404


@pytest.mark.django_db
def test_run_resumes_after_its_last_chunk_and_a_second_run_does_nothing(company, monkeypatch):
    monkeypatch.setattr(bulk_actions, "CHUNK_SIZE", 2)
    many(company, 5)
    ids = sorted(Contact.objects.values_list("pk", flat=True))
    selection = bulk_actions.Selection(contact_ids=None, filters={})
    action = bulk_actions.contact_bulk_action_create(company=company, action="tag", selection=selection, tags=["t"])
    # A previous run committed the first chunk and died.
    ContactBulkAction.objects.filter(pk=action.pk).update(last_contact_id=ids[1], processed=2, changed=2)
    Contact.objects.filter(pk__in=ids[:2]).update(tags=["t"])

    bulk_actions.contact_bulk_action_run(bulk_action_id=action.pk)
    bulk_actions.contact_bulk_action_run(bulk_action_id=action.pk)  # finds it done: claims nothing

    action.refresh_from_db()
    assert (action.status, action.processed, action.changed) == ("done", 5, 5)
    assert list(Contact.objects.values_list("tags", flat=True)) == [["t"]] * 5


@pytest.mark.django_db
def test_contacts_added_after_the_request_are_not_swept_in(company):
    many(company, 3)
    selection = bulk_actions.Selection(contact_ids=None, filters={})
    action = bulk_actions.contact_bulk_action_create(company=company, action="erase", selection=selection)
    late = ContactFactory(company=company, email="late@example.com")

    bulk_actions.contact_bulk_action_run(bulk_action_id=action.pk)

    late.refresh_from_db()
    assert late.erased_at is None
    assert Contact.objects.filter(erased_at__isnull=False).count() == 3


@pytest.mark.django_db
def test_command_shows_progress(company, capsys):
    ContactBulkAction.objects.create(company=company, action="tag", tags=["x"], total=400, processed=100)

    call_command("contact_bulk_actions")

    out = capsys.readouterr().out
    assert "tag" in out and "100/400" in out and "25%" in out and company.name in out


def test_beat_resumes_an_action_whose_worker_died(company, celery_worker_thread, finished_tasks):
    many(company, 3)
    selection = bulk_actions.Selection(contact_ids=None, filters={})
    action = bulk_actions.contact_bulk_action_create(company=company, action="tag", selection=selection, tags=["t"])
    stale = timezone.now() - bulk_actions.STALLED_AFTER - timedelta(seconds=1)
    ContactBulkAction.objects.filter(pk=action.pk).update(status="running", heartbeat_at=stale)
    fresh = bulk_actions.contact_bulk_action_create(company=company, action="tag", selection=selection, tags=["u"])
    ContactBulkAction.objects.filter(pk=fresh.pk).update(status="running", heartbeat_at=timezone.now())

    assert bulk_actions.stalled_bulk_actions() == [action.pk]
    tasks.resume_stalled_bulk_actions.delay()
    finished_tasks.wait_for("contacts.tasks.run_contact_bulk_action")

    action.refresh_from_db(), fresh.refresh_from_db()
    assert (action.status, action.processed) == ("done", 3)
    assert fresh.status == "running"  # its worker is alive: left alone
    assert list(Contact.objects.values_list("tags", flat=True)) == [["t"]] * 3
