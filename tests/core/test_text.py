"""text_problem: the one answer to "can the database store this text?"."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from campaigns.models import EmailTemplate
from campaigns.services import template_create
from contacts.audience_actions import custom_field_update
from contacts.contact_input import CompanyRefs, clean_contact_input
from salloq.core.text import NUL_MESSAGE, SURROGATE_MESSAGE, text_problem
from tests.factories import CustomFieldFactory


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", None),
        ("plain ascii", None),
        ("Müller", None),
        ("Ωμέγα 日本 \U0001f600", None),  # a character outside the BMP is one code point, not a pair
        ("\ufffd\uffff", None),  # the replacement character and a noncharacter encode fine
        ("a\x00b", NUL_MESSAGE),
        ("\x00", NUL_MESSAGE),
        ("\ud800", SURROGATE_MESSAGE),
        ("x\udfffy", SURROGATE_MESSAGE),
        ("é\udc80", SURROGATE_MESSAGE),  # what surrogateescape decoding leaves for a stray byte
        ("\ud83d\ude00", SURROGATE_MESSAGE),  # a pair spelt as two code points is two lone surrogates
        ("\ud800 and \x00", NUL_MESSAGE),  # NUL is reported first, wherever it is
    ],
)
def test_text_problem_names_what_the_database_cannot_store(value, problem):
    assert text_problem(value) == problem


def _storable(value: str) -> bool:
    """The definition: PostgreSQL text takes any UTF-8 without NUL."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


# Every code point, surrogates included (st.text leaves them out by default).
@given(st.text(st.characters(codec=None, exclude_categories=())))
def test_text_problem_agrees_with_utf8_encoding(value):
    assert (text_problem(value) is None) == _storable(value)


def test_the_api_and_the_contact_rules_answer_with_the_same_words(api, company):
    """The parser (JSON bodies) and contact_input (CSV rows, forms) refuse with the same messages."""
    response = api.post("/api/contacts", {"email": "a@example.com", "first_name": "a\x00"})
    assert response.status_code == 400
    assert response.json()["details"]["first_name"] == [NUL_MESSAGE]
    for value, message in (("a\x00", NUL_MESSAGE), ("a\ud800", SURROGATE_MESSAGE)):
        with pytest.raises(ValidationError) as error:
            clean_contact_input({"email": "a@example.com", "first_name": value}, CompanyRefs(company.pk))
        assert error.value.message_dict["first_name"] == [message]


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"])
def test_services_refuse_what_the_database_cannot_store_before_writing(company, bad):
    """The dashboard's own checks ask text_problem too: a lone surrogate is refused as NUL is,
    not passed on to the driver (which cannot encode it: a 500)."""
    field = CustomFieldFactory(company=company, name="Colour")
    with pytest.raises(ValidationError) as error:
        custom_field_update(custom_field=field, name=bad)
    assert error.value.message_dict == {"name": [f"A name {text_problem(bad)}."]}
    for data in (
        {"name": bad, "html": "<p>{{ content }}</p>"},
        {"name": "T", "html": f"<p>{bad}{{{{ content }}}}</p>"},
    ):
        with pytest.raises(ValidationError) as error:
            template_create(company=company, data=data)
        assert list(error.value.message_dict.values()) == [[text_problem(bad)]]
    field.refresh_from_db()
    assert field.name == "Colour"
    assert not EmailTemplate.objects.exists()
