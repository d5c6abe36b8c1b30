"""Which contact an order, a subscription or a shop's customer belongs to.

A reference names the contact by `contact_id`, else `email`, else `customer_id` (the shop's own
customer id, stored as the contact's external_id), and may carry names and a phone. Known contacts
are found in one query for the whole batch; the missing ones are created through the contacts app's
bulk upsert (one call), so a contact made from an order is made exactly as one sent to
POST /api/contacts/bulk would be: nobody unsubscribed or blacklisted is subscribed again (no status
is ever sent), and a phone that cannot be normalized (a shop's "555-0123") is kept as given with
phone_valid False instead of stopping the contact. A known contact only gets the names and phone it
lacks. Erased contacts are never found: the person coming back is a new contact.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Q

from contacts.bulk import contacts_bulk_upsert
from contacts.consent_policy import ConsentContext
from contacts.contact_input import MAX_ID, MAX_LENGTHS, normalize_email
from contacts.models import Contact
from salloq.core.models import Company
from salloq.core.text import text_problem

# Recorded with the consent record of a contact created from commerce data.
CONSENT = ConsentContext(source="commerce")
NO_REFERENCE = "Name the contact: contact_id, email or customer_id."
UNKNOWN_CONTACT = "No contact with this id."
# What a known contact is given when it lacks it.
FILLED = ("first_name", "last_name", "phone")


@dataclass
class Resolution:
    """One reference's contact, or the errors (by field of the reference) that kept it from one."""

    contact_id: int | None = None
    created: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class _Ref:
    contact_id: int | None = None
    email: str = ""
    customer_id: str = ""
    extras: dict[str, str] = field(default_factory=dict)


def resolve_contacts(*, company: Company, refs: list[dict], create: bool = True) -> list[int | None]:
    """Each reference's contact id, in order; None where it names no contact (or names one badly)."""
    return [
        resolution.contact_id for resolution in resolve_contacts_detailed(company=company, refs=refs, create=create)
    ]


def resolve_contacts_detailed(*, company: Company, refs: list[dict], create: bool = True) -> list[Resolution]:
    """resolve_contacts with the reason a reference found no contact, by field ("email": [...])."""
    results = [Resolution() for _ in refs]
    cleaned: dict[int, _Ref] = {}
    for index, raw in enumerate(refs):
        ref = _clean(raw, results[index].errors)
        if ref is not None and not results[index].errors:
            cleaned[index] = ref
    if not cleaned:
        return results

    by_pk, by_email, by_external_id = _known(company, cleaned.values())
    # One bulk item per contact to create or complete, keyed by the identity it is found by.
    upserts: dict[tuple[str, str], dict] = {}
    pending: dict[int, tuple[str, str]] = {}
    for index, ref in cleaned.items():
        if ref.contact_id is not None:
            row = by_pk.get(ref.contact_id)
            if row is None:
                results[index].errors["contact_id"] = [UNKNOWN_CONTACT]
                continue
        else:
            row = (by_email.get(ref.email) if ref.email else None) or by_external_id.get(ref.customer_id or "")
        if row is not None:
            results[index].contact_id = row["pk"]
            missing = {name: value for name, value in ref.extras.items() if value and not row[name]}
            if missing and create:
                identity = ("email", row["email"]) if row["email"] else ("external_id", row["external_id"])
                if identity[1]:  # a contact known by its phone only cannot be named to the bulk upsert
                    upserts.setdefault(identity, {identity[0]: identity[1]}).update(missing)
            continue
        if not create:
            continue
        identity = ("email", ref.email) if ref.email else ("external_id", ref.customer_id)
        item = upserts.setdefault(identity, {identity[0]: identity[1]})
        if ref.email and ref.customer_id:
            item.setdefault("external_id", ref.customer_id)
        for name, value in ref.extras.items():
            if value:
                item.setdefault(name, value)
        pending[index] = identity

    if upserts:
        identities = list(upserts)
        written = contacts_bulk_upsert(company=company, items=[upserts[key] for key in identities], consent=CONSENT)
        outcomes = dict(zip(identities, written, strict=True))
        for index, identity in pending.items():
            outcome = outcomes[identity]
            if outcome.contact_id is None:
                errors = outcome.errors or {"email": ["The contact could not be saved."]}
                results[index].errors.update(
                    {
                        ("customer_id" if name == "external_id" else name): list(messages)
                        for name, messages in errors.items()
                    }
                )
            else:
                results[index].contact_id = outcome.contact_id
                results[index].created = outcome.status == "created"
    return results


def _clean(raw, errors: dict[str, list[str]]) -> _Ref | None:
    if not isinstance(raw, dict):
        errors["contact"] = ["A contact reference is an object: contact_id, email or customer_id."]
        return None
    ref = _Ref()
    contact_id = raw.get("contact_id")
    if contact_id is not None:
        if isinstance(contact_id, bool) or not isinstance(contact_id, int) or not 1 <= contact_id <= MAX_ID:
            errors["contact_id"] = ["Must be a contact's id (a whole number of 1 or more)."]
        else:
            ref.contact_id = contact_id
    email = raw.get("email")
    if email not in (None, ""):
        if not isinstance(email, str) or text_problem(email):
            errors["email"] = ["Enter a valid email address."]
        else:
            try:
                ref.email = normalize_email(email)
            except ValidationError as exc:
                errors["email"] = exc.message_dict["email"]
    customer_id = raw.get("customer_id")
    if customer_id not in (None, ""):
        text = (
            str(customer_id).strip() if isinstance(customer_id, str | int) and not isinstance(customer_id, bool) else ""
        )
        if not text or text_problem(text) or len(text) > MAX_LENGTHS["external_id"]:
            errors["customer_id"] = [
                f"Must be a text or a whole number of 1 to {MAX_LENGTHS['external_id']} characters."
            ]
        else:
            ref.customer_id = text
    for name in FILLED:
        value = raw.get(name)
        if isinstance(value, str) and value.strip() and not text_problem(value) and len(value) <= MAX_LENGTHS[name]:
            ref.extras[name] = value.strip()
    if not errors and ref.contact_id is None and not ref.email and not ref.customer_id:
        errors["contact"] = [NO_REFERENCE]
    return ref


def _known(company: Company, refs) -> tuple[dict, dict, dict]:
    """The company's live contacts the references name, by id, email and external id (one query)."""
    pks = {ref.contact_id for ref in refs if ref.contact_id is not None}
    emails = {ref.email for ref in refs if ref.contact_id is None and ref.email}
    external_ids = {ref.customer_id for ref in refs if ref.contact_id is None and ref.customer_id}
    condition = Q(pk__in=pks) | Q(email__in=emails) | Q(external_id__in=external_ids)
    rows = (
        Contact.objects.for_company(company)
        .filter(erased_at__isnull=True)
        .filter(condition)
        .order_by()
        .values("pk", "email", "external_id", *FILLED)
    )
    by_pk, by_email, by_external_id = {}, {}, {}
    for row in rows:
        by_pk[row["pk"]] = row
        if row["email"]:
            by_email[row["email"]] = row
        if row["external_id"]:
            by_external_id[row["external_id"]] = row
    return by_pk, by_email, by_external_id
