import django_filters
from django import forms

from .models import Contact, ContactStatus, ListMembership, MembershipStatus
from .tags import has_tag


class IdFilter(django_filters.NumberFilter):
    """A row id. Read by int() (IntegerField), so 1e400 or 5,000 digits are "Enter a whole number":
    NumberFilter's DecimalField took 1e400 and then crashed in its step-size check."""

    field_class = forms.IntegerField


class ContactFilterSet(django_filters.FilterSet):
    """Seed 000's contact filters; shared by GET /api/contacts and the dashboard's contact list."""

    status = django_filters.ChoiceFilter(choices=ContactStatus.choices)
    # A whole number the id column can hold: 1.5 or 10^30 are a 400, not a query the database refuses.
    list_id = IdFilter(method="filter_list", min_value=1, max_value=2**63 - 1)
    search = django_filters.CharFilter(method="filter_search", max_length=200)
    tag = django_filters.CharFilter(method="filter_tag", max_length=100)

    class Meta:
        model = Contact
        fields = ["status", "list_id", "search", "tag"]

    def filter_list(self, queryset, name, value):
        # Members of the list who have not left it (subscribed or pending confirmation).
        memberships = ListMembership.objects.filter(
            contact_list_id=value, status__in=[MembershipStatus.SUBSCRIBED, MembershipStatus.PENDING]
        )
        return queryset.filter(pk__in=memberships.values("contact_id"))

    def filter_search(self, queryset, name, value):
        return queryset.search(value)

    def filter_tag(self, queryset, name, value):
        return queryset.filter(has_tag(value))
