"""Whether a contact can be mailed, as every page and export shows it (contacts.mailability): each
state on the contact list, the contact page, a list's members and the CSV exports; the dashboard's
subscribe messages say when a subscription leaves the contact unmailable."""

import csv
import io

import pytest

from contacts import exports, services
from contacts.mailability import Mailability, contacts_with_mailability, mailability_of
from contacts.models import Contact, ContactStatus, MembershipStatus
from tests.conftest import html
from tests.factories import ContactFactory, ContactListFactory, SegmentFactory

pytestmark = pytest.mark.django_db

DASHBOARD = services.ConsentContext(source="test")
LABELS = dict(Mailability.choices)


@pytest.fixture
def world(company):
    """One contact in each state, all on the single opt-in list Weekly (except the erased one,
    whose memberships went with its data); `pending` waits to confirm the double opt-in list Confirmed."""
    weekly = ContactListFactory(company=company, name="Weekly")
    confirmed = ContactListFactory(company=company, name="Confirmed", double_opt_in=True)

    def on_weekly(**data):
        contact = ContactFactory(company=company, **data)
        services.list_subscribe(contact=contact, contact_list=weekly, consent=DASHBOARD)
        return contact

    people = {
        "subscribed": on_weekly(email="subscribed@example.com"),
        "blacklisted": on_weekly(email="blacklisted@example.com"),
        "bounced": on_weekly(email="bounced@example.com", status=ContactStatus.BOUNCED),
        "unsubscribed": ContactFactory(company=company, email="unsubscribed@example.com"),
        "no_email": on_weekly(email="", phone="+33612345678", first_name="Phone", last_name="Only"),
        "erased": ContactFactory(company=company, email="erased@example.com"),
        "pending": ContactFactory(company=company, email="pending@example.com"),
    }
    services.suppression_add(company=company, email="blacklisted@example.com", consent=DASHBOARD)
    services.contact_unsubscribe_all(contact=people["unsubscribed"], consent=DASHBOARD)
    # Then subscribed to Weekly by a click: a member of the list, still unsubscribed from everything.
    membership, _ = services.list_subscribe(contact=people["unsubscribed"], contact_list=weekly, consent=DASHBOARD)
    assert membership.status == MembershipStatus.SUBSCRIBED
    services.contact_erase(contact=people["erased"])
    membership, _ = services.list_subscribe(contact=people["pending"], contact_list=confirmed, consent=DASHBOARD)
    assert membership.status == MembershipStatus.PENDING
    return {"weekly": weekly, "confirmed": confirmed, **people}


def badge(state: str) -> str:
    return f'<span class="badge {state}"'


def row(page: str, row_id: str) -> str:
    return page.split(f'id="{row_id}"')[1].split("</tr>")[0]


# --- The one definition --------------------------------------------------------------------------


def test_precedence_erased_blacklisted_bounced_unsubscribed_no_email_pending_subscribed(company, world):
    for state in ["subscribed", "blacklisted", "bounced", "unsubscribed", "no_email", "erased"]:
        assert mailability_of(world[state]) == state, state
    # Pending exists only as a member of the list waiting for the confirmation.
    assert mailability_of(world["pending"]) == Mailability.SUBSCRIBED
    assert mailability_of(world["pending"], world["confirmed"]) == Mailability.PENDING

    # A blacklisted address that also bounced and unsubscribed is blacklisted first.
    Contact.objects.filter(pk=world["blacklisted"].pk).update(status=ContactStatus.BOUNCED)
    assert mailability_of(world["blacklisted"]) == Mailability.BLACKLISTED
    Contact.objects.filter(pk=world["bounced"].pk).update(status=ContactStatus.UNSUBSCRIBED)
    assert mailability_of(world["bounced"]) == Mailability.UNSUBSCRIBED


def test_subscribed_is_exactly_what_mailable_selects(company, world):
    contacts = Contact.objects.for_company(company)
    annotated = contacts_with_mailability(contacts).filter(mailability=Mailability.SUBSCRIBED)
    assert set(annotated.values_list("pk", flat=True)) == set(contacts.mailable().values_list("pk", flat=True))
    assert set(annotated.values_list("email", flat=True)) == {"subscribed@example.com", "pending@example.com"}


def test_the_blacklist_of_another_company_does_not_count(company, other_company, world):
    services.suppression_add(company=other_company, email="subscribed@example.com", consent=DASHBOARD)
    assert mailability_of(world["subscribed"]) == Mailability.SUBSCRIBED


# --- The contact list ----------------------------------------------------------------------------


def test_contact_list_badges_show_each_state(marketer_client, world):
    page = html(marketer_client.get("/contacts/"))
    for state in ["subscribed", "blacklisted", "bounced", "unsubscribed", "no_email", "erased"]:
        cells = row(page, f"contact-{world[state].pk}")
        assert badge(state) in cells and f">{LABELS[state]}</span>" in cells, state
    # A blacklisted contact keeps its subscribed consent status but is not shown as subscribed.
    assert world["blacklisted"].status == ContactStatus.SUBSCRIBED
    assert "Subscribed" not in row(page, f"contact-{world['blacklisted'].pk}")


def test_contact_list_filtered_by_a_list_shows_pending_members(marketer_client, world):
    page = html(marketer_client.get("/contacts/", {"list_id": world["confirmed"].pk}, headers={"HX-Request": "true"}))
    cells = row(page, f"contact-{world['pending'].pk}")
    assert badge("pending") in cells and ">Pending confirmation</span>" in cells
    # Without the list, the same contact can be mailed (a segment may reach it).
    page = html(marketer_client.get("/contacts/"))
    assert badge("subscribed") in row(page, f"contact-{world['pending'].pk}")


def test_contact_list_query_count_stays_flat_with_mailability(
    marketer_client, company, world, django_assert_max_num_queries
):
    for n in range(25):
        contact = ContactFactory(company=company, email=f"c{n}@example.com", tags=["t"])
        services.list_subscribe(contact=contact, contact_list=world["weekly"], consent=DASHBOARD)
        if n % 3 == 0:
            services.suppression_add(company=company, email=contact.email, consent=DASHBOARD)
    # session, user, memberships, the lists for the filter, count, page (with mailability), the page's memberships
    with django_assert_max_num_queries(7):
        page = html(marketer_client.get("/contacts/"))
    assert page.count('<tr id="contact-') == 25 and page.count(badge("blacklisted")) >= 8
    with django_assert_max_num_queries(7):
        page = html(marketer_client.get("/contacts/", {"list_id": world["weekly"].pk}))
    assert page.count('<tr id="contact-') == 25


# --- The contact page ----------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["subscribed", "blacklisted", "bounced", "unsubscribed", "no_email", "erased"])
def test_contact_page_badge_shows_each_state(marketer_client, world, state):
    page = html(marketer_client.get(f"/contacts/{world[state].pk}/"))
    assert f'<span class="badge {state}" id="contact-status"' in page
    assert f">{LABELS[state]}</span>" in page.split('id="contact-status"')[1].split("</p>")[0]


def test_contact_page_says_the_consent_status_when_it_differs(marketer_client, world):
    page = html(marketer_client.get(f"/contacts/{world['blacklisted'].pk}/"))
    assert 'id="contact-consent-status">consent: subscribed</span>' in page and 'id="contact-blacklisted"' in page
    page = html(marketer_client.get(f"/contacts/{world['subscribed'].pk}/"))
    assert 'id="contact-consent-status"' not in page and 'id="contact-blacklisted"' not in page


def test_contact_page_lists_show_pending_and_unmailable_memberships(marketer_client, world):
    page = html(marketer_client.get(f"/contacts/{world['pending'].pk}/"))
    assert badge("pending") in row(page, f"membership-{world['confirmed'].pk}")

    # Subscribed to Weekly, but unsubscribed from everything: the list row says so.
    page = html(marketer_client.get(f"/contacts/{world['unsubscribed'].pk}/"))
    cells = row(page, f"membership-{world['weekly'].pk}")
    assert badge("unsubscribed") in cells and "list: subscribed" in cells

    page = html(marketer_client.get(f"/contacts/{world['blacklisted'].pk}/"))
    assert badge("blacklisted") in row(page, f"membership-{world['weekly'].pk}")


# --- A list's members ----------------------------------------------------------------------------


def test_list_members_badges_show_each_state(marketer_client, world):
    page = html(marketer_client.get(f"/contacts/lists/{world['weekly'].pk}/"))
    for state in ["subscribed", "blacklisted", "bounced", "unsubscribed", "no_email"]:
        cells = row(page, f"member-{world[state].pk}")
        assert badge(state) in cells and f">{LABELS[state]}</span>" in cells, state
    # The erased contact left every list with its data.
    assert f'id="member-{world["erased"].pk}"' not in page

    page = html(marketer_client.get(f"/contacts/lists/{world['confirmed'].pk}/"))
    assert badge("pending") in row(page, f"member-{world['pending'].pk}")


def test_list_members_badge_shows_an_erased_member_as_erased(marketer_client, company, world):
    """Erasure deletes memberships; a membership row written around it still shows who it is."""
    from contacts.models import ListMembership

    ListMembership.objects.create(contact=world["erased"], contact_list=world["weekly"])
    page = html(marketer_client.get(f"/contacts/lists/{world['weekly'].pk}/"))
    assert badge("erased") in row(page, f"member-{world['erased'].pk}")


def test_list_members_query_count_stays_flat_with_mailability(
    marketer_client, company, world, django_assert_max_num_queries
):
    for n in range(25):
        contact = ContactFactory(company=company, email=f"m{n}@example.com")
        services.list_subscribe(contact=contact, contact_list=world["weekly"], consent=DASHBOARD)
    # session, user, memberships, the list with its counts, member count, member page (with contacts)
    with django_assert_max_num_queries(6):
        page = html(marketer_client.get(f"/contacts/lists/{world['weekly'].pk}/"))
    assert page.count('<tr id="member-') == 25


# --- Exports -------------------------------------------------------------------------------------


def export(company, contacts) -> dict[str, str]:
    text = "".join(exports.export_csv(exports.export_rows(company=company, contacts=contacts)))
    return {row["email"] or row["phone"]: row["mailability"] for row in csv.DictReader(io.StringIO(text))}


def test_list_export_carries_each_member_mailability(company, world):
    assert export(company, exports.list_export_contacts(contact_list=world["weekly"])) == {
        "subscribed@example.com": "subscribed",
        "blacklisted@example.com": "blacklisted",
        "bounced@example.com": "bounced",
        "unsubscribed@example.com": "unsubscribed",
        "+33612345678": "no_email",
    }
    assert export(company, exports.list_export_contacts(contact_list=world["confirmed"])) == {
        "pending@example.com": "pending"
    }


def test_segment_export_carries_mailability(company, world):
    segment = SegmentFactory(
        company=company,
        definition={"operator": "and", "rules": [{"field": "email", "comparison": "contains", "value": "b"}]},
    )
    assert export(company, exports.segment_export_contacts(company=company, segment=segment)) == {
        "blacklisted@example.com": "blacklisted",
        "bounced@example.com": "bounced",
        "unsubscribed@example.com": "unsubscribed",
        "subscribed@example.com": "subscribed",
    }


def test_export_of_a_plain_queryset_computes_mailability(company, world):
    rows = export(company, Contact.objects.for_company(company).filter(email__startswith="b"))
    assert rows == {"blacklisted@example.com": "blacklisted", "bounced@example.com": "bounced"}


def test_dashboard_list_download_has_the_mailability_column(marketer_client, world):
    response = marketer_client.get(f"/contacts/lists/{world['weekly'].pk}/export.csv")
    text = b"".join(response.streaming_content).decode()
    header = text.splitlines()[0].split(",")
    assert "mailability" in header
    rows = {row["email"]: row["mailability"] for row in csv.DictReader(io.StringIO(text))}
    assert rows["blacklisted@example.com"] == "blacklisted" and rows["subscribed@example.com"] == "subscribed"


# --- What subscribing from the dashboard says ----------------------------------------------------


def test_adding_a_blacklisted_address_to_a_list_warns_that_it_will_not_be_mailed(marketer_client, company):
    weekly = ContactListFactory(company=company, name="Weekly")
    services.suppression_add(company=company, email="gone@example.com", consent=DASHBOARD)

    response = marketer_client.post(f"/contacts/lists/{weekly.pk}/members/", {"email": "gone@example.com"}, follow=True)

    page = html(response)
    assert 'class="message success"' not in page and "is subscribed." not in page
    warning = page.split('class="message warning"')[-1].split("</li>")[0]
    assert "gone@example.com is on Weekly but will not be mailed: the address is on the blacklist." in warning
    assert badge("blacklisted") in row(page, f"member-{Contact.objects.get(email='gone@example.com').pk}")


def test_subscribing_an_unsubscribed_contact_warns_that_it_stays_unsubscribed(marketer_client, company):
    weekly = ContactListFactory(company=company, name="Weekly")
    contact = ContactFactory(company=company, email="ada@example.com")
    services.contact_unsubscribe_all(contact=contact, consent=DASHBOARD)

    response = marketer_client.post(f"/contacts/{contact.pk}/subscribe/", {"list_id": weekly.pk}, follow=True)

    page = html(response)
    assert "Subscribed to Weekly." not in page and 'class="message success"' not in page
    warning = page.split('class="message warning"')[1].split("</li>")[0]
    assert "ada@example.com is on Weekly but will not be mailed: the contact unsubscribed." in warning
    assert "fresh consent" in warning
    contact.refresh_from_db()
    assert contact.status == ContactStatus.UNSUBSCRIBED
    assert badge("unsubscribed") in row(page, f"membership-{weekly.pk}")


def test_subscribing_a_bounced_contact_warns(marketer_client, company):
    weekly = ContactListFactory(company=company, name="Weekly")
    contact = ContactFactory(company=company, email="ada@example.com", status=ContactStatus.BOUNCED)
    page = html(marketer_client.post(f"/contacts/{contact.pk}/subscribe/", {"list_id": weekly.pk}, follow=True))
    assert "will not be mailed: the address bounced. To mail them, correct the address first." in page


def test_subscribing_a_mailable_contact_is_still_a_success(marketer_client, company):
    weekly = ContactListFactory(company=company, name="Weekly")
    contact = ContactFactory(company=company, email="ada@example.com")
    page = html(marketer_client.post(f"/contacts/{contact.pk}/subscribe/", {"list_id": weekly.pk}, follow=True))
    assert '<li class="message success">Subscribed to Weekly.</li>' in page
    page = html(
        marketer_client.post(f"/contacts/lists/{weekly.pk}/members/", {"email": "bob@example.com"}, follow=True)
    )
    assert '<li class="message success">bob@example.com is subscribed.</li>' in page
