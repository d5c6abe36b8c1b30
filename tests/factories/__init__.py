"""Test data, built with factory_boy. Import from here: `from tests.factories import ContactFactory`.

Contacts, lists and custom fields are made through the services (normalized input, consent
records, the company's double opt-in default), like every entry point of the product makes them;
memberships and segments are plain rows, for tests that need a state the services would not
produce in one step.
"""

from tests.factories.catalog import (
    CollectionItemFactory,
    CommerceFactsFactory,
    OrderFactory,
    OrderLineFactory,
    ProductCatalogFactory,
    ProductCollectionFactory,
    ProductFactory,
    StoreFactory,
    SubscriptionFactory,
    order_with_lines,
)
from tests.factories.contacts import (
    TEST_CONSENT,
    ContactFactory,
    ContactListFactory,
    CustomFieldFactory,
    ListMembershipFactory,
    SegmentFactory,
)
from tests.factories.core import CompanyFactory, MembershipFactory, UserFactory, make_api_key

__all__ = [
    "TEST_CONSENT",
    "CollectionItemFactory",
    "CommerceFactsFactory",
    "CompanyFactory",
    "ContactFactory",
    "ContactListFactory",
    "CustomFieldFactory",
    "ListMembershipFactory",
    "MembershipFactory",
    "OrderFactory",
    "OrderLineFactory",
    "ProductCatalogFactory",
    "ProductCollectionFactory",
    "ProductFactory",
    "SegmentFactory",
    "StoreFactory",
    "SubscriptionFactory",
    "UserFactory",
    "make_api_key",
    "order_with_lines",
]
