"""Dashboard: lists (counts, members, add by email), custom fields and the blacklist."""

import pytest

from contacts import services
from contacts.models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    ContactList,
    CustomField,
    FieldType,
    ListMembership,
    MembershipStatus,
    Suppression,
)
from tests.conftest import html
from tests.factories import ContactFactory, ListMembershipFactory

pytestmark = pytest.mark.django_db

TEST = services.ConsentContext(source="test")


def fill_list(contact_list, subscribed=0, pending=0, unsubscribed=0, prefix="m"):
    company = contact_list.company
    for n in range(subscribed + pending + unsubscribed):
        contact = ContactFactory(company=company, email=f"{prefix}{contact_list.pk}-{n}@example.com")
        status = (
            MembershipStatus.SUBSCRIBED
            if n < subscribed
            else MembershipStatus.PENDING
            if n < subscribed + pending
            else MembershipStatus.UNSUBSCRIBED
        )
        ListMembershipFactory(contact_list=contact_list, contact=contact, status=status)


# --- Lists ------------------------------------------------------------------------------------


def test_lists_page_shows_member_counts_by_status(marketer_client, company, other_company):
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=True)
    fill_list(newsletter, subscribed=3, pending=2, unsubscribed=1)
    services.contact_list_create(company=other_company, name="Rival list")

    page = html(marketer_client.get("/contacts/lists/"))

    row = page.split(f'id="list-{newsletter.pk}"')[1].split("</tr>")[0]
    counts = [cell.split("</td>")[0] for cell in row.split('<td class="num">')[1:]]
    assert counts == ["3", "2", "1"]
    assert "Rival list" not in page


def test_lists_page_counts_in_one_query_whatever_the_number_of_lists(
    marketer_client, company, django_assert_max_num_queries
):
    for n in range(10):
        fill_list(services.contact_list_create(company=company, name=f"List {n}"), subscribed=2, pending=1)
    # session, user, memberships, the lists with their counts
    with django_assert_max_num_queries(4):
        response = marketer_client.get("/contacts/lists/")
    assert html(response).count('<tr id="list-') == 10


def test_lists_page_htmx_request_gets_the_table_partial(marketer_client, company):
    services.contact_list_create(company=company, name="Newsletter")
    response = marketer_client.get("/contacts/lists/", headers={"HX-Request": "true"})
    assert "<html" not in html(response) and "Newsletter" in html(response)
    assert "HX-Request" in response["Vary"]


def test_create_a_list(marketer_client, company):
    response = marketer_client.post(
        "/contacts/lists/",
        {"name": " Weekly ", "description": "Every Monday", "double_opt_in": "on", "reminder_after_days": "3"},
    )
    created = ContactList.objects.for_company(company).get()
    assert response.status_code == 302 and response["Location"] == f"/contacts/lists/{created.pk}/"
    assert (created.name, created.description, created.double_opt_in, created.reminder_after_days) == (
        "Weekly",
        "Every Monday",
        True,
        3,
    )


def test_list_form_defaults_to_the_company_double_opt_in_setting(marketer_client, company):
    company.double_opt_in_default = True
    company.save()
    page = html(marketer_client.get("/contacts/lists/"))
    assert 'id="id_double_opt_in" checked' in page


def test_duplicate_list_name_is_shown_next_to_the_name(marketer_client, company):
    services.contact_list_create(company=company, name="Weekly")
    empty = marketer_client.post("/contacts/lists/", {})
    assert empty.status_code == 400 and "This field is required." in html(empty).split('name="name"')[1]
    response = marketer_client.post("/contacts/lists/", {"name": "Weekly", "reminder_after_days": "0"})
    assert response.status_code == 400
    page = html(response)
    assert "Ensure this value is greater than or equal to 1." in page.split('name="reminder_after_days"')[1]
    response = marketer_client.post("/contacts/lists/", {"name": "Weekly"})
    assert (
        "A list named &#x27;Weekly&#x27; already exists." in html(response).split('name="name"')[1].split("</div>")[0]
    )
    assert ContactList.objects.count() == 1


def test_edit_a_list(marketer_client, company):
    weekly = services.contact_list_create(company=company, name="Weekly")
    services.contact_list_create(company=company, name="Monthly")
    edit = f"/contacts/lists/{weekly.pk}/edit/"
    assert 'value="Weekly"' in html(marketer_client.get(edit))

    taken = marketer_client.post(edit, {"name": "Monthly"})
    assert taken.status_code == 400 and "already exists" in html(taken)

    response = marketer_client.post(edit, {"name": "Weekly news", "description": "", "reminder_after_days": "5"})
    assert response.status_code == 302
    weekly.refresh_from_db()
    assert (weekly.name, weekly.double_opt_in, weekly.reminder_after_days) == ("Weekly news", False, 5)


def test_delete_a_list_keeps_its_contacts(marketer_client, company):
    weekly = services.contact_list_create(company=company, name="Weekly")
    fill_list(weekly, subscribed=2)
    page = html(marketer_client.get(f"/contacts/lists/{weekly.pk}/"))
    assert "data-confirm=" in page.split(f'action="/contacts/lists/{weekly.pk}/delete/"')[1].split("</form>")[0]

    response = marketer_client.post(f"/contacts/lists/{weekly.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/contacts/lists/"
    assert not ContactList.objects.exists() and not ListMembership.objects.exists()
    assert Contact.objects.count() == 2


def test_list_detail_pages_members_and_filters_by_status(marketer_client, company):
    weekly = services.contact_list_create(company=company, name="Weekly")
    fill_list(weekly, subscribed=27, pending=2, unsubscribed=1)

    page = html(marketer_client.get(f"/contacts/lists/{weekly.pk}/"))
    assert "<strong>30</strong> members" in page and page.count('<tr id="member-') == 25 and "Page 1 of 2" in page
    assert "<strong>27</strong><span>subscribed</span>" in page

    pending = marketer_client.get(
        f"/contacts/lists/{weekly.pk}/", {"status": "pending"}, headers={"HX-Request": "true"}
    )
    partial = html(pending)
    assert "<html" not in partial and partial.count('<tr id="member-') == 2
    assert 'class="badge pending"' in partial and 'class="badge subscribed"' not in partial


def test_list_detail_query_count_does_not_grow_with_members(marketer_client, company, django_assert_max_num_queries):
    weekly = services.contact_list_create(company=company, name="Weekly")
    fill_list(weekly, subscribed=25)
    # session, user, memberships, the list with its counts, member count, member page (with contacts)
    with django_assert_max_num_queries(6):
        response = marketer_client.get(f"/contacts/lists/{weekly.pk}/")
    assert html(response).count('<tr id="member-') == 25


def test_add_member_by_email_creates_the_contact_when_needed(marketer_client, company):
    weekly = services.contact_list_create(company=company, name="Weekly")
    known = ContactFactory(company=company, email="known@example.com")

    marketer_client.post(f"/contacts/lists/{weekly.pk}/members/", {"email": "known@example.com"})
    marketer_client.post(f"/contacts/lists/{weekly.pk}/members/", {"email": " New@Example.com "})

    members = dict(ListMembership.objects.filter(contact_list=weekly).values_list("contact__email", "status"))
    assert members == {"known@example.com": "subscribed", "new@example.com": "subscribed"}
    assert Contact.objects.for_company(company).count() == 2
    assert known.list_memberships.get().subscribed_at is not None
    record = ConsentRecord.objects.filter(contact__email="new@example.com", contact_list=weekly).get()
    assert (record.action, record.source) == (ConsentAction.SUBSCRIBED, "dashboard")


def test_add_member_to_double_opt_in_list_is_pending(marketer_client, company):
    confirmed = services.contact_list_create(company=company, name="Confirmed", double_opt_in=True)
    marketer_client.post(f"/contacts/lists/{confirmed.pk}/members/", {"email": "ada@example.com"})
    assert ListMembership.objects.get().status == MembershipStatus.PENDING
    assert "ada@example.com is pending confirmation." in html(marketer_client.get(f"/contacts/lists/{confirmed.pk}/"))


def test_add_member_with_a_bad_email_says_so(marketer_client, company):
    weekly = services.contact_list_create(company=company, name="Weekly")
    marketer_client.post(f"/contacts/lists/{weekly.pk}/members/", {"email": "nope"})
    assert "is not a valid email address" in html(marketer_client.get(f"/contacts/lists/{weekly.pk}/"))
    assert not Contact.objects.exists()


def test_remove_a_member_unsubscribes_them(marketer_client, company):
    weekly = services.contact_list_create(company=company, name="Weekly")
    contact = ContactFactory(company=company, email="ada@example.com")
    services.list_subscribe(contact=contact, contact_list=weekly)
    marketer_client.post(f"/contacts/lists/{weekly.pk}/members/{contact.pk}/unsubscribe/")
    membership = ListMembership.objects.get()
    assert membership.status == MembershipStatus.UNSUBSCRIBED and membership.unsubscribed_at


def test_another_company_list_is_404_everywhere(marketer_client, company, other_company):
    theirs = services.contact_list_create(company=other_company, name="Theirs")
    their_contact = ContactFactory(company=other_company, email="rival@example.com")
    services.list_subscribe(contact=their_contact, contact_list=theirs)
    for path in [f"/contacts/lists/{theirs.pk}/", f"/contacts/lists/{theirs.pk}/edit/"]:
        assert marketer_client.get(path).status_code == 404, path
    for path in [
        f"/contacts/lists/{theirs.pk}/edit/",
        f"/contacts/lists/{theirs.pk}/delete/",
        f"/contacts/lists/{theirs.pk}/members/",
        f"/contacts/lists/{theirs.pk}/members/{their_contact.pk}/unsubscribe/",
    ]:
        assert marketer_client.post(path, {"name": "Mine now", "email": "x@example.com"}).status_code == 404, path
    # Our list cannot reach their contact either.
    ours = services.contact_list_create(company=company, name="Ours")
    assert marketer_client.post(f"/contacts/lists/{ours.pk}/members/{their_contact.pk}/unsubscribe/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and ListMembership.objects.get().status == MembershipStatus.SUBSCRIBED


def test_viewer_reads_lists_but_cannot_change_them(viewer_client, company):
    weekly = services.contact_list_create(company=company, name="Weekly")
    contact = ContactFactory(company=company, email="ada@example.com")
    services.list_subscribe(contact=contact, contact_list=weekly)
    lists_page = html(viewer_client.get("/contacts/lists/"))
    assert "Weekly" in lists_page and 'id="list-create-form"' not in lists_page
    detail = html(viewer_client.get(f"/contacts/lists/{weekly.pk}/"))
    assert "ada@example.com" in detail and 'id="add-member-form"' not in detail and "Delete</button>" not in detail
    assert viewer_client.get(f"/contacts/lists/{weekly.pk}/edit/").status_code == 403
    for path in [
        "/contacts/lists/",
        f"/contacts/lists/{weekly.pk}/edit/",
        f"/contacts/lists/{weekly.pk}/delete/",
        f"/contacts/lists/{weekly.pk}/members/",
        f"/contacts/lists/{weekly.pk}/members/{contact.pk}/unsubscribe/",
    ]:
        assert viewer_client.post(path, {"name": "X", "email": "x@example.com"}).status_code == 403, path
    assert ContactList.objects.get().name == "Weekly"
    assert ListMembership.objects.get().status == MembershipStatus.SUBSCRIBED


# --- Custom fields ----------------------------------------------------------------------------


def test_fields_page_lists_this_company_fields(marketer_client, company, other_company):
    services.custom_field_create(company=company, name="Tier", field_type=FieldType.CHOICE, choices=["gold", "silver"])
    services.custom_field_create(company=other_company, name="Rival field", field_type=FieldType.TEXT)
    page = html(marketer_client.get("/contacts/fields/"))
    assert "Tier" in page and "Choice" in page and '<span class="chip">silver</span>' in page
    assert "Rival field" not in page


def test_create_a_choice_field(marketer_client, company):
    response = marketer_client.post(
        "/contacts/fields/", {"name": "Store", "field_type": "choice", "choices": "Paris, Rivoli\nLyon\n\n"}
    )
    assert response.status_code == 302
    field = CustomField.objects.for_company(company).get()
    assert (field.name, field.field_type, field.choices) == ("Store", "choice", ["Paris, Rivoli", "Lyon"])


def test_field_errors_come_from_the_service(marketer_client, company):
    services.custom_field_create(company=company, name="Tier", field_type=FieldType.TEXT)
    no_choices = marketer_client.post("/contacts/fields/", {"name": "Store", "field_type": "choice", "choices": ""})
    assert no_choices.status_code == 400
    assert "A choice field needs a list of allowed values." in html(no_choices).split('name="choices"')[1]
    duplicate = marketer_client.post("/contacts/fields/", {"name": "Tier", "field_type": "number"})
    assert duplicate.status_code == 400 and "already exists" in html(duplicate)
    assert CustomField.objects.count() == 1


def test_viewer_cannot_create_fields(viewer_client, company):
    page = html(viewer_client.get("/contacts/fields/"))
    assert 'id="field-create-form"' not in page
    assert viewer_client.post("/contacts/fields/", {"name": "X", "field_type": "text"}).status_code == 403
    assert not CustomField.objects.exists()


# --- Blacklist --------------------------------------------------------------------------------


def test_blacklist_page_searches_and_paginates(marketer_client, company, other_company):
    for n in range(30):
        services.suppression_add(company=company, email=f"spam{n:02d}@example.com")
    services.suppression_add(company=company, email="keep@other.org")
    services.suppression_add(company=other_company, email="rival@example.com")

    page = html(marketer_client.get("/contacts/blacklist/"))
    assert "<strong>31</strong> addresses" in page and page.count('<tr id="suppression-') == 25
    assert "rival@example.com" not in page
    assert 'hx-trigger="keyup changed delay:300ms, search"' in page

    found = marketer_client.get("/contacts/blacklist/", {"search": "other.org"}, headers={"HX-Request": "true"})
    partial = html(found)
    assert "<html" not in partial and "keep@other.org" in partial and partial.count('<tr id="suppression-') == 1
    assert "HX-Request" in found["Vary"]


def test_blacklist_query_count_does_not_grow(marketer_client, company, django_assert_max_num_queries):
    for n in range(30):
        services.suppression_add(company=company, email=f"spam{n}@example.com")
    with django_assert_max_num_queries(5):
        marketer_client.get("/contacts/blacklist/")


def test_add_and_remove_a_blacklisted_address(marketer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com")
    response = marketer_client.post("/contacts/blacklist/", {"email": "ADA@example.com ", "reason": "complaint"})
    assert response.status_code == 302
    suppression = Suppression.objects.for_company(company).get()
    assert (suppression.email, suppression.reason) == ("ada@example.com", "complaint")
    assert ConsentRecord.objects.filter(contact=contact, action=ConsentAction.BLACKLISTED).exists()

    again = marketer_client.post("/contacts/blacklist/", {"email": "ada@example.com"}, follow=True)
    assert "was already blacklisted" in html(again)

    marketer_client.post(f"/contacts/blacklist/{suppression.pk}/remove/")
    assert not Suppression.objects.exists()
    assert ConsentRecord.objects.filter(contact=contact, action=ConsentAction.UNBLACKLISTED).exists()


def test_blacklist_rejects_a_bad_address_next_to_the_field(marketer_client, company):
    response = marketer_client.post("/contacts/blacklist/", {"email": "not an email"})
    assert response.status_code == 400
    assert "is not a valid email address" in html(response).split('name="email"')[1].split("</div>")[0]
    assert not Suppression.objects.exists()


def test_cannot_remove_another_company_blacklist_entry(marketer_client, other_company):
    theirs, _ = services.suppression_add(company=other_company, email="rival@example.com")
    assert marketer_client.post(f"/contacts/blacklist/{theirs.pk}/remove/").status_code == 404
    assert Suppression.objects.filter(pk=theirs.pk).exists()


def test_viewer_reads_the_blacklist_but_cannot_change_it(viewer_client, company):
    suppression, _ = services.suppression_add(company=company, email="spam@example.com")
    page = html(viewer_client.get("/contacts/blacklist/"))
    assert "spam@example.com" in page and 'id="blacklist-add-form"' not in page and "Remove</button>" not in page
    assert viewer_client.post("/contacts/blacklist/", {"email": "x@example.com"}).status_code == 403
    assert viewer_client.post(f"/contacts/blacklist/{suppression.pk}/remove/").status_code == 403
    assert list(Suppression.objects.values_list("email", flat=True)) == ["spam@example.com"]


def test_navigation_links_the_contacts_section(marketer_client, company):
    page = html(marketer_client.get("/contacts/lists/"))
    nav = page.split('aria-label="Main"')[1].split("</nav>")[0]
    for url in ["/contacts/", "/contacts/lists/", "/contacts/fields/", "/contacts/blacklist/"]:
        assert f'href="{url}"' in nav, url
    assert 'href="/contacts/lists/" aria-current="page"' in nav
