"""The segment builder speaks to a marketer: a field that needs a name asks for it, a choice field offers
its choices, and dates have one format (YYYY-MM-DD) that the input, its hint and the messages share."""

import re

import pytest
from django.http import QueryDict

from contacts.models import FieldType, Segment
from contacts.segments.builder import Row, builder_from_definition, builder_from_post
from tests.conftest import html
from tests.factories import ContactFactory, CustomFieldFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def one_rule(action: str = "", **row) -> dict:
    """A builder form with one top-level rule (row 1); keys of `row` are the row's inputs (field=...);
    with an `action` (refresh, add...) the builder is re-rendered instead of saved."""
    form = {"name": "Test", "description": "", "operator": "and", "row": ["1"], "r1-parent": ""}
    form.update({f"r1-{key}": value for key, value in row.items()})
    return {**form, "_action": action} if action else form


def live(client, form) -> str:
    return html(client.post("/contacts/segments/live/", form, **HX))


@pytest.fixture
def tiers(company):
    """A choice field Tier (gold, silver, bronze) and three contacts, one per tier."""
    CustomFieldFactory(company=company, name="Tier", field_type=FieldType.CHOICE, choices=["gold", "silver", "bronze"])
    for tier in ("gold", "silver", "bronze"):
        ContactFactory(company=company, email=f"{tier}@example.com", fields={"Tier": tier})


# --- A field that needs a name asks for it -------------------------------------------------------------


def test_choosing_property_asks_for_the_key_and_puts_the_cursor_there(marketer_client, company):
    form = one_rule(field="properties", name="", comparison="is_set", action="refresh")
    response = marketer_client.post("/contacts/segments/new/", form, HTTP_HX_TRIGGER_NAME="r1-field", **HX)
    page = html(response)
    key_input = re.search(r'<input name="r1-name"[^>]*>', page).group(0)
    assert 'aria-label="Property key of rule 1"' in key_input and "autofocus" in key_input
    assert "Enter the property key" in page
    assert "Unknown field" not in page and "properties.&lt;key&gt;" not in page  # the API's wording

    # Another row's change does not steal the focus.
    other = marketer_client.post("/contacts/segments/new/", form, HTTP_HX_TRIGGER_NAME="r1-comparison", **HX)
    assert "autofocus" not in re.search(r'<input name="r1-name"[^>]*>', html(other)).group(0)


@pytest.mark.parametrize(
    ("field", "name", "message"),
    [
        ("properties", "", "Rule 1: Enter the property key, e.g. favourite_color"),
        ("properties", "shoe size", "Rule 1: A property key is letters, digits, &#x27;_&#x27; and &#x27;-&#x27;"),
        ("key_information", "", "Rule 1: Enter the key information name."),
        ("events.count", "", "Rule 1: Enter the event type, e.g. order_placed."),
        ("events.last", "order placed", "Rule 1: An event type is letters, digits"),
    ],
)
def test_a_missing_or_unusable_name_is_said_in_the_builders_words(marketer_client, company, field, name, message):
    page = live(marketer_client, one_rule(field=field, name=name, comparison="is_set"))
    assert message in page
    assert "Unknown field" not in page and "events.&lt;event_type&gt;" not in page


def test_a_named_rule_counts_once_the_name_is_given(marketer_client, company):
    ContactFactory(company=company, email="shoes@example.com", properties={"shoe_size": 42})
    ContactFactory(company=company, email="plain@example.com")
    page = live(marketer_client, one_rule(field="properties", name="shoe_size", comparison="greater_than", value="40"))
    assert '<strong id="segment-count">1</strong> contact matches' in page


def test_a_rule_on_a_deleted_custom_field_says_so(marketer_client, company):
    page = live(marketer_client, one_rule(field="fields.Gone", comparison="is_set"))
    assert "Rule 1: There is no custom field Gone any more: choose another field." in page
    assert "GET /api/fields" not in page


# --- Choice fields offer their choices ---------------------------------------------------------------


def test_a_choice_field_offers_its_choices(marketer_client, company, tiers):
    form = one_rule(field="fields.Tier", comparison="equals", value="silver", action="refresh")
    page = html(marketer_client.post("/contacts/segments/new/", form, **HX))
    value = re.search(r'<select name="r1-value".*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="(\w+)"', value) == ["gold", "silver", "bronze"]
    assert '<option value="silver" selected>' in value
    assert '<strong id="segment-count">1</strong>' in page

    # "is one of": several choices, ticked in a multiple select, become the rule's list.
    form.update({"r1-comparison": "in", "r1-values": ["gold", "bronze"]})
    page = html(marketer_client.post("/contacts/segments/new/", form, **HX))
    many = re.search(r'<select name="r1-values" multiple.*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="(\w+)" selected', many) == ["gold", "bronze"]
    assert '<strong id="segment-count">2</strong>' in page

    # "contains" still takes any text.
    form.update({"r1-comparison": "contains", "r1-value": "ld"})
    page = html(marketer_client.post("/contacts/segments/new/", form, **HX))
    assert re.search(r'<input type="text"[^>]*name="r1-value"', page)
    assert '<strong id="segment-count">1</strong>' in page


def test_saving_a_choice_rule_keeps_the_ticked_choices(marketer_client, company, tiers):
    form = one_rule(field="fields.Tier", comparison="in", values=["silver", "gold"])
    response = marketer_client.post("/contacts/segments/new/", form)
    assert response.status_code == 302
    rule = Segment.objects.for_company(company).get().definition["rules"][0]
    assert rule == {"field": "fields.Tier", "comparison": "in", "value": ["silver", "gold"]}

    page = html(marketer_client.get(response["Location"]))  # and the edit page shows them ticked
    many = re.search(r'<select name="r1-values" multiple.*?</select>', page, re.S).group(0)
    assert re.findall(r'<option value="(\w+)" selected', many) == ["gold", "silver"]


def test_a_value_that_is_no_longer_a_choice_is_kept_and_marked(company, tiers):
    builder = builder_from_definition(
        company, {"operator": "and", "rules": [{"field": "fields.Tier", "comparison": "equals", "value": "platinum"}]}
    )
    (row,) = builder.tree()
    assert (row.widget, row.choices, row.value) == ("choice", ["gold", "silver", "bronze"], "platinum")
    assert builder.definition()[0]["rules"] == [{"field": "fields.Tier", "comparison": "equals", "value": "platinum"}]


# --- Dates: one format, typed or picked ---------------------------------------------------------------


@pytest.mark.parametrize("field", ["created_at", "events.last"])
def test_a_date_is_typed_as_yyyy_mm_dd_with_a_picker_beside_it(marketer_client, company, field):
    form = one_rule(field=field, name="order_placed", comparison="between", value="2026-01-01", value2="2026-01-31")
    page = html(marketer_client.post("/contacts/segments/new/", {**form, "_action": "refresh"}, **HX))
    for name, value in (("r1-value", "2026-01-01"), ("r1-value2", "2026-01-31")):
        text = re.search(rf'<input name="{name}"[^>]*>', page).group(0)
        assert f'value="{value}"' in text and 'placeholder="YYYY-MM-DD"' in text
    assert page.count('<input type="date" class="segment-date-picker"') == 2  # the pickers write that format
    assert page.count("data-date-picker hidden") == 2  # shown by app.js
    assert "{#" not in page and "date picker" not in page  # the template's own comment stays out


def test_a_date_in_another_format_is_refused_naming_the_hinted_one(marketer_client, company):
    page = live(marketer_client, one_rule(field="created_at", comparison="before", value="31/01/2026"))
    assert "Rule 1: For before on created_at the value &#x27;31/01/2026&#x27; is not an ISO date (YYYY-MM-DD)" in page


def test_a_timestamp_written_through_the_api_stays_as_it_is(company):
    rule = {"field": "created_at", "comparison": "after", "value": "2026-01-31T09:30:00Z"}
    builder = builder_from_definition(company, {"operator": "and", "rules": [rule]})
    (row,) = builder.tree()
    assert (row.widget, row.value) == ("date", "2026-01-31T09:30:00Z")
    assert builder.definition()[0]["rules"] == [rule]


# --- The builder module on its own ----------------------------------------------------------------------


def test_rows_from_a_post_become_a_definition(company, tiers):
    post = {"operator": "or", "row": ["1", "2", "3"], "r1-field": "tags", "r1-comparison": "equals", "r1-value": "vip"}
    post.update({"r2-kind": "group", "r2-operator": "and", "r3-parent": "2", "r3-field": "fields.Tier"})
    post.update({"r3-comparison": "in", "r3-values": ["gold"]})
    query = QueryDict(mutable=True)
    for key, value in post.items():
        query.setlist(key, value if isinstance(value, list) else [value])
    definition, paths = builder_from_post(company, query).definition()
    assert definition == {
        "operator": "or",
        "rules": [
            {"field": "tags", "comparison": "equals", "value": "vip"},
            {"operator": "and", "rules": [{"field": "fields.Tier", "comparison": "in", "value": ["gold"]}]},
        ],
    }
    assert isinstance(paths["rules[1].rules[0]"], Row) and paths["rules[1].rules[0]"].id == "3"
