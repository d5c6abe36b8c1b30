"""The personalization sandbox: what a campaign's template may say, what it is refused at save
(with its line), and what it can reach when rendered."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.template import Context

from campaigns import personalization, rendering
from campaigns.models import CampaignRecipient
from contacts.models import FieldType, KeyInformation
from tests.campaigns.conftest import make_campaign
from tests.factories import CompanyFactory
from tests.factories.catalog import CommerceFactsFactory
from tests.factories.contacts import ContactFactory, CustomFieldFactory


def problem(source: str, field: str = "content") -> str:
    with pytest.raises(ValidationError) as error:
        personalization.check_template(source, field=field)
    [message] = error.value.message_dict[field]
    return message


def render(source: str, **values) -> str:
    values.setdefault("contact", personalization.contact_context(None))
    values.setdefault("commerce", personalization.commerce_context(None))
    return personalization.compile_template(source).render(Context(values))


@pytest.mark.parametrize(
    "source",
    [
        'Hi {{ contact.first_name|default:"there" }}',
        "{{ contact.email }} {{ contact.last_name|upper }} {{ contact.full_name|title }}",
        "{% if commerce.total_spent > 100 %}VIP{% elif commerce.order_count %}Buyer{% else %}New{% endif %}",
        "{% for tag in contact.tags %}{{ forloop.counter }}. {{ tag }}{% empty %}no tags{% endfor %}",
        "{% with name=contact.first_name|default:'friend' %}{{ name|capfirst }}{% endwith %}",
        "{{ contact.fields.loyalty_tier|default:'none' }} {{ contact.properties.address.city }}",
        "{{ contact.key_information.favourite_colour }} {{ commerce.last_order_at|date:'j F Y' }}",
        "{{ commerce.average_order_value|floatformat:2 }} {{ commerce.loyalty_balance }} {{ company.name }}",
        '{% firstof contact.first_name "there" %} {% now "Y" %} {# a note #}{% comment %}x{% endcomment %}',
        '<a href="{{ unsubscribe_url }}">Leave</a> <a href="{{ preferences_url }}">Choose</a>',
    ],
)
def test_allowed_templates_pass_the_check(source):
    personalization.check_template(source, field="content")


@pytest.mark.parametrize(
    "source, words",
    [
        ("<p>Hi</p>\n{% load static %}", ["{% load %}", "not allowed", "(line 2)"]),
        ('{% include "emails/campaign_footer.html" %}', ["{% include %}", "not allowed", "(line 1)"]),
        ('{% extends "base.html" %}', ["{% extends %}", "not allowed"]),
        ("\n\n{% url 'home' %}", ["{% url %}", "(line 3)"]),
        ("{% csrf_token %}", ["{% csrf_token %}"]),
        ("{% debug %}", ["{% debug %}"]),
        ("{% autoescape off %}{{ contact.first_name }}{% endautoescape %}", ["{% autoescape %}"]),
        ("{% templatetag openblock %}", ["{% templatetag %}"]),
        ("{% ssi '/etc/passwd' %}", ["{% ssi %}"]),
        ("<p>\n\n\n{{ contact.first_name|safe }}</p>", ["|safe", "not allowed", "(line 4)"]),
        ("{{ contact.tags|safeseq }}", ["|safeseq"]),
        ('{{ contact.first_name|ljust:"100000000" }}', ["|ljust"]),
        ('{{ contact.first_name|stringformat:"100000000s" }}', ["|stringformat"]),
        ("{{ contact.tags|pprint }}", ["|pprint"]),
    ],
)
def test_forbidden_tags_and_filters_are_refused_with_their_line(source, words):
    message = problem(source)
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "source, words",
    [
        ("<p>\n{{ contact.frist_name }}</p>", ["Unknown variable contact.frist_name", "(line 2)"]),
        ("{{ first_name }}", ["Unknown variable first_name"]),
        ("\n\n\n\n{{ request.user }}", ["Unknown variable request.user", "(line 5)"]),
        ("{{ settings.SECRET_KEY }}", ["Unknown variable settings.SECRET_KEY"]),
        ("{{ commerce.orders }}", ["Unknown variable commerce.orders"]),
        ("{{ company.webhook_secret }}", ["Unknown variable company.webhook_secret"]),
        ("{{ contact }}", ["Unknown variable contact"]),
        ("{{ contact.first_name.upper }}", ["contact.first_name has no parts"]),
        ("{{ contact.email.__class__ }}", ["may not begin with underscores"]),
        ("{% if x %}y{% endif %}", ["Unknown variable x"]),
        ("{% for t in contact.tags %}{% endfor %}{{ t }}", ["Unknown variable t"]),
        ("{{ contact.first_name|default:other }}", ["Unknown variable other"]),
        ("{{ forloop.counter }}", ["Unknown variable forloop.counter"]),
        ("{{ sq_pixel }}", ["Unknown variable sq_pixel"]),
    ],
)
def test_unknown_variables_are_refused_with_their_line(source, words):
    message = problem(source)
    for word in words:
        assert word in message


def test_syntax_errors_name_the_field_and_line():
    assert "(line 3)" in problem("a\nb\n{% if contact.email %}no end", field="subject")
    assert "line" in problem("{{ contact.first_name|default: }}", field="preview_text")


def test_missing_values_render_empty_and_defaults_apply():
    assert render('Hi {{ contact.first_name|default:"there" }}!') == "Hi there!"
    assert render("[{{ contact.fields.nothing }}][{{ contact.properties.a.b.c }}]") == "[][]"
    assert render("{{ commerce.order_count }} {{ commerce.total_spent }}") == "0 0.00"
    assert render("{{ commerce.last_order_at|default:'never' }}") == "never"
    # Names the check would refuse still never raise when rendered.
    assert render("{{ nope.nothing }}{{ contact.first_name.upper }}") == ""


def test_templates_cannot_call_methods_or_change_the_data():
    contact = personalization.contact_context({"first_name": "Ada", "properties": {"items": [1, 2], "d": {"k": 1}}})
    company = personalization.company_context(CompanyFactory.build(name="Shop", postal_address=""))
    source = (
        "{% with p=contact.properties %}{{ p.clear }}{{ p.d.clear }}{{ p.d.popitem }}{% endwith %}"
        "{% for x in contact.properties.items %}{{ x.pop }}{{ x.clear }}{% endfor %}"
        "{% with c=company %}{{ c.clear }}{% endwith %}|{{ contact.properties.d.k }}"
        "{{ contact.properties.items|length }}{{ company.name }}"
    )
    assert render(source, contact=contact, company=company).endswith("|12Shop")
    assert render("{{ company.name }}", company=company) == "Shop"


def test_loops_are_bounded():
    contact = personalization.contact_context({"properties": {"many": list(range(10_000))}})
    one = render("{% for x in contact.properties.many %}x{% endfor %}", contact=contact)
    nested = render(
        "{% for a in contact.properties.many %}{% for b in contact.properties.many %}"
        "{% for c in contact.properties.many %}x{% endfor %}{% endfor %}{% endfor %}",
        contact=contact,
    )
    assert len(one) == personalization.MAX_LOOP_ITEMS
    assert nested.count("x") <= personalization.MAX_LOOP_ITERATIONS


def test_floatformat_precision_is_capped():
    commerce = personalization.commerce_context({"total_spent": Decimal("12.5")})
    assert render('{{ commerce.total_spent|floatformat:"100000" }}', commerce=commerce) == "12.5000000000"
    assert render('{{ commerce.total_spent|floatformat:"100000g" }}', commerce=commerce) == "12.5000000000"
    assert render('{{ commerce.total_spent|floatformat:"-2" }}', commerce=commerce) == "12.50"
    assert render('{{ commerce.total_spent|floatformat:"x" }}', commerce=commerce) == "12.5"


def test_template_variables_document_every_reachable_name():
    names = personalization.TEMPLATE_VARIABLES
    for name in ("contact.email", "contact.first_name", "contact.phone", "contact.external_id", "company.name"):
        assert name in names
    for name in ("contact.fields.<name>", "contact.properties.<name>", "contact.key_information.<name>"):
        assert name in names
    for fact in ("total_spent", "order_count", "first_order_at", "last_order_at", "average_order_value"):
        assert f"commerce.{fact}" in names
    for fact in ("open_cart_value", "loyalty_balance", "loyalty_lifetime_points", "active_subscriptions"):
        assert f"commerce.{fact}" in names
    # Every documented name passes the check.
    for name in names:
        personalization.check_template("{{ " + name.replace("<name>", "x") + " }}", field="content")


@pytest.mark.django_db
def test_custom_fields_key_information_and_commerce_facts_are_reachable_when_sending():
    company = CompanyFactory(sender_email="news@shop.example")
    CustomFieldFactory(company=company, name="Birthday", field_type=FieldType.DATE)
    CustomFieldFactory(company=company, name="Loyalty tier", field_type=FieldType.TEXT)
    contact = ContactFactory(
        company=company,
        email="k@example.com",
        first_name="Kim",
        fields=[{"name": "Birthday", "value": "1990-04-02"}, {"name": "Loyalty tier", "value": "Gold"}],
    )
    KeyInformation.objects.create(contact=contact, name="Favourite colour", text_value="teal")
    KeyInformation.objects.create(contact=contact, name="Shoe size", numeric_value=Decimal("42"))
    CommerceFactsFactory(
        contact=contact,
        total_spent=Decimal("1234.50"),
        order_count=3,
        average_order_value=Decimal("411.50"),
        loyalty_balance=120,
        lifetime_points=900,
        last_order_at=datetime(2026, 11, 2, 12, tzinfo=UTC),
    )
    campaign = make_campaign(
        company,
        content=(
            "<p>{{ contact.fields.loyalty_tier }} since {{ contact.fields.Birthday|date:'j M' }};"
            " likes {{ contact.key_information.favourite_colour }}, size {{ contact.key_information.shoe_size }};"
            " spent {{ commerce.total_spent }} over {{ commerce.order_count }} orders"
            " (avg {{ commerce.average_order_value }}), last {{ commerce.last_order_at|date:'Y-m-d' }},"
            " points {{ commerce.loyalty_balance }}/{{ commerce.loyalty_lifetime_points }}</p>"
        ),
    )
    rendering.freeze(campaign)
    recipient = CampaignRecipient.objects.create(campaign=campaign, contact=contact, email=contact.email)

    [message] = rendering.prepare(campaign).render_batch([recipient])

    assert (
        b"Gold since 2 Apr; likes teal, size 42; spent 1234.50 over 3 orders (avg 411.50), last 2026-11-02,"
        b" points 120/900" in message.data
    )
