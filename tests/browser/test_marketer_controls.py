"""The contact list's controls in a real browser: sorting by a column header, ticking a page of
contacts with the header checkbox and tagging them, erasing all filtered contacts through the
confirmation page; and the Settings page's invitation form."""

import os

import pytest
from playwright.sync_api import expect

from contacts import services
from contacts.models import Contact, ContactBulkAction, ListMembership, MembershipStatus
from salloq.core.models import Invitation, Role
from tests.factories import ContactFactory

pytestmark = pytest.mark.browser

# SALLOQ_SCREENSHOTS_DIR=/tmp saves each page looked at, at both widths, for a look by eye.
SHOTS = os.environ.get("SALLOQ_SCREENSHOTS_DIR")


def shoot(page, name: str) -> None:
    """Screenshots at a laptop's and a phone's width; the page must never be wider than the window."""
    for label, (width, height) in {"1366": (1366, 768), "390": (390, 844)}.items():
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} is wider than {width} px"
        if SHOTS:
            page.screenshot(path=f"{SHOTS}/e2_{name}_{label}.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 768})


def test_sort_tick_all_on_the_page_and_tag(page, log_in, member, company, browser_errors):
    for name in ["carol", "alice", "bob"]:
        ContactFactory(company=company, email=f"{name}@example.com", first_name=name.title())
    services.contact_list_create(company=company, name="Newsletter")
    log_in(member(Role.OWNER))

    page.goto("/contacts/")
    page.locator("#contact-table th a.sort", has_text="Email").click()
    expect(page.locator("#contact-table tbody tr").first).to_contain_text("alice@example.com")
    page.wait_for_url("**/contacts/?sort=email")
    shoot(page, "contacts")

    page.locator("input[data-select-all]").check()
    expect(page.locator('input[name="contact_ids"]:checked')).to_have_count(3)
    page.locator("#bulk-action").select_option("tag")
    page.locator("#bulk-tags").fill("vip")
    page.get_by_role("button", name="Apply").click()

    expect(page.locator(".messages")).to_contain_text("Add tags vip: 3 of 3 contacts changed.")
    assert page.url.endswith("/contacts/?sort=email")  # back to the list as it was
    assert sorted(Contact.objects.values_list("tags", flat=True)) == [["vip"]] * 3
    assert browser_errors == []


def test_erase_all_filtered_after_the_confirmation_page(page, log_in, member, company, browser_errors):
    for n in range(2):
        ContactFactory(company=company, email=f"gone{n}@example.com", tags=["gdpr"])
    ContactFactory(company=company, email="kept@example.com")
    log_in(member(Role.OWNER))

    page.goto("/contacts/?tag=gdpr")
    page.locator("#bulk-all").check()
    page.locator("#bulk-action").select_option("erase")
    page.get_by_role("button", name="Apply").click()

    expect(page.locator("h1")).to_have_text("Erase 2 contacts?")
    shoot(page, "erase_confirm")
    page.get_by_role("button", name="Erase 2 contacts").click()

    expect(page.locator(".messages")).to_contain_text("Erase: 2 of 2 contacts changed.")
    assert Contact.objects.filter(erased_at__isnull=False).count() == 2
    assert Contact.objects.get(email="kept@example.com").erased_at is None
    assert browser_errors == []


def test_settings_page_invites_and_lists_the_invitation(page, log_in, member, company, browser_errors, mailoutbox):
    log_in(member(Role.OWNER))

    page.goto("/settings/")
    page.locator("#id_email").fill("new.person@example.com")
    page.locator("#id_role").select_option("viewer")
    page.get_by_role("button", name="Send invitation").click()

    expect(page.locator("#invitation-link")).to_contain_text("/invitations/")
    expect(page.locator("#invitation-table")).to_contain_text("new.person@example.com")
    shoot(page, "settings")
    assert Invitation.objects.get().role == Role.VIEWER
    assert browser_errors == []


def test_field_and_list_pages_fit(page, log_in, member, company, browser_errors):
    field = services.custom_field_create(company=company, name="Shoe size", field_type="number")
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=True)
    pending = ContactFactory(company=company, email="pending@example.com")
    ListMembership.objects.create(contact_list=newsletter, contact=pending, status=MembershipStatus.PENDING)
    progress = ContactBulkAction.objects.create(
        company=company, action="tag", tags=["big"], filters={"tag": "x"}, total=2000, processed=700, status="running"
    )
    log_in(member(Role.OWNER))

    for path, name in [
        ("/contacts/fields/", "fields"),
        (f"/contacts/fields/{field.pk}/edit/", "field_edit"),
        (f"/contacts/fields/{field.pk}/delete/", "field_delete"),
        ("/contacts/lists/", "lists"),
        (f"/contacts/lists/{newsletter.pk}/", "list_detail"),
        ("/contacts/segments/", "segments"),
        (f"/contacts/bulk/{progress.pk}/", "bulk_progress"),
    ]:
        page.goto(path)
        shoot(page, name)
    page.goto(f"/contacts/lists/{newsletter.pk}/")
    expect(page.get_by_role("button", name="Resend confirmations")).to_be_visible()
    assert browser_errors == []
