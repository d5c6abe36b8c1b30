import re

import django_filters
from django import forms
from django.db.models import CharField, F, Func, Q, Value

from .models import Contact, ContactStatus, ListMembership, MembershipStatus
from .tags import EQUALS, TagsMatch

MAX_SEARCH_LENGTH = 200
# The text columns a search reads; each word of a search must be in one of them.
SEARCHED_COLUMNS = ("email", "first_name", "last_name")
# A search made only of these (and holding a few digits) is a phone number as people type it:
# "+33 6 12", "06 12 34", "(555) 0123".
_PHONE_LIKE = re.compile(r"[0-9+()./\s-]+")
_NOT_DIGIT = re.compile(r"[^0-9]")
# Characters a stored phone may hold beside its digits (E.164's "+", or one kept as given).
_PHONE_PUNCTUATION = ("+", " ", "-", ".", "(", ")", "/")
MIN_PHONE_DIGITS = 3
SQLITE_UPPER = "salloq_upper"


class IdFilter(django_filters.NumberFilter):
    """A row id. Read by int() (IntegerField), so 1e400 or 5,000 digits are "Enter a whole number":
    NumberFilter's DecimalField took 1e400 and then crashed in its step-size check."""

    field_class = forms.IntegerField


def _python_upper(value: str | None) -> str | None:
    return None if value is None else value.upper()


class UnicodeUpper(Func):
    """UPPER for every alphabet on both databases, so a search for MÜLLER finds Müller.

    PostgreSQL's UPPER follows the database's Unicode locale. SQLite's upper() and LIKE fold
    ASCII letters only, so there it is Python's str.upper, registered on the connection."""

    function = "UPPER"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        connection.ensure_connection()
        # Registering again replaces the same function: cheap, and sure to be on this connection.
        connection.connection.create_function(SQLITE_UPPER, 1, _python_upper, deterministic=True)
        return self.as_sql(compiler, connection, function=SQLITE_UPPER, **extra_context)


def _phone_digits(expression):
    """The digits of a stored phone, its punctuation removed in SQL."""
    for character in _PHONE_PUNCTUATION:
        expression = Func(expression, Value(character), Value(""), function="REPLACE", output_field=CharField())
    return expression


def search_condition(term: str) -> Q:
    """Every word of `term` in the email, first or last name (any case, any alphabet); a word
    with digits also matches the phone's digits. A term that reads as a phone number ("+33 6 12",
    "0612") is one word; leading zeros (a national or international prefix) are left out, so
    "06 12" finds +33612345678."""
    term = (term or "").strip()
    digits = _NOT_DIGIT.sub("", term)
    words = [term] if _PHONE_LIKE.fullmatch(term) and len(digits) >= MIN_PHONE_DIGITS else term.split()
    condition = Q()
    for word in words:
        upper_word = UnicodeUpper(Value(word))
        matches = Q()
        for column in SEARCHED_COLUMNS:
            matches |= Q(**{f"_search_{column}__contains": upper_word})
        word_digits = _NOT_DIGIT.sub("", word).lstrip("0")
        if word_digits and _PHONE_LIKE.fullmatch(word):
            matches |= Q(_search_phone__contains=word_digits)
        condition &= matches
    return condition


def search(queryset, term: str):
    """Contacts matching `term` (see search_condition)."""
    if not (term or "").strip():
        return queryset
    columns = {f"_search_{column}": UnicodeUpper(F(column)) for column in SEARCHED_COLUMNS}
    return queryset.alias(**columns, _search_phone=_phone_digits(F("phone"))).filter(search_condition(term))


class ContactFilterSet(django_filters.FilterSet):
    """The Salloq Marketing API's contact filters; shared by GET /api/contacts and the dashboard's contact list."""

    status = django_filters.ChoiceFilter(choices=ContactStatus.choices)
    # A whole number the id column can hold: 1.5 or 10^30 are a 400, not a query the database refuses.
    list_id = IdFilter(method="filter_list", min_value=1, max_value=2**63 - 1)
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=MAX_SEARCH_LENGTH,
        error_messages={
            "max_length": "The search is too long: at most %(limit_value)d characters (this one has %(show_value)d)."
        },
    )
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
        return search(queryset, value)

    def filter_tag(self, queryset, name, value):
        # Case-insensitive, as a segment's "tags equals" rule.
        return queryset.filter(Q(TagsMatch(EQUALS, [value])))
