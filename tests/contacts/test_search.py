"""Contact search and filters (contacts/filters.py), on the dashboard's contact list and the API:
case-insensitive for every alphabet on SQLite and PostgreSQL, phone numbers as people type them,
the tag filter case-insensitive, and an over-long search a clear message."""

import pytest

from contacts.filters import ContactFilterSet, search_condition
from contacts.models import Contact
from tests.conftest import html
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(company):
    return {
        "muller": ContactFactory(company=company, email="jm@example.de", first_name="Jürgen", last_name="Müller"),
        "eleni": ContactFactory(company=company, email="eleni@example.gr", first_name="Ελένη", last_name="Παπαδάκη"),
        "ivan": ContactFactory(company=company, email="ivan@example.ru", first_name="Иван", last_name="Петров"),
        "ada": ContactFactory(
            company=company, email="ada1990@example.com", first_name="Ada", last_name="Lovelace", phone="+33612345678"
        ),
        "bob": ContactFactory(company=company, email="abc@example.com", phone="+442071234567", tags=["Gold"]),
    }


def found(company, term: str) -> set[str]:
    queryset = ContactFilterSet({"search": term}, queryset=Contact.objects.for_company(company)).qs
    return set(queryset.values_list("email", flat=True))


@pytest.mark.parametrize(
    ("term", "who"),
    [
        ("MÜLLER", "jm@example.de"),
        ("müller", "jm@example.de"),
        ("jürgen MÜLL", "jm@example.de"),
        ("ελένη", "eleni@example.gr"),
        ("ΠΑΠΑΔΆΚΗ", "eleni@example.gr"),
        ("иван", "ivan@example.ru"),
        ("ПЕТРОВ", "ivan@example.ru"),
        ("LOVELACE", "ada1990@example.com"),
        ("ADA1990@EXAMPLE", "ada1990@example.com"),
    ],
)
def test_search_ignores_case_in_every_alphabet(company, people, term, who):
    assert found(company, term) == {who}


@pytest.mark.parametrize(
    "term", ["+33 6 12", "+33612345678", "0612", "06 12 34 56 78", "06.12.34", "0033 6 12", "612345"]
)
def test_search_finds_a_phone_number_as_people_type_it(company, people, term):
    assert found(company, term) == {"ada1990@example.com"}


def test_a_phone_search_needs_its_digits_in_order(company, people):
    assert found(company, "+33 7") == set()
    assert found(company, "+44 20 7123") == {"abc@example.com"}


def test_search_digits_still_match_the_email(company, people):
    assert found(company, "1990") == {"ada1990@example.com"}


def test_every_word_must_match_somewhere(company, people):
    assert found(company, "ada müller") == set()
    assert found(company, "ada lovelace") == {"ada1990@example.com"}


def test_like_wildcards_are_plain_characters(company, people):
    assert found(company, "a_c") == set() and found(company, "%") == set()


def test_a_search_condition_for_a_blank_term_matches_everyone(company, people):
    assert Contact.objects.for_company(company).filter(search_condition("")).count() == len(people)


def test_the_tag_filter_ignores_case_like_segments(company, people):
    for tag in ["Gold", "gold", "GOLD"]:
        queryset = ContactFilterSet({"tag": tag}, queryset=Contact.objects.for_company(company)).qs
        assert list(queryset.values_list("email", flat=True)) == ["abc@example.com"], tag


# --- The dashboard and the API ---------------------------------------------------------------------


def test_dashboard_search_finds_muller_by_capitals(marketer_client, people):
    page = html(marketer_client.get("/contacts/", {"search": "MÜLLER"}, headers={"HX-Request": "true"}))
    assert "jm@example.de" in page and page.count('<tr id="contact-') == 1


def test_dashboard_search_finds_a_phone(marketer_client, people):
    page = html(marketer_client.get("/contacts/", {"search": "06 12 34"}, headers={"HX-Request": "true"}))
    assert "ada1990@example.com" in page and page.count('<tr id="contact-') == 1


def test_an_over_long_search_is_a_clear_message_without_a_count(marketer_client, people):
    response = marketer_client.get("/contacts/", {"search": "x" * 201}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    page = html(response)
    assert "The search is too long: at most 200 characters (this one has 201)." in page
    assert 'id="contact-count"' not in page and '<tr id="contact-' not in page and "<table" not in page
    # The full page says the same, inside the table's place that search-as-you-type replaces.
    page = html(marketer_client.get("/contacts/", {"search": "x" * 201}))
    table = page.split('id="contact-table"')[1]
    assert "The search is too long" in table and 'id="contact-count"' not in table


def test_a_search_of_the_longest_length_runs(marketer_client, people):
    response = marketer_client.get("/contacts/", {"search": "x" * 200}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<strong>0</strong> contacts" in html(response)


def test_api_search_finds_by_capitals_and_phone(api, people):
    def emails(term):
        response = api.get("/api/contacts", {"search": term})
        assert response.status_code == 200, response.content
        return {item["email"] for item in response.json()["contacts"]}

    assert emails("MÜLLER") == {"jm@example.de"}
    assert emails("+33 6 12") == {"ada1990@example.com"}
    assert api.get("/api/contacts", {"search": "x" * 201}).status_code == 400


@pytest.mark.postgres
def test_search_on_postgresql_uses_upper_for_unicode(company, people):
    """PostgreSQL's UPPER folds every alphabet by itself (no Python function is involved there)."""
    sql = str(ContactFilterSet({"search": "müller"}, queryset=Contact.objects.for_company(company)).qs.query)
    assert "UPPER(" in sql and "salloq_upper" not in sql
    assert found(company, "MÜLLER") == {"jm@example.de"}
