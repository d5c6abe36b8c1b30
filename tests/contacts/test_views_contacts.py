"""Dashboard: the contact list (search, filters, pagination as htmx partials), the contact page and its actions."""

from decimal import Decimal

import pytest
from django.utils import timezone

from contacts import services
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
from events.models import Event
from tests.conftest import html
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

DASHBOARD = services.ConsentContext(source="test")


# --- The list -------------------------------------------------------------------------------


def test_contact_pages_require_login(client, company):
    contact = ContactFactory(company=company, email="ada@example.com")
    for path in ["/contacts/", f"/contacts/{contact.pk}/", f"/contacts/{contact.pk}/edit/"]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path


def test_contact_list_shows_this_company_contacts_with_their_columns(marketer_client, company, other_company):
    newsletter = services.contact_list_create(company=company, name="Newsletter")
    ada = ContactFactory(company=company, email="ada@example.com", first_name="Ada", last_name="Lovelace")
    services.list_subscribe(contact=ada, contact_list=newsletter)
    ContactFactory(company=company, email="bob@example.com")
    ContactFactory(company=other_company, email="rival@example.com")

    response = marketer_client.get("/contacts/")

    assert response.status_code == 200
    page = html(response)
    assert "<html" in page and 'id="contact-table"' in page
    assert "<strong>2</strong> contacts" in page
    assert "ada@example.com" in page and "Ada Lovelace" in page and "bob@example.com" in page
    assert "rival@example.com" not in page
    row = page.split(f'id="contact-{ada.pk}"')[1].split("</tr>")[0]
    assert "Subscribed" in row and "Newsletter" in row and ada.created_at.strftime("%Y-%m-%d") in row
    # Search-as-you-type: the input asks for the table partial and pushes the URL.
    assert 'hx-trigger="keyup changed delay:300ms, search"' in page and 'hx-push-url="true"' in page


def test_search_answers_htmx_with_the_table_partial_only(marketer_client, company):
    ContactFactory(company=company, email="ada@example.com", first_name="Ada")
    ContactFactory(company=company, email="bob@example.com", first_name="Bob")

    response = marketer_client.get("/contacts/", {"search": "ada"}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    page = html(response)
    assert "<html" not in page and page.lstrip().startswith('<div id="contact-table"')
    assert "ada@example.com" in page and "bob@example.com" not in page
    assert "<strong>1</strong> contact match" in page
    assert "HX-Request" in response["Vary"]


def test_history_restore_gets_the_whole_page(marketer_client, company):
    response = marketer_client.get(
        "/contacts/", {"search": "x"}, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in html(response)


def test_filters_by_status_list_and_tag(marketer_client, company):
    vip = services.contact_list_create(company=company, name="VIP")
    ada = ContactFactory(company=company, email="ada@example.com", tags=["gold"])
    bob = ContactFactory(company=company, email="bob@example.com")
    cy = ContactFactory(company=company, email="cy@example.com", tags=["gold"])
    services.list_subscribe(contact=bob, contact_list=vip)
    services.contact_unsubscribe_all(contact=cy, consent=DASHBOARD)

    def shown(**params):
        page = html(marketer_client.get("/contacts/", params, headers={"HX-Request": "true"}))
        return {c.email for c in (ada, bob, cy) if c.email in page}

    assert shown(status="unsubscribed") == {"cy@example.com"}
    assert shown(list_id=vip.pk) == {"bob@example.com"}
    assert shown(tag="gold") == {"ada@example.com", "cy@example.com"}
    assert shown(tag="gold", status="subscribed") == {"ada@example.com"}
    assert shown(status="nonsense") == {"ada@example.com", "bob@example.com", "cy@example.com"}


def test_an_invalid_filter_is_named_on_the_page(marketer_client, company):
    page = html(marketer_client.get("/contacts/", {"status": "nonsense"}))
    assert 'class="error"' in page and "status:" in page


def test_contacts_are_paginated_25_per_page_with_htmx_links(marketer_client, company):
    for n in range(30):
        ContactFactory(company=company, email=f"c{n:02d}@example.com")

    first = html(marketer_client.get("/contacts/", {"search": "example"}, headers={"HX-Request": "true"}))
    assert first.count('<tr id="contact-') == 25
    assert "<strong>30</strong> contacts" in first and "Page 1 of 2" in first
    assert 'hx-get="?search=example&amp;page=2"' in first and 'hx-push-url="true"' in first

    second = html(marketer_client.get("/contacts/", {"search": "example", "page": 2}, headers={"HX-Request": "true"}))
    assert second.count('<tr id="contact-') == 5 and "Page 2 of 2" in second
    # The newest first: page 2 holds the first five created.
    assert "c00@example.com" in second and "c29@example.com" not in second
    # A page past the end shows the last page rather than an error.
    assert html(marketer_client.get("/contacts/", {"page": 99})).count('<tr id="contact-') == 5


def test_contact_list_query_count_does_not_grow_with_rows(marketer_client, company, django_assert_max_num_queries):
    lists = [services.contact_list_create(company=company, name=f"List {n}") for n in range(3)]
    for n in range(25):
        contact = ContactFactory(company=company, email=f"c{n}@example.com", tags=["t"])
        for contact_list in lists:
            services.list_subscribe(contact=contact, contact_list=contact_list)
    # session, user, memberships, the lists for the filter, count, page, the page's memberships
    with django_assert_max_num_queries(7):
        response = marketer_client.get("/contacts/", {"tag": "t"})
    assert html(response).count('<tr id="contact-') == 25


def test_marketer_creates_a_contact_with_dashboard_consent(marketer_client, company):
    response = marketer_client.post(
        "/contacts/",
        {"email": " Ada@Example.com ", "first_name": "Ada", "last_name": "", "phone": "", "tags": "vip, gold ,"},
        headers={"User-Agent": "Browser/1.0"},
    )

    contact = Contact.objects.for_company(company).get()
    assert response.status_code == 302 and response["Location"] == f"/contacts/{contact.pk}/"
    assert contact.email == "ada@example.com" and contact.first_name == "Ada"
    assert sorted(contact.tags) == ["gold", "vip"]
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.action, record.source, record.ip_address, record.user_agent) == (
        ConsentAction.SUBSCRIBED,
        "dashboard",
        "127.0.0.1",
        "Browser/1.0",
    )


def test_create_form_shows_the_service_error_next_to_the_field(marketer_client, company):
    response = marketer_client.post("/contacts/", {"email": "not-an-email", "phone": "12"})
    assert response.status_code == 400
    page = html(response)
    email_field = page.split('name="email"')[1].split("</div>")[0]
    assert "is not a valid email address" in email_field
    assert not Contact.objects.exists()


def test_create_form_needs_an_address(marketer_client, company):
    response = marketer_client.post("/contacts/", {"first_name": "Nobody"})
    assert response.status_code == 400
    assert "A contact needs an email, an external_id or a phone." in html(response)


def test_viewer_sees_contacts_but_no_create_form_and_cannot_post(viewer_client, company):
    ContactFactory(company=company, email="ada@example.com")
    page = html(viewer_client.get("/contacts/"))
    assert "ada@example.com" in page and 'id="contact-create-form"' not in page and "New contact" not in page
    assert viewer_client.post("/contacts/", {"email": "x@example.com"}).status_code == 403
    assert Contact.objects.count() == 1


# --- The contact page ---------------------------------------------------------------------------


@pytest.fixture
def rich_contact(company):
    """A contact with a bit of everything the page shows."""
    size = services.custom_field_create(company=company, name="Shoe size", field_type=FieldType.NUMBER)
    services.custom_field_create(company=company, name="Birthday", field_type=FieldType.DATE)
    contact = ContactFactory(
        company=company,
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        phone="+33612345678",
        external_id="crm-42",
        tags=["vip"],
        properties={"favourite_colour": "teal"},
        fields={"Shoe size": "38"},
    )
    services.key_information_upsert(contact=contact, numeric=[{"name": "budget", "value": 120}])
    newsletter = services.contact_list_create(company=company, name="Newsletter")
    services.list_subscribe(contact=contact, contact_list=newsletter, consent=DASHBOARD)
    Event.objects.create(company=company, contact=contact, event_type="order_placed", value=Decimal("42.50"))
    assert size.pk
    return contact


def test_contact_page_shows_attributes_fields_lists_consent_and_activity(marketer_client, rich_contact):
    page = html(marketer_client.get(f"/contacts/{rich_contact.pk}/"))

    assert "<h1>Ada Lovelace</h1>" in page
    for text in ["ada@example.com", "+33612345678", "crm-42", "vip", "favourite_colour", "teal"]:
        assert text in page, text
    fields = page.split('id="custom-fields"')[1].split("</section>")[0]
    assert "<dt>Shoe size</dt><dd>38</dd>" in fields and "<dt>Birthday</dt><dd>—</dd>" in fields
    assert "<dt>budget</dt><dd>120</dd>" in page
    lists = page.split('id="contact-lists"')[1].split("</section>")[0]
    assert "Newsletter" in lists and 'class="badge subscribed"' in lists
    history = page.split('id="consent-history"')[1].split("</section>")[0]
    assert history.count("<tr>") == 3  # header + subscribed (contact) + subscribed (list)
    assert "order_placed" in page and "42.50" in page


def test_consent_history_is_newest_first(marketer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com")
    services.contact_unsubscribe_all(contact=contact, consent=DASHBOARD)
    page = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    history = page.split('id="consent-history"')[1]
    assert history.index("Unsubscribed") < history.index("Subscribed")


def test_contact_page_query_count_does_not_grow_with_history(
    marketer_client, rich_contact, django_assert_max_num_queries
):
    for n in range(20):
        Event.objects.create(company=rich_contact.company, contact=rich_contact, event_type=f"viewed_{n}")
        services.contact_unsubscribe_all(contact=rich_contact, consent=DASHBOARD)
    # 13 for the contact and its history, 4 for the Commerce card (facts, orders, subscriptions,
    # collection products), whatever their number.
    with django_assert_max_num_queries(17):
        marketer_client.get(f"/contacts/{rich_contact.pk}/")


def test_timeline_shows_the_latest_50_events(marketer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com")
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            company=company,
            contact=contact,
            event_type=f"event_{n:02d}",
            occurred_at=now - timezone.timedelta(minutes=n),
        )
        for n in range(60)
    )
    page = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    assert page.count('<li id="timeline-event-') == 50
    assert '<span class="chip">event_00</span>' in page and '<span class="chip">event_49</span>' in page
    assert "event_50" not in page


def test_another_company_contact_is_404_for_pages_and_actions(marketer_client, other_company):
    theirs = ContactFactory(company=other_company, email="rival@example.com")
    assert marketer_client.get(f"/contacts/{theirs.pk}/").status_code == 404
    assert marketer_client.get(f"/contacts/{theirs.pk}/edit/").status_code == 404
    for action in ["edit", "subscribe", "unsubscribe", "unsubscribe-all", "blacklist", "unblacklist", "erase"]:
        response = marketer_client.post(f"/contacts/{theirs.pk}/{action}/", {"confirm": "on", "email": "x@example.com"})
        assert response.status_code == 404, action
    theirs.refresh_from_db()
    assert theirs.email == "rival@example.com" and theirs.status == ContactStatus.SUBSCRIBED
    assert not Suppression.objects.exists()


def test_edit_saves_attributes_tags_and_custom_fields(marketer_client, company, rich_contact):
    size = rich_contact.field_values.get().field
    vip = services.custom_field_create(company=company, name="Tier", field_type=FieldType.CHOICE, choices=["a", "b"])
    optin = services.custom_field_create(company=company, name="Opt-in", field_type=FieldType.BOOLEAN)
    edit = f"/contacts/{rich_contact.pk}/edit/"
    form = html(marketer_client.get(edit))
    assert 'value="38"' in form and 'value="vip"' in form and 'type="date"' in form

    response = marketer_client.post(
        edit,
        {
            "email": "ADA@example.org",
            "external_id": "crm-42",
            "phone": "+33 6 12 34 56 79",
            "first_name": "Ada",
            "last_name": "King",
            "lang": "en",
            "tags": "gold, vip2",
            f"field_{size.pk}": "39.5",
            f"field_{vip.pk}": "b",
            f"field_{optin.pk}": "true",
        },
    )

    assert response.status_code == 302 and response["Location"] == f"/contacts/{rich_contact.pk}/"
    rich_contact.refresh_from_db()
    assert (rich_contact.email, rich_contact.phone, rich_contact.last_name, rich_contact.lang) == (
        "ada@example.org",
        "+33612345679",
        "King",
        "en",
    )
    assert sorted(rich_contact.tags) == ["gold", "vip2"]
    values = {v.field.name: v.value for v in CustomFieldValue.objects.filter(contact=rich_contact)}
    assert values == {"Shoe size": Decimal("39.5"), "Tier": "b", "Opt-in": True}
    # The date field was left empty and untouched: no empty row was stored for it.
    assert "Birthday" not in values


def test_edit_shows_service_errors_next_to_the_fields_and_changes_nothing(marketer_client, company, rich_contact):
    size = rich_contact.field_values.get().field
    ContactFactory(company=company, email="taken@example.com")
    edit = f"/contacts/{rich_contact.pk}/edit/"
    base = {"email": "ada@example.com", "external_id": "crm-42", "first_name": "Ada", "tags": "vip"}

    bad_phone = marketer_client.post(edit, {**base, "phone": 12 * "x", f"field_{size.pk}": "38"})
    assert bad_phone.status_code == 302  # an unusable phone is kept as given, with a warning (not an error)
    rich_contact.refresh_from_db()
    assert (rich_contact.phone, rich_contact.phone_valid) == ("x" * 12, False)

    bad_number = marketer_client.post(edit, {**base, f"field_{size.pk}": "big", "first_name": "Changed"})
    assert bad_number.status_code == 400
    size_field = html(bad_number).split(f'name="field_{size.pk}"')[1].split("</div>")[0]
    assert "&#x27;big&#x27; is not a number." in size_field

    taken = marketer_client.post(edit, {**base, "email": "taken@example.com"})
    assert taken.status_code == 400
    assert "already has this email" in html(taken).split('name="email"')[1].split("</div>")[0]

    rich_contact.refresh_from_db()
    assert rich_contact.first_name == "Ada" and rich_contact.email == "ada@example.com"
    assert rich_contact.field_values.get().value == Decimal("38")


def test_subscribe_and_unsubscribe_a_list_from_the_contact_page(marketer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com")
    weekly = services.contact_list_create(company=company, name="Weekly")
    page = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    assert f'<option value="{weekly.pk}">Weekly</option>' in page

    response = marketer_client.post(f"/contacts/{contact.pk}/subscribe/", {"list_id": weekly.pk})
    assert response.status_code == 302
    membership = ListMembership.objects.get(contact=contact, contact_list=weekly)
    assert membership.status == MembershipStatus.SUBSCRIBED and membership.subscribed_at

    marketer_client.post(f"/contacts/{contact.pk}/unsubscribe/", {"list_id": weekly.pk})
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.UNSUBSCRIBED and membership.unsubscribed_at
    record = ConsentRecord.objects.filter(contact=contact).first()
    assert (record.action, record.contact_list, record.source) == (ConsentAction.UNSUBSCRIBED, weekly, "dashboard")

    # Rejoining needs the contact's fresh consent, which a marketer's click is not.
    marketer_client.post(f"/contacts/{contact.pk}/subscribe/", {"list_id": weekly.pk})
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.UNSUBSCRIBED
    page = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    assert "send consent to rejoin" in page


def test_subscribing_to_a_double_opt_in_list_leaves_the_membership_pending(marketer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com")
    confirmed = services.contact_list_create(company=company, name="Confirmed", double_opt_in=True)
    marketer_client.post(f"/contacts/{contact.pk}/subscribe/", {"list_id": confirmed.pk})
    assert ListMembership.objects.get(contact=contact).status == MembershipStatus.PENDING
    assert "Asked to confirm the subscription to Confirmed by email." in html(
        marketer_client.get(f"/contacts/{contact.pk}/")
    )


def test_cannot_subscribe_to_another_company_list(marketer_client, company, other_company):
    contact = ContactFactory(company=company, email="ada@example.com")
    theirs = services.contact_list_create(company=other_company, name="Theirs")
    assert marketer_client.post(f"/contacts/{contact.pk}/subscribe/", {"list_id": theirs.pk}).status_code == 404
    assert marketer_client.post(f"/contacts/{contact.pk}/unsubscribe/", {"list_id": theirs.pk}).status_code == 404
    assert not ListMembership.objects.exists()


def test_unsubscribe_from_everything_records_consent(marketer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com")
    services.list_subscribe(contact=contact, contact_list=services.contact_list_create(company=company, name="A"))
    marketer_client.post(f"/contacts/{contact.pk}/unsubscribe-all/", headers={"User-Agent": "Browser/2"})
    contact.refresh_from_db()
    assert contact.status == ContactStatus.UNSUBSCRIBED
    assert ListMembership.objects.get(contact=contact).status == MembershipStatus.UNSUBSCRIBED
    record = ConsentRecord.objects.filter(contact=contact).first()
    assert (record.action, record.note, record.source, record.user_agent) == (
        ConsentAction.UNSUBSCRIBED,
        "all lists",
        "dashboard",
        "Browser/2",
    )


def test_blacklist_and_remove_from_blacklist(marketer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com")
    marketer_client.post(f"/contacts/{contact.pk}/blacklist/")
    suppression = Suppression.objects.for_company(company).get()
    assert suppression.email == "ada@example.com"
    page = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    assert 'id="contact-blacklisted"' in page and "Remove from blacklist" in page
    assert not Contact.objects.for_company(company).mailable().exists()

    marketer_client.post(f"/contacts/{contact.pk}/unblacklist/")
    assert not Suppression.objects.exists()
    actions = list(ConsentRecord.objects.filter(contact=contact).values_list("action", flat=True)[:2])
    assert actions == [ConsentAction.UNBLACKLISTED, ConsentAction.BLACKLISTED]


def test_erase_needs_the_confirm_field(marketer_client, rich_contact):
    response = marketer_client.post(f"/contacts/{rich_contact.pk}/erase/")
    assert response.status_code == 400
    erase_form = html(response).split('id="erase-form"')[1].split("</form>")[0]
    assert "Tick the box to confirm the erasure." in erase_form and "data-confirm=" in erase_form
    rich_contact.refresh_from_db()
    assert rich_contact.erased_at is None and rich_contact.email == "ada@example.com"


def test_erase_removes_personal_data_and_keeps_activity(marketer_client, company, rich_contact):
    response = marketer_client.post(f"/contacts/{rich_contact.pk}/erase/", {"confirm": "on"})
    assert response.status_code == 302
    rich_contact.refresh_from_db()
    assert rich_contact.erased_at and rich_contact.email == "" and rich_contact.first_name == ""
    assert rich_contact.tags == [] and not rich_contact.list_memberships.exists()
    assert Event.objects.filter(contact=rich_contact).count() == 1
    page = html(marketer_client.get(f"/contacts/{rich_contact.pk}/"))
    assert f"Erased contact {rich_contact.pk}" in page and 'id="erase-form"' not in page
    # Nothing left to change on an erased row.
    assert marketer_client.get(f"/contacts/{rich_contact.pk}/edit/").status_code == 302


def test_viewer_sees_the_contact_without_actions_and_gets_403_on_each(viewer_client, rich_contact):
    page = html(viewer_client.get(f"/contacts/{rich_contact.pk}/"))
    assert "ada@example.com" in page
    for marker in ["Edit</a>", "Unsubscribe from all", "Blacklist</button>", 'id="erase-form"', 'id="subscribe-form"']:
        assert marker not in page, marker
    assert viewer_client.get(f"/contacts/{rich_contact.pk}/edit/").status_code == 403
    list_id = rich_contact.list_memberships.get().contact_list_id
    for action in ["edit", "subscribe", "unsubscribe", "unsubscribe-all", "blacklist", "unblacklist", "erase"]:
        response = viewer_client.post(f"/contacts/{rich_contact.pk}/{action}/", {"list_id": list_id, "confirm": "on"})
        assert response.status_code == 403, action
    rich_contact.refresh_from_db()
    assert rich_contact.erased_at is None and rich_contact.status == ContactStatus.SUBSCRIBED
    assert ListMembership.objects.get().status == MembershipStatus.SUBSCRIBED
    assert not Suppression.objects.exists()


def test_pages_keep_the_strict_csp(marketer_client, rich_contact):
    for path in ["/contacts/", f"/contacts/{rich_contact.pk}/", f"/contacts/{rich_contact.pk}/edit/"]:
        response = marketer_client.get(path)
        assert "unsafe-inline" not in response["Content-Security-Policy"]
        assert "<script>" not in html(response) and ' style="' not in html(response), path
