"""Writes for stores (the Splio Data API 1.9's stores): create or update by the merchant's own id."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from salloq.core.models import Company

from ..models import Store
from ..order_input import InputError, clean_store


@dataclass
class StoreResult:
    store: Store
    created: bool
    changed: bool


def _invalid(exc: InputError) -> ValidationError:
    return ValidationError(exc.errors)


def _apply(store: Store, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(store, name) != value:
            setattr(store, name, value)
            changed = True
    return changed


@transaction.atomic
def store_upsert(*, company: Company, data: dict) -> StoreResult:
    """Create the store `data["external_id"]` names, or update the fields given of the one that has it.
    Creating needs external_id and name; channel defaults to online. ValidationError names the fields."""
    try:
        values = clean_store(data, partial=False)
    except InputError as exc:
        raise _invalid(exc) from None
    store = Store.objects.for_company(company).select_for_update().filter(external_id=values["external_id"]).first()
    if store is not None:
        return store_update(store=store, data=data)
    store = Store(company=company, **values)
    try:
        with transaction.atomic():
            store.save()
    except IntegrityError:  # created meanwhile by a concurrent request: update that one
        store = Store.objects.for_company(company).select_for_update().get(external_id=values["external_id"])
        return store_update(store=store, data=data)
    return StoreResult(store=store, created=True, changed=True)


@transaction.atomic
def store_update(*, store: Store, data: dict) -> StoreResult:
    """Change the fields given (the Splio Data API 1.9's PUT: only new or updated data is needed).
    The external id cannot change."""
    try:
        values = clean_store(data, external_id=store.external_id, partial=True)
    except InputError as exc:
        raise _invalid(exc) from None
    changed = _apply(store, values)
    if changed:
        store.updated_at = timezone.now()
        store.save()
    return StoreResult(store=store, created=False, changed=changed)
