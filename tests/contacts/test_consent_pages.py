"""Public consent pages: confirm, unsubscribe (page and RFC 8058 one-click), preference center, bad links."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from contacts import consent, services, tasks
from contacts.models import ConsentAction, ConsentRecord, Contact, ContactStatus, ListMembership, MembershipStatus
from contacts.services import ConsentContext
from tests.conftest import csrf_token, html
from tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db

SIGNUP = ConsentContext(source="signup form", fresh=True)


def path_of(url: str) -> str:
    assert url.startswith("http://127.0.0.1:8000/c/")
    return urlsplit(url).path


def browser() -> Client:
    return Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Mozilla/5.0 (test)")


def membership_status(contact, contact_list) -> str:
    return ListMembership.objects.get(contact=contact, contact_list=contact_list).status


@pytest.fixture
def pending(company):
    """A pending double opt-in membership and its confirmation path."""
    contact = ContactFactory(company=company, email="ann@example.com")
    membership, _ = services.list_subscribe(
        contact=contact,
        contact_list=ContactListFactory(company=company, name="Newsletter", double_opt_in=True),
        consent=SIGNUP,
    )
    return membership, path_of(consent.confirm_url(membership))


# --- Confirm -------------------------------------------------------------------------------------


def test_pending_member_is_not_in_a_list_audience_until_confirmed(company, pending):
    membership, _ = pending
    audience = Contact.objects.mailable().in_list(membership.contact_list_id, ("subscribed",))
    assert not audience.exists()
    consent.confirm_membership(membership_id=membership.pk, consent=ConsentContext(ip_address="192.0.2.1"))
    assert list(audience) == [membership.contact]


def test_confirm_get_confirms_nothing_and_post_needs_the_csrf_token(pending):
    membership, path = pending
    client = browser()
    page = client.get(path)
    assert page.status_code == 200
    assert b'method="post"' in page.content and b"Confirm subscription" in page.content
    assert client.post(path).status_code == 403  # no CSRF token
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.PENDING


def test_confirming_twice_records_one_confirmation(pending):
    membership, path = pending
    client = browser()
    token = csrf_token(client.get(path))
    assert client.post(path, {"csrfmiddlewaretoken": token}).status_code == 200
    first = ListMembership.objects.get(pk=membership.pk).confirmed_at
    again = client.post(path, {"csrfmiddlewaretoken": token})
    assert again.status_code == 200 and b"Subscription confirmed" in again.content
    assert ListMembership.objects.get(pk=membership.pk).confirmed_at == first
    assert ConsentRecord.objects.filter(action=ConsentAction.CONFIRMED).count() == 1
    assert b"Subscription confirmed" in client.get(path).content


def test_confirmation_link_expires_after_30_days(pending):
    membership, path = pending
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        page = Client().get(path)
    assert page.status_code == 410
    assert b"This link has expired." in page.content
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.PENDING


def test_confirmation_link_of_a_cancelled_subscription_does_not_revive_it(pending):
    membership, path = pending
    services.list_unsubscribe(contact=membership.contact, contact_list=membership.contact_list)
    assert Client().get(path).status_code == 410
    page = Client().post(path)
    assert page.status_code == 410
    assert b"cancelled" in page.content
    assert membership_status(membership.contact, membership.contact_list) == MembershipStatus.UNSUBSCRIBED


# --- Bad links ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["confirm", "unsubscribe", "preferences"])
def test_tampered_link_shows_a_400_page(company, pending, kind):
    membership, confirm_path = pending
    contact = membership.contact
    path = {
        "confirm": confirm_path,
        "unsubscribe": path_of(consent.unsubscribe_url(contact)),
        "preferences": path_of(consent.preferences_url(contact)),
    }[kind]
    token = path.rstrip("/").rsplit("/", 1)[1]
    tampered = path.replace(token, token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB"))
    for bad in (tampered, f"/c/{kind}/garbage/"):
        page = Client().get(bad)
        assert page.status_code == 400
        assert b"This link is not valid" in page.content
    assert Client().post(tampered, {"List-Unsubscribe": "One-Click"}).status_code == 400
    contact.refresh_from_db()
    assert contact.status == ContactStatus.SUBSCRIBED


def test_a_link_of_one_kind_does_not_work_as_another(pending):
    membership, _ = pending
    unsubscribe_token = consent.unsubscribe_token(membership.contact)
    assert Client().get(f"/c/confirm/{unsubscribe_token}/").status_code == 400
    assert Client().get(f"/c/preferences/{unsubscribe_token}/").status_code == 400


def test_links_stop_working_when_the_address_changes_or_the_contact_is_erased(company):
    contact = ContactFactory(company=company, email="ann@example.com")
    unsubscribe_path = path_of(consent.unsubscribe_url(contact))
    preferences_path = path_of(consent.preferences_url(contact))
    services.contact_upsert(company=company, data={"email": "ann@example.com", "properties": {"x": 1}})
    assert Client().get(preferences_path).status_code == 200  # unrelated changes keep links valid

    contact.email = "ann.new@example.com"
    contact.save()
    page = Client().get(unsubscribe_path)
    assert page.status_code == 410 and b"has changed" in page.content

    contact.email = "ann@example.com"
    contact.save()
    assert Client().get(preferences_path).status_code == 200
    services.contact_erase(contact=contact)
    assert Client().get(preferences_path).status_code == 410
    assert Client().post(unsubscribe_path, {"List-Unsubscribe": "One-Click"}).status_code == 410


# --- Unsubscribe ------------------------------------------------------------------------------------


def test_one_click_unsubscribe_rfc8058_from_the_list_in_the_link(company):
    contact = ContactFactory(company=company, email="ann@example.com")
    news, offers = ContactListFactory(company=company, name="News"), ContactListFactory(company=company, name="Offers")
    for contact_list in (news, offers):
        services.list_subscribe(contact=contact, contact_list=contact_list, consent=SIGNUP)
    headers = consent.list_unsubscribe_headers(contact, news)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.fullmatch(r"<(.+)>", headers["List-Unsubscribe"]).group(1)

    # Exactly what a mail client sends: no cookie, no CSRF token, a urlencoded body.
    mail_client = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="GoogleMail/1.0")
    answer = mail_client.post(
        path_of(url), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 200
    assert membership_status(contact, news) == MembershipStatus.UNSUBSCRIBED
    assert membership_status(contact, offers) == MembershipStatus.SUBSCRIBED
    contact.refresh_from_db()
    assert contact.status == ContactStatus.SUBSCRIBED
    record = ConsentRecord.objects.get(contact=contact, action=ConsentAction.UNSUBSCRIBED)
    assert record.contact_list == news
    assert (record.ip_address, record.user_agent) == ("203.0.113.9", "GoogleMail/1.0")
    assert record.source == "one-click unsubscribe (RFC 8058)"


def test_one_click_unsubscribe_without_a_list_leaves_everything(company):
    contact = ContactFactory(company=company, email="ann@example.com")
    news = ContactListFactory(company=company, name="News")
    services.list_subscribe(contact=contact, contact_list=news, consent=SIGNUP)
    # multipart/form-data, the other body RFC 8058 allows.
    answer = Client(enforce_csrf_checks=True).post(
        path_of(consent.unsubscribe_url(contact)), {"List-Unsubscribe": "One-Click"}
    )
    assert answer.status_code == 200
    contact.refresh_from_db()
    assert contact.status == ContactStatus.UNSUBSCRIBED
    assert membership_status(contact, news) == MembershipStatus.UNSUBSCRIBED
    assert not Contact.objects.mailable().filter(pk=contact.pk).exists()


def test_unsubscribe_page_offers_the_list_or_everything_and_posts_with_csrf(company):
    contact = ContactFactory(company=company, email="ann@example.com")
    news, offers = ContactListFactory(company=company, name="News"), ContactListFactory(company=company, name="Offers")
    for contact_list in (news, offers):
        services.list_subscribe(contact=contact, contact_list=contact_list, consent=SIGNUP)
    path = path_of(consent.unsubscribe_url(contact, news))
    client = browser()
    page = client.get(path)
    assert page.status_code == 200
    markup = html(page)
    assert 'value="list"' in markup and 'value="all"' in markup and "ann@example.com" in markup
    assert membership_status(contact, news) == MembershipStatus.SUBSCRIBED  # GET changes nothing

    assert client.post(path, {"scope": "all"}).status_code == 403  # the page's form is CSRF-protected
    assert client.post(path, {"scope": "bogus", "csrfmiddlewaretoken": csrf_token(page)}).status_code == 400

    done = client.post(path, {"scope": "all", "csrfmiddlewaretoken": csrf_token(page)})
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    contact.refresh_from_db()
    assert contact.status == ContactStatus.UNSUBSCRIBED
    assert {membership_status(contact, news), membership_status(contact, offers)} == {MembershipStatus.UNSUBSCRIBED}
    record = ConsentRecord.objects.get(contact=contact, action=ConsentAction.UNSUBSCRIBED)
    assert (record.ip_address, record.source, record.note) == ("198.51.100.7", "unsubscribe page", "all lists")
    assert b"already unsubscribed" in client.get(path).content


def test_unsubscribe_page_for_the_list_only(company):
    contact = ContactFactory(company=company, email="ann@example.com")
    news, offers = ContactListFactory(company=company, name="News"), ContactListFactory(company=company, name="Offers")
    for contact_list in (news, offers):
        services.list_subscribe(contact=contact, contact_list=contact_list, consent=SIGNUP)
    path = path_of(consent.unsubscribe_url(contact, news))
    client = browser()
    done = client.post(path, {"scope": "list", "csrfmiddlewaretoken": csrf_token(client.get(path))})
    assert done.status_code == 200 and b"no longer receive News emails" in done.content
    assert membership_status(contact, news) == MembershipStatus.UNSUBSCRIBED
    assert membership_status(contact, offers) == MembershipStatus.SUBSCRIBED


# --- Preference center ------------------------------------------------------------------------------


def test_preference_center_shows_only_the_contacts_lists(company):
    contact = ContactFactory(company=company, email="ann@example.com")
    services.list_subscribe(
        contact=contact, contact_list=ContactListFactory(company=company, name="News"), consent=SIGNUP
    )
    ContactListFactory(company=company, name="Churn risk")
    page = Client().get(path_of(consent.preferences_url(contact)))
    assert page.status_code == 200
    assert b"News" in page.content
    assert b"Churn risk" not in page.content


def test_preference_center_changes_subscriptions_and_rejoining_a_double_opt_in_list_confirms_again(
    company, smtp_sink, django_capture_on_commit_callbacks
):
    contact = ContactFactory(company=company, email="ann@example.com")
    news = ContactListFactory(company=company, name="News")
    offers = ContactListFactory(company=company, name="Offers")
    weekly = ContactListFactory(company=company, name="Weekly", double_opt_in=True)
    for contact_list in (news, offers, weekly):
        services.list_subscribe(contact=contact, contact_list=contact_list, consent=SIGNUP)
    membership = ListMembership.objects.get(contact=contact, contact_list=weekly)
    tasks.send_double_opt_in_confirmations.apply()
    consent.confirm_membership(membership_id=membership.pk, consent=ConsentContext(ip_address="192.0.2.1"))
    services.list_unsubscribe(contact=contact, contact_list=weekly)

    path = path_of(consent.preferences_url(contact))
    client = browser()
    page = client.get(path)
    markup = html(page)
    assert re.search(rf'value="{news.pk}"\s+checked', markup)
    assert not re.search(rf'value="{weekly.pk}"\s+checked', markup)

    # Keep News, leave Offers, rejoin Weekly.
    with django_capture_on_commit_callbacks() as callbacks:
        answer = client.post(
            path, {"lists": [str(news.pk), str(weekly.pk)], "action": "save", "csrfmiddlewaretoken": csrf_token(page)}
        )
    assert answer.status_code == 302 and answer["Location"] == f"{path}?saved=1"
    assert membership_status(contact, news) == MembershipStatus.SUBSCRIBED
    assert membership_status(contact, offers) == MembershipStatus.UNSUBSCRIBED
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.PENDING
    assert membership.confirmed_at is None and membership.confirmation_sent_at is None
    assert len(callbacks) == 1  # the confirmation task, enqueued on commit

    tasks.send_double_opt_in_confirmations.apply()
    assert [m["Subject"] for m in smtp_sink.messages] == ["Please confirm your subscription to Weekly"] * 2
    rejoined = ConsentRecord.objects.filter(contact=contact, contact_list=weekly, action=ConsentAction.SUBSCRIBED)
    assert rejoined.filter(source="preference center", ip_address="198.51.100.7").exists()
    saved = client.get(answer["Location"])
    assert b"Your preferences are saved." in saved.content
    assert b"waiting for your confirmation" in saved.content


def test_preference_center_unsubscribes_from_everything_and_can_subscribe_again(company):
    contact = ContactFactory(company=company, email="ann@example.com")
    news = ContactListFactory(company=company, name="News")
    services.list_subscribe(contact=contact, contact_list=news, consent=SIGNUP)
    path = path_of(consent.preferences_url(contact))
    client = browser()
    token = csrf_token(client.get(path))
    client.post(path, {"lists": [str(news.pk)], "action": "unsubscribe_all", "csrfmiddlewaretoken": token})
    contact.refresh_from_db()
    assert contact.status == ContactStatus.UNSUBSCRIBED
    assert membership_status(contact, news) == MembershipStatus.UNSUBSCRIBED
    assert b"unsubscribed from all emails" in client.get(path).content

    # Ticking the list again is fresh consent: the contact and the membership are subscribed again.
    client.post(path, {"lists": [str(news.pk)], "action": "save", "csrfmiddlewaretoken": token})
    contact.refresh_from_db()
    assert contact.status == ContactStatus.SUBSCRIBED
    assert list(Contact.objects.mailable().in_list(news.pk, ("subscribed",))) == [contact]


def test_preference_center_does_not_lift_the_blacklist(company):
    contact = ContactFactory(company=company, email="ann@example.com")
    news = ContactListFactory(company=company, name="News")
    services.list_subscribe(contact=contact, contact_list=news, consent=SIGNUP)
    services.contact_unsubscribe_all(contact=contact)
    services.suppression_add(company=company, email=contact.email, reason="complaint")
    path = path_of(consent.preferences_url(contact))
    client = browser()
    page = client.get(path)
    assert b"do-not-email list" in page.content
    client.post(path, {"lists": [str(news.pk)], "action": "save", "csrfmiddlewaretoken": csrf_token(page)})
    contact.refresh_from_db()
    assert contact.status == ContactStatus.UNSUBSCRIBED
    assert services.is_suppressed(company, contact.email)
    assert not Contact.objects.mailable().filter(pk=contact.pk).exists()


def test_preference_center_post_needs_the_csrf_token(company):
    contact = ContactFactory(company=company, email="ann@example.com")
    news = ContactListFactory(company=company, name="News")
    services.list_subscribe(contact=contact, contact_list=news, consent=SIGNUP)
    answer = browser().post(path_of(consent.preferences_url(contact)), {"action": "unsubscribe_all"})
    assert answer.status_code == 403
    assert membership_status(contact, news) == MembershipStatus.SUBSCRIBED
