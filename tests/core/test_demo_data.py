"""The demo company's data (`bin/run` on a fresh machine): written once through the services, every
segment it saves counts contacts, its draft campaign has recipients and renders, and a company
already in use is never touched."""

import pytest

from campaigns.audience import audience_count
from campaigns.models import Campaign
from campaigns.rendering import render_preview
from catalog.models import CommerceFacts, Order, OrderLine, Product, Store
from contacts.models import Contact, ContactList, Segment
from contacts.segments.definitions import segment_contacts
from events.dispatch import dispatch_events
from events.models import Event
from salloq.demo_data import CONTACT_COUNT, PRODUCTS, seed_demo_data
from tests.factories import CompanyFactory, ContactFactory

pytestmark = pytest.mark.django_db


def test_the_demo_data_is_written_once_and_its_segments_find_contacts():
    company = CompanyFactory()

    assert seed_demo_data(company) is True

    contacts = Contact.objects.for_company(company)
    assert contacts.count() == CONTACT_COUNT
    assert contacts.filter(status="unsubscribed").exists()
    assert set(ContactList.objects.for_company(company).values_list("name", flat=True)) == {"Newsletter", "VIP"}
    assert Event.objects.for_company(company).filter(event_type="order_placed").exists()
    assert Product.objects.for_company(company).count() == len(PRODUCTS)
    assert Store.objects.for_company(company).exists()

    # What the worker does with the events: orders, open carts and commerce facts.
    dispatch_events(list(Event.objects.for_company(company).values_list("pk", flat=True)))
    orders = Order.objects.for_company(company)
    assert orders.filter(completed=True).exists() and orders.filter(completed=False).exists()
    assert OrderLine.objects.filter(order__company=company, product__isnull=False).exists()
    assert CommerceFacts.objects.for_company(company).filter(order_count__gt=0).exists()
    for segment in Segment.objects.for_company(company):
        assert segment_contacts(company, segment.definition).exists(), segment.name

    campaign = Campaign.objects.for_company(company).get()
    assert campaign.status == "draft" and campaign.template is not None
    assert audience_count(company, list_ids=list(campaign.lists.values_list("pk", flat=True))) > 0
    buyer = Contact.objects.for_company(company).filter(commerce__order_count__gt=0).first()
    preview = render_preview(campaign, buyer)
    assert buyer.first_name in preview.subject and "Thank you for your" in preview.html
    assert "12 Rue des Parfums" in preview.html

    assert seed_demo_data(company) is False
    assert Contact.objects.for_company(company).count() == CONTACT_COUNT


def test_a_company_in_use_gets_no_demo_data():
    company = CompanyFactory()
    ContactFactory(company=company, email="real@example.com")

    assert seed_demo_data(company) is False
    assert list(Contact.objects.for_company(company).values_list("email", flat=True)) == ["real@example.com"]
