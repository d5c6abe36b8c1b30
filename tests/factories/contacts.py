import factory

from contacts import services
from contacts.models import Contact, ContactList, CustomField, FieldType, ListMembership, MembershipStatus, Segment
from tests.factories.core import CompanyFactory

# Where a factory-made contact came from, in its consent records.
TEST_CONSENT = services.ConsentContext(source="test")


class ContactFactory(factory.django.DjangoModelFactory):
    """A contact made by `contact_upsert`: every other keyword is upsert data (first_name, status,
    tags, properties, fields, lists...), `consent` is the ConsentContext of the write, and
    `created_at` backdates the contact (the service stamps it now)."""

    class Meta:
        model = Contact

    company = factory.SubFactory(CompanyFactory)
    email = factory.Sequence(lambda n: f"contact{n}@example.com")

    @classmethod
    def _create(cls, model_class, company, consent=TEST_CONSENT, created_at=None, **data):
        contact = services.contact_upsert(company=company, data=data, consent=consent).contact
        if created_at is not None:
            model_class.objects.filter(pk=contact.pk).update(created_at=created_at)
            contact.created_at = created_at
        return contact


class ContactListFactory(factory.django.DjangoModelFactory):
    """A list made by `contact_list_create`; single opt-in unless `double_opt_in` says otherwise
    (None: the company's default)."""

    class Meta:
        model = ContactList

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"List {n}")
    double_opt_in = False

    @classmethod
    def _create(cls, model_class, company, **attributes):
        return services.contact_list_create(company=company, **attributes)


class ListMembershipFactory(factory.django.DjangoModelFactory):
    """A membership row as given (any status, no consent record, no confirmation email)."""

    class Meta:
        model = ListMembership

    contact_list = factory.SubFactory(ContactListFactory)
    contact = factory.SubFactory(ContactFactory, company=factory.SelfAttribute("..contact_list.company"))
    status = MembershipStatus.SUBSCRIBED


class CustomFieldFactory(factory.django.DjangoModelFactory):
    """A custom field made by `custom_field_create` (its name and choices checked)."""

    class Meta:
        model = CustomField

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Field {n}")
    field_type = FieldType.TEXT

    @classmethod
    def _create(cls, model_class, company, **attributes):
        return services.custom_field_create(company=company, **attributes)


class SegmentFactory(factory.django.DjangoModelFactory):
    """A segment row; the default definition (no rules) selects every contact."""

    class Meta:
        model = Segment

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Segment {n}")
    definition = factory.LazyFunction(lambda: {"operator": "and", "rules": []})
