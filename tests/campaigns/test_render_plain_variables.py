"""Personalization rendered without Django (campaigns.plain_variables) gives Django's output: an
oracle test over random templates of text and plain variables and random contexts (missing keys,
None, numbers, dates, strings with <>&'" and non-ASCII text), with and without autoescape."""

import datetime
from types import MappingProxyType

import pytest
from django.template import Context
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns import personalization
from campaigns.plain_variables import PersonalizedTemplate

TEXT = st.text(alphabet="ab <>&'\"\n\u00e9\u4e2d\U0001f338.:|", max_size=12)
# Names a lookup may try: context keys, mapping methods (Django calls them), indexes, builtins.
BITS = st.sampled_from(["contact", "company", "first_name", "fields", "city", "a", "items", "get", "0", "True", "None"])
VALUES = st.one_of(
    TEXT,
    st.none(),
    st.booleans(),
    st.integers(-5000, 5000),
    st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False),
    st.just(datetime.date(2024, 6, 15)),
    st.tuples(TEXT),
)
MAPPINGS = st.recursive(
    st.dictionaries(BITS, VALUES, max_size=4),
    lambda inner: st.dictionaries(BITS, VALUES | inner | inner.map(MappingProxyType), max_size=4),
    max_leaves=10,
)
CONSTANTS = st.one_of(
    st.text(alphabet="ab <>&'\u00e9\U0001f338", max_size=6).map(lambda text: f'"{text}"'),
    st.integers(-9, 99).map(str),
    st.just("2.5"),
)
FILTERS = st.lists(
    st.tuples(st.sampled_from(["default", "default_if_none"]), CONSTANTS).map(lambda f: f"|{f[0]}:{f[1]}"),
    max_size=2,
).map("".join)
# A variable whose whole name is a number is a literal, not a lookup: a first name is never "0".
VARIABLES = st.tuples(BITS.filter(lambda bit: bit != "0"), st.lists(BITS, max_size=2), FILTERS).map(
    lambda v: "{{ " + ".".join([v[0], *v[1]]) + v[2] + " }}"
)
TEMPLATES = st.lists(st.text(alphabet="ab <>&\n\u00e9", max_size=8) | VARIABLES, max_size=6).map("".join)


@settings(max_examples=400, deadline=None)
@given(source=TEMPLATES, values=MAPPINGS, autoescape=st.booleans())
def test_the_rendering_is_djangos(source, values, autoescape):
    template = personalization.compile_template(source)
    plain = PersonalizedTemplate(template)
    assert plain.pieces is not None  # every generated template is within the subset
    expected = template.render(Context(dict(values), autoescape=autoescape))
    assert plain.render(dict(values), autoescape=autoescape) == expected


@pytest.mark.parametrize(
    "source",
    ["{% if contact.first_name %}x{% endif %}", "{{ contact.first_name|upper }}", "{{ contact.a|default:contact.b }}"],
)
def test_templates_outside_the_subset_are_rendered_by_django(source):
    template = personalization.compile_template(source)
    plain = PersonalizedTemplate(template)
    assert plain.pieces is None
    values = {"contact": MappingProxyType({"first_name": "<Ada>", "a": "", "b": "B"})}
    assert plain.render(values, autoescape=True) == template.render(Context(values))


def test_a_contacts_strings_and_missing_values_are_rendered_without_django(monkeypatch):
    template = personalization.compile_template(
        '<p>Hi {{ contact.first_name|default:"<b>there</b>" }} {{ contact.last_name }} of '
        "{{ company.name }} {{ contact.fields.tier|default_if_none:'none' }} {{ contact.fields.missing }}</p>"
    )
    plain = PersonalizedTemplate(template)
    monkeypatch.setattr(type(template), "render", lambda *args: pytest.fail("rendered by Django"))
    contact = personalization.contact_context(
        {"first_name": "", "last_name": "O'Brien & <Co>"}, fields=MappingProxyType({"tier": "Gold"})
    )
    values = {"contact": contact, "company": MappingProxyType({"name": "Caf\u00e9 \u4e2d"})}
    assert plain.render(values, autoescape=True) == (
        "<p>Hi <b>there</b> O&#x27;Brien &amp; &lt;Co&gt; of Caf\u00e9 \u4e2d Gold </p>"
    )
    assert plain.render(values, autoescape=False) == "<p>Hi <b>there</b> O'Brien & <Co> of Caf\u00e9 \u4e2d Gold </p>"
