"""Writes of product collections (SALESmanago API v3 product/collection/*): create a collection in a
catalog, add or remove products for contacts (up to 1000 contact entries a call, each with up to 100
product ids), delete a collection.

Adding and removing are set-based: one query finds the entries' contacts (by our contact id or by
email), one the catalog's products they name, one statement writes or deletes the items. An entry
whose contact is unknown, or that names a product the catalog does not have, is reported with its
reason code and changes nothing; the other entries go through ("Products added for 1 out of 2
contacts").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from contacts.models import Contact
from salloq.core.api.fields import MAX_ID
from salloq.core.models import Company
from salloq.core.uuids import parse_uuid

from ..models import CollectionItem, Product, ProductCatalog, ProductCollection
from ..product_input import Reason

MAX_ENTRIES = 1000
MAX_PRODUCTS_PER_ENTRY = 100
PRODUCT_ID_MAX_LENGTH = 255
NAME_MAX_LENGTH = 255
ENTRY_FIELDS = {"contact_id", "email", "product_ids"}


def _refuse(name: str, message: str, code: str) -> ValidationError:
    return ValidationError({name: ValidationError(message, code=code)})


def catalog_for_reference(company: Company, raw: Any, *, name: str = "catalog_id") -> ProductCatalog:
    """The company's catalog a body names by its public UUID (another company's is unknown: reason 16)."""
    try:
        public_id = parse_uuid(raw) if isinstance(raw, str) else raw if isinstance(raw, uuid.UUID) else None
    except ValueError:
        public_id = None
    if public_id is None:
        if raw is None:
            raise _refuse(name, "This field is required.", "required")
        raise _refuse(name, "Must be a catalog's UUID.", "structure")
    catalog = ProductCatalog.objects.for_company(company).filter(public_id=public_id).first()
    if catalog is None:
        raise _refuse(name, "No such catalog.", "not_found")
    return catalog


def collection_create(*, company: Company, catalog: ProductCatalog, name: Any) -> ProductCollection:
    """A new collection in `catalog`; its name is unique per catalog (code "unique" otherwise)."""
    if catalog.company_id != company.pk:
        raise _refuse("catalog_id", "No such catalog.", "not_found")
    if not isinstance(name, str):
        raise _refuse("name", "Must be a string." if name is not None else "This field is required.", "invalid_type")
    name = name.strip()
    if not name:
        raise _refuse("name", "This field is required and cannot be blank.", "required")
    if len(name) > NAME_MAX_LENGTH:
        raise _refuse("name", f"At most {NAME_MAX_LENGTH} characters ({len(name)}).", "exceeds_limit")
    if ProductCollection.objects.filter(catalog=catalog, name=name).exists():
        raise _refuse("name", "The catalog already has a collection with this name.", "unique")
    try:
        with transaction.atomic():
            return ProductCollection.objects.create(company=company, catalog=catalog, name=name)
    except IntegrityError:
        raise _refuse("name", "The catalog already has a collection with this name.", "unique") from None


def collection_delete(*, collection: ProductCollection) -> None:
    """Delete the collection and every contact's products in it (irreversible)."""
    collection.delete()


@dataclass
class EntryProblem:
    index: int
    errors: dict[str, list[str]]
    reason: int

    def answer(self) -> dict[str, Any]:
        return {"index": self.index, "errors": self.errors, "reason": self.reason}


@dataclass
class CollectionChange:
    """What an add or remove did: entries done out of entries sent, and each refused entry."""

    action: str  # "added" or "removed"
    done: int
    total: int
    problems: list[EntryProblem] = field(default_factory=list)
    changed_items: int = 0

    @property
    def message(self) -> str:
        verb = "added" if self.action == "added" else "removed"
        return f"Products {verb} for {self.done} out of {self.total} contacts."

    def answer(self) -> dict[str, Any]:
        return {
            "success": self.done == self.total,
            "message": self.message,
            "contacts_done": self.done,
            "contacts_total": self.total,
            "items_changed": self.changed_items,
            "problems": [problem.answer() for problem in self.problems],
        }


@dataclass
class _Entry:
    index: int
    contact_id: int | None
    email: str | None
    product_ids: list[str]


def _parse_entries(entries: Any) -> tuple[list[_Entry], list[EntryProblem]]:
    if not isinstance(entries, list):
        raise _refuse("contacts", "Must be a list of {contact_id or email, product_ids} entries.", "invalid_type")
    if not entries:
        raise _refuse("contacts", "Send at least one entry.", "required")
    if len(entries) > MAX_ENTRIES:
        raise _refuse(
            "contacts", f"At most {MAX_ENTRIES} contact entries per request ({len(entries)} sent).", "resource_limit"
        )
    parsed, problems = [], []
    for index, raw in enumerate(entries):
        entry, problem = _parse_entry(index, raw)
        if problem:
            problems.append(problem)
        else:
            parsed.append(entry)
    return parsed, problems


def _parse_entry(index: int, raw: Any) -> tuple[_Entry | None, EntryProblem | None]:
    def refused(name: str, message: str, reason: Reason):
        return None, EntryProblem(index, {name: [message]}, int(reason))

    if not isinstance(raw, dict):
        return refused("entry", "Each entry is an object: {contact_id or email, product_ids}.", Reason.WRONG_TYPE)
    unknown = sorted(set(raw) - ENTRY_FIELDS)
    if unknown:
        return refused(unknown[0], "Unknown field.", Reason.STRUCTURE)
    contact_id, email = raw.get("contact_id"), raw.get("email")
    if contact_id is None and email is None:
        return refused("contact_id", "Name the contact by contact_id or email.", Reason.MISSING)
    if contact_id is not None and (isinstance(contact_id, bool) or not isinstance(contact_id, int)):
        return refused("contact_id", "Must be an integer.", Reason.WRONG_TYPE)
    if email is not None and not isinstance(email, str):
        return refused("email", "Must be a string.", Reason.WRONG_TYPE)
    product_ids = raw.get("product_ids")
    if product_ids is None:
        return refused(
            "product_ids", "This field is required.", Reason.MISSING if "product_ids" not in raw else Reason.NULL
        )
    if not isinstance(product_ids, list) or not all(isinstance(p, str) for p in product_ids):
        return refused("product_ids", "Must be a list of product ids (strings).", Reason.WRONG_TYPE)
    if not product_ids:
        return refused("product_ids", "Give at least one product id.", Reason.MISSING)
    if len(product_ids) > MAX_PRODUCTS_PER_ENTRY:
        return refused(
            "product_ids",
            f"At most {MAX_PRODUCTS_PER_ENTRY} product ids ({len(product_ids)} sent).",
            Reason.EXCEEDS_LIMIT,
        )
    if any(len(p) > PRODUCT_ID_MAX_LENGTH for p in product_ids):
        return refused(
            "product_ids", f"Product ids are at most {PRODUCT_ID_MAX_LENGTH} characters.", Reason.EXCEEDS_LIMIT
        )
    return _Entry(index, contact_id, email.strip().lower() if email else None, list(dict.fromkeys(product_ids))), None


def _resolve(collection: ProductCollection, entries: list[_Entry], problems: list[EntryProblem]):
    """Each entry's contact id and product pks, one query each; entries that cannot be resolved become problems."""
    ids = {e.contact_id for e in entries if e.contact_id is not None and 1 <= e.contact_id <= MAX_ID}
    emails = {e.email for e in entries if e.contact_id is None and e.email}
    contacts = Contact.objects.for_company(collection.company_id).filter(erased_at__isnull=True)
    by_id, by_email = set(), {}
    if ids or emails:
        for pk, email in contacts.filter(Q(pk__in=ids) | Q(email__in=emails)).values_list("pk", "email"):
            by_id.add(pk)
            by_email[email] = pk
    wanted = {p for e in entries for p in e.product_ids}
    products = dict(
        Product.objects.filter(catalog_id=collection.catalog_id, product_id__in=wanted).values_list("product_id", "pk")
    )
    resolved = []
    for entry in entries:
        # Our contact id when the entry gives one, else its email.
        contact = (
            (entry.contact_id if entry.contact_id in by_id else None)
            if entry.contact_id is not None
            else by_email.get(entry.email)
        )
        if contact is None:
            name = "contact_id" if entry.contact_id is not None else "email"
            problems.append(EntryProblem(entry.index, {name: ["No such contact."]}, int(Reason.UNKNOWN)))
            continue
        missing = [p for p in entry.product_ids if p not in products]
        if missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            message = f"Not in the collection's catalog: {shown}."
            problems.append(EntryProblem(entry.index, {"product_ids": [message]}, int(Reason.UNKNOWN)))
            continue
        resolved.append((contact, [products[p] for p in entry.product_ids]))
    return resolved


def collection_add_products(*, collection: ProductCollection, entries: Any) -> CollectionChange:
    """Add products to contacts' collection; entries are {contact_id or email, product_ids}."""
    parsed, problems = _parse_entries(entries)
    resolved = _resolve(collection, parsed, problems)
    items = [
        CollectionItem(collection_id=collection.pk, contact_id=contact, product_id=product)
        for contact, products in resolved
        for product in products
    ]
    # These contacts' items before and after: ignore_conflicts does not say how many rows were new.
    held = CollectionItem.objects.filter(collection=collection, contact_id__in={contact for contact, _ in resolved})
    before = held.count() if items else 0
    CollectionItem.objects.bulk_create(items, ignore_conflicts=True)
    after = held.count() if items else 0
    problems.sort(key=lambda problem: problem.index)
    return CollectionChange("added", len(resolved), len(entries), problems, after - before)


def collection_remove_products(*, collection: ProductCollection, entries: Any) -> CollectionChange:
    """Remove products from contacts' collection; a product the contact does not have is no change."""
    parsed, problems = _parse_entries(entries)
    resolved = _resolve(collection, parsed, problems)
    condition = Q()
    for contact, products in resolved:
        condition |= Q(contact_id=contact, product_id__in=products)
    deleted = 0
    if resolved:
        deleted, _ = CollectionItem.objects.filter(collection=collection).filter(condition).delete()
    problems.sort(key=lambda problem: problem.index)
    return CollectionChange("removed", len(resolved), len(entries), problems, deleted)
