"""The factories make what their docstrings promise: service-made rows, consistent companies."""

from datetime import UTC, datetime

import pytest

from contacts.models import ConsentAction, ConsentRecord, ContactStatus, MembershipStatus
from contacts.segments import segment_contacts
from tests.factories import (
    ContactFactory,
    ContactListFactory,
    CustomFieldFactory,
    ListMembershipFactory,
    SegmentFactory,
)

pytestmark = pytest.mark.django_db


def test_a_contact_is_made_by_the_upsert_service(company):
    CustomFieldFactory(company=company, name="Points", field_type="number")
    backdated = datetime(2024, 1, 2, tzinfo=UTC)
    contact = ContactFactory(
        company=company, email=" Ann@Example.COM ", tags=["vip"], fields={"Points": 3}, created_at=backdated
    )
    contact.refresh_from_db()
    assert (contact.email, contact.status, contact.tags) == ("ann@example.com", ContactStatus.SUBSCRIBED, ["vip"])
    assert contact.created_at == backdated
    assert contact.field_values.get().number_value == 3
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.action, record.source) == (ConsentAction.SUBSCRIBED, "test")


def test_a_membership_puts_a_contact_of_the_lists_company_in_the_list(company):
    membership = ListMembershipFactory(
        contact_list=ContactListFactory(company=company), status=MembershipStatus.PENDING
    )
    assert membership.contact.company_id == membership.contact_list.company_id == company.pk
    assert (membership.status, membership.contact_list.double_opt_in) == (MembershipStatus.PENDING, False)


def test_the_default_segment_selects_every_live_contact(company, other_company):
    ours, _theirs = ContactFactory(company=company), ContactFactory(company=other_company)
    segment = SegmentFactory(company=company)
    assert list(segment_contacts(company, segment.definition)) == [ours]
