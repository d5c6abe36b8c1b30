"""Whether a contact can be mailed: one definition for the badge of every dashboard page (the
contact list, the contact page, a list's members) and the `mailability` column of every export.

A contact's consent status alone does not say it: a blacklisted address keeps its "subscribed"
status, and so does a contact erased or known by phone only. The first state that applies wins:

    erased > blacklisted > bounced > unsubscribed > no email > pending > subscribed

"pending" (a double opt-in subscription not confirmed yet) and a list's own "unsubscribed" only
exist in a list's view: a list's members, a list's export, the contact list filtered by a list,
a contact's row per list. Outside a list the states end at "no email"; `subscribed` is then
exactly what `ContactQuerySet.mailable()` selects.

The state is computed in SQL (a CASE over the row and one EXISTS on the blacklist), so a page of
contacts costs no query more than the page itself.
"""

from django.db import models
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Subquery, Value, When

from .models import Contact, ContactList, ContactStatus, ListMembership, MembershipStatus, Suppression

# The annotation's name on contacts and memberships.
ANNOTATION = "mailability"


class Mailability(models.TextChoices):
    ERASED = "erased", "Erased"
    BLACKLISTED = "blacklisted", "Blacklisted"
    BOUNCED = "bounced", "Bounced"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    NO_EMAIL = "no_email", "No email"
    PENDING = "pending", "Pending confirmation"
    SUBSCRIBED = "subscribed", "Subscribed"


# Why a contact in each state gets no email, as the end of a sentence.
NOT_MAILED_BECAUSE = {
    Mailability.ERASED: "the contact was erased",
    Mailability.BLACKLISTED: "the address is on the blacklist",
    Mailability.BOUNCED: "the address bounced",
    Mailability.UNSUBSCRIBED: "the contact unsubscribed",
    Mailability.NO_EMAIL: "the contact has no email address",
    Mailability.PENDING: "the contact has not confirmed the subscription yet (a confirmation email is on its way)",
}


def not_mailed_summary(counts: dict[str, int]) -> str:
    """Counts by state as the end of a sentence, in the states' order of precedence:
    "2 because the address is on the blacklist, 1 because the contact unsubscribed"."""
    return ", ".join(
        f"{counts[state]} because {NOT_MAILED_BECAUSE[state]}"
        for state in Mailability
        if counts.get(state) and state in NOT_MAILED_BECAUSE
    )


def mailability_expression(*, contact: str = "", membership_status: str | None = None) -> Case:
    """The state as a SQL expression.

    `contact` is the path from the queryset's model to the contact ("" on Contact, "contact__" on
    ListMembership); `membership_status` names the field (or annotation) holding the status of the
    membership of the list in view, None outside a list."""
    suppressed = Suppression.objects.filter(
        company_id=OuterRef(f"{contact}company_id"), email=OuterRef(f"{contact}email")
    )
    unsubscribed = Q(**{f"{contact}status": ContactStatus.UNSUBSCRIBED})
    if membership_status:
        unsubscribed |= Q(**{membership_status: MembershipStatus.UNSUBSCRIBED})
    states = [
        When(Q(**{f"{contact}erased_at__isnull": False}), then=Value(Mailability.ERASED.value)),
        When(Exists(suppressed), then=Value(Mailability.BLACKLISTED.value)),
        When(Q(**{f"{contact}status": ContactStatus.BOUNCED}), then=Value(Mailability.BOUNCED.value)),
        When(unsubscribed, then=Value(Mailability.UNSUBSCRIBED.value)),
        When(Q(**{f"{contact}email": ""}), then=Value(Mailability.NO_EMAIL.value)),
    ]
    if membership_status:
        states.append(When(Q(**{membership_status: MembershipStatus.PENDING}), then=Value(Mailability.PENDING.value)))
    return Case(*states, default=Value(Mailability.SUBSCRIBED.value), output_field=models.CharField())


def contacts_with_mailability(contacts: QuerySet[Contact], *, contact_list_id: int | None = None) -> QuerySet[Contact]:
    """Contacts annotated with `mailability`; as members of `contact_list_id` when given."""
    if contact_list_id is None:
        return contacts.annotate(**{ANNOTATION: mailability_expression()})
    status = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list_id=contact_list_id).values("status")
    return contacts.annotate(
        list_membership_status=Subquery(status[:1]),
        **{ANNOTATION: mailability_expression(membership_status="list_membership_status")},
    )


def memberships_with_mailability(memberships: QuerySet[ListMembership]) -> QuerySet[ListMembership]:
    """Memberships annotated with their contact's `mailability` as a member of that list."""
    return memberships.annotate(**{ANNOTATION: mailability_expression(contact="contact__", membership_status="status")})


def mailability_of(contact: Contact, contact_list: ContactList | None = None) -> Mailability:
    """One contact's state as stored now (as a member of `contact_list` when given)."""
    contacts = Contact.objects.filter(pk=contact.pk)
    list_id = contact_list.pk if contact_list is not None else None
    return Mailability(
        contacts_with_mailability(contacts, contact_list_id=list_id).values_list(ANNOTATION, flat=True).get()
    )
