"""Lists: export button, and resending the confirmation email to a double opt-in list's pending
members (one batched task, not the same member twice within the resend interval)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts import bulk_actions, services
from contacts.models import ContactStatus, ListMembership, MembershipStatus, Suppression
from salloq.core.models import Role
from tests.conftest import html, log_in
from tests.factories import ContactFactory, ListMembershipFactory


def pending_member(contact_list, email, sent_ago: timedelta | None, **data):
    contact = ContactFactory(company=contact_list.company, email=email, **data)
    sent_at = None if sent_ago is None else timezone.now() - sent_ago
    return ListMembershipFactory(
        contact_list=contact_list, contact=contact, status=MembershipStatus.PENDING, confirmation_sent_at=sent_at
    )


def test_resend_sends_to_pending_members_not_recently_sent(
    client, company, smtp_sink, celery_worker_thread, finished_tasks
):
    log_in(client, company, Role.MARKETER)
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=True)
    old = pending_member(newsletter, "old@example.com", timedelta(days=2))
    never = pending_member(newsletter, "never@example.com", None)
    pending_member(newsletter, "recent@example.com", timedelta(minutes=5))
    pending_member(newsletter, "gone@example.com", timedelta(days=2), status=ContactStatus.UNSUBSCRIBED)
    blocked = pending_member(newsletter, "blocked@example.com", timedelta(days=2))
    Suppression.objects.create(company=company, email=blocked.contact.email)
    confirmed = pending_member(newsletter, "done@example.com", timedelta(days=2))
    ListMembership.objects.filter(pk=confirmed.pk).update(status=MembershipStatus.SUBSCRIBED)

    response = client.post(f"/contacts/lists/{newsletter.pk}/resend-confirmations/", follow=True)

    text = html(response)
    assert "Queued 2 confirmation emails to the pending members of Newsletter." in text
    assert "1 member was sent one in the last 30 minutes" in text
    assert "2 pending members cannot be mailed" in text
    finished_tasks.wait_for("contacts.tasks.send_double_opt_in_confirmations")
    messages = smtp_sink.wait_for(2)
    assert sorted(m["To"] for m in messages) == ["never@example.com", "old@example.com"]
    assert all("confirm your subscription to Newsletter" in m["Subject"] for m in messages)
    for membership in (old, never):
        membership.refresh_from_db()
        assert membership.confirmation_sent_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.django_db
def test_a_second_resend_at_once_queues_nothing(company, django_capture_on_commit_callbacks):
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=True)
    pending_member(newsletter, "old@example.com", timedelta(days=2))
    with django_capture_on_commit_callbacks() as callbacks:
        first = bulk_actions.list_confirmations_resend(contact_list=newsletter)
    assert (first.queued, len(callbacks)) == (1, 1)  # one task for the whole list
    ListMembership.objects.update(confirmation_sent_at=timezone.now())  # as the task does

    with django_capture_on_commit_callbacks() as callbacks:
        second = bulk_actions.list_confirmations_resend(contact_list=newsletter)

    assert (second.queued, second.recently_sent, len(callbacks)) == (0, 1, 0)


@pytest.mark.django_db
def test_resend_on_a_single_opt_in_list_is_refused_with_a_message(client, company):
    log_in(client, company, Role.MARKETER)
    plain = services.contact_list_create(company=company, name="Plain", double_opt_in=False)

    response = client.post(f"/contacts/lists/{plain.pk}/resend-confirmations/", follow=True)

    assert "does not ask new members to confirm" in html(response)


@pytest.mark.django_db
def test_resend_is_for_marketers_of_the_company(client, company, other_company):
    theirs = services.contact_list_create(company=other_company, name="Theirs", double_opt_in=True)
    mine = services.contact_list_create(company=company, name="Mine", double_opt_in=True)
    member = pending_member(mine, "old@example.com", timedelta(days=2))
    log_in(client, company, Role.MARKETER)
    assert client.post(f"/contacts/lists/{theirs.pk}/resend-confirmations/").status_code == 404

    log_in(client, company, Role.VIEWER)
    assert client.post(f"/contacts/lists/{mine.pk}/resend-confirmations/").status_code == 403
    member.refresh_from_db()
    assert member.confirmation_sent_at is not None


@pytest.mark.django_db
def test_list_pages_show_export_and_resend(client, company):
    log_in(client, company, Role.MARKETER)
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=True)
    pending_member(newsletter, "old@example.com", timedelta(days=2))

    lists_page = html(client.get("/contacts/lists/"))
    detail_page = html(client.get(f"/contacts/lists/{newsletter.pk}/"))

    for page in (lists_page, detail_page):
        assert f'href="/contacts/lists/{newsletter.pk}/export.csv"' in page
        assert f'action="/contacts/lists/{newsletter.pk}/resend-confirmations/"' in page


@pytest.mark.django_db
def test_viewer_sees_export_but_not_resend(client, company):
    log_in(client, company, Role.VIEWER)
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=True)
    pending_member(newsletter, "old@example.com", timedelta(days=2))

    page = html(client.get(f"/contacts/lists/{newsletter.pk}/"))

    assert f'href="/contacts/lists/{newsletter.pk}/export.csv"' in page
    assert "resend-confirmations" not in page
