"""Dashboard contact list: sortable columns (whitelisted keys, stable order, filters and pages kept)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import Contact
from tests.conftest import html
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def shown_emails(response) -> list[str]:
    """The contacts' emails in table order."""
    return re.findall(r'<tr id="contact-\d+">.*?<a href="/contacts/\d+/">([^<]+)</a>', html(response), re.S)


def test_sort_by_email_ascending_and_descending(marketer_client, company):
    for email in ["carol@example.com", "alice@example.com", "bob@example.com"]:
        ContactFactory(company=company, email=email)

    assert shown_emails(marketer_client.get("/contacts/", {"sort": "email"})) == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    assert shown_emails(marketer_client.get("/contacts/", {"sort": "-email"})) == [
        "carol@example.com",
        "bob@example.com",
        "alice@example.com",
    ]


def test_sort_by_name_uses_last_then_first_name(marketer_client, company):
    ContactFactory(company=company, email="z@example.com", last_name="Adams", first_name="Zoe")
    ContactFactory(company=company, email="a@example.com", last_name="Brown", first_name="Al")
    ContactFactory(company=company, email="b@example.com", last_name="Adams", first_name="Ann")

    assert shown_emails(marketer_client.get("/contacts/", {"sort": "name"})) == [
        "b@example.com",
        "z@example.com",
        "a@example.com",
    ]


def test_sort_by_updated_follows_the_last_change(marketer_client, company):
    first, second = (
        ContactFactory(company=company, email="first@example.com"),
        ContactFactory(company=company, email="second@example.com"),
    )
    now = timezone.now()
    Contact.objects.filter(pk=first.pk).update(updated_at=now)
    Contact.objects.filter(pk=second.pk).update(updated_at=now - timedelta(days=1))

    assert shown_emails(marketer_client.get("/contacts/", {"sort": "-updated"})) == [
        "first@example.com",
        "second@example.com",
    ]


@pytest.mark.parametrize("sort", ["password", "-", "email;drop table", "__class__", "company__name", "x" * 5000])
def test_unknown_sort_falls_back_to_newest_first(marketer_client, company, sort):
    old = ContactFactory(company=company, email="old@example.com")
    Contact.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    ContactFactory(company=company, email="new@example.com")

    response = marketer_client.get("/contacts/", {"sort": sort})

    assert response.status_code == 200
    assert shown_emails(response) == ["new@example.com", "old@example.com"]


def test_equal_values_keep_one_order_across_pages(marketer_client, company):
    """30 contacts with the same name: the pages split them without repeating or skipping any."""
    for n in range(30):
        ContactFactory(company=company, email=f"same{n:02}@example.com", last_name="Same")

    first = shown_emails(marketer_client.get("/contacts/", {"sort": "name"}))
    second = shown_emails(marketer_client.get("/contacts/", {"sort": "name", "page": 2}))

    assert len(first) == 25 and len(second) == 5
    assert sorted(first + second) == sorted(f"same{n:02}@example.com" for n in range(30))


def test_sort_keeps_the_filters_and_the_links_keep_both(marketer_client, company):
    ContactFactory(company=company, email="b-vip@example.com", tags=["vip"])
    ContactFactory(company=company, email="a-vip@example.com", tags=["vip"])
    ContactFactory(company=company, email="c-other@example.com")

    response = marketer_client.get("/contacts/", {"tag": "vip", "sort": "email"}, HTTP_HX_REQUEST="true")
    page = html(response)

    assert shown_emails(response) == ["a-vip@example.com", "b-vip@example.com"]
    assert "<html" not in page  # the partial
    # The header link of the current column reverses it and keeps the filter.
    assert 'href="?tag=vip&amp;sort=-email"' in page
    # The filter bar sends the sort along (the hidden field belongs to its form).
    assert 'id="contact-sort" name="sort" value="email" form="contact-filters"' in page


def test_pagination_links_keep_the_sort(marketer_client, company):
    for n in range(30):
        ContactFactory(company=company, email=f"p{n:02}@example.com")

    page = html(marketer_client.get("/contacts/", {"sort": "email"}))

    assert 'href="?sort=email&amp;page=2"' in page
