"""Writes of product catalogs (SALESmanago API v3 catalogUpsert): create or update, one default per company."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pycountry
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from salloq.core.models import Company
from salloq.core.uuids import parse_uuid

from ..models import ProductCatalog

NAME_PATTERN = re.compile(r"[A-Za-z0-9_]+")
NAME_MAX_LENGTH = 64
LOCATION_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LOCATION_MAX_LENGTH = 255
CATALOG_FIELDS = ("catalog_id", "name", "currency", "location", "is_default")
# ISO 4217 codes that name no currency: "no currency" and "for testing".
NOT_CURRENCIES = {"XXX", "XTS"}
DEFAULT_NAME = "default"


def currency_problem(code: str) -> str | None:
    """Why `code` is not a current ISO 4217 currency (pycountry's list), or None."""
    if not re.fullmatch(r"[A-Z]{3}", code):
        return "Use an ISO 4217 currency code: three capital letters, e.g. USD or EUR."
    if code in NOT_CURRENCIES or pycountry.currencies.get(alpha_3=code) is None:
        return f"'{code}' is not a current ISO 4217 currency code (unknown or withdrawn, such as DEM or FRF)."
    return None


def _error(errors: dict, name: str, message: str, code: str) -> None:
    errors.setdefault(name, []).append(ValidationError(message, code=code))


def _text(errors: dict, data: dict, name: str, *, required: bool) -> str | None:
    if name not in data:
        if required:
            _error(errors, name, "This field is required.", "required")
        return None
    value = data[name]
    if value is None:
        _error(errors, name, "This field cannot be null.", "null")
    elif not isinstance(value, str):
        _error(errors, name, "Must be a string.", "invalid_type")
    else:
        return value
    return None


def _clean(data: dict, *, creating: bool) -> dict[str, Any]:
    errors: dict[str, list[ValidationError]] = {}
    for name in sorted(set(data) - set(CATALOG_FIELDS)):
        _error(errors, name, "Unknown field.", "structure")
    clean: dict[str, Any] = {}
    name = _text(errors, data, "name", required=creating)
    if name is not None:
        if len(name) > NAME_MAX_LENGTH:
            _error(errors, "name", f"At most {NAME_MAX_LENGTH} characters ({len(name)}).", "exceeds_limit")
        elif not NAME_PATTERN.fullmatch(name):
            _error(errors, "name", "Only letters (a-z, A-Z), digits and _ are allowed.", "structure")
        else:
            clean["name"] = name
    currency = _text(errors, data, "currency", required=creating)
    if currency is not None:
        problem = currency_problem(currency)
        if problem:
            _error(errors, "currency", problem, "structure")
        else:
            clean["currency"] = currency
    location = _text(errors, data, "location", required=creating)
    if location is not None:
        if len(location) > LOCATION_MAX_LENGTH:
            _error(errors, "location", f"At most {LOCATION_MAX_LENGTH} characters ({len(location)}).", "exceeds_limit")
        elif not LOCATION_PATTERN.fullmatch(location):
            _error(
                errors,
                "location",
                "Only letters, digits and _ are allowed, and it cannot start with a digit.",
                "structure",
            )
        else:
            clean["location"] = location
    if "is_default" in data:
        if not isinstance(data["is_default"], bool):
            _error(errors, "is_default", "Must be true or false.", "invalid_type")
        else:
            clean["is_default"] = data["is_default"]
    if errors:
        raise ValidationError(errors)
    return clean


def _catalog_by_public_id(company: Company, raw: Any) -> ProductCatalog:
    try:
        public_id = raw if isinstance(raw, uuid.UUID) else parse_uuid(raw) if isinstance(raw, str) else None
    except ValueError:
        public_id = None
    if public_id is None:
        raise ValidationError({"catalog_id": ValidationError("Must be a catalog's UUID.", code="invalid_type")})
    catalog = ProductCatalog.objects.for_company(company).filter(public_id=public_id).first()
    if catalog is None:
        raise ValidationError({"catalog_id": ValidationError("No such catalog.", code="not_found")})
    return catalog


def _check_unique(company: Company, catalog: ProductCatalog) -> None:
    others = ProductCatalog.objects.for_company(company).exclude(pk=catalog.pk)
    errors = {}
    if others.filter(name=catalog.name).exists():
        errors["name"] = ValidationError("Another catalog of the company has this name.", code="unique")
    if others.filter(location=catalog.location).exists():
        errors["location"] = ValidationError("Another catalog of the company has this location.", code="unique")
    if errors:
        raise ValidationError(errors)


def catalog_upsert(*, company: Company, data: dict) -> ProductCatalog:
    """Create a catalog (no catalog_id) or update the one catalog_id names (only the fields given).

    Name and location are unique per company (a clash is a ValidationError with code "unique");
    making a catalog the default takes the flag from the previous default in the same transaction."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ValidationError("Send an object of fields.", code="invalid_type")})
    creating = data.get("catalog_id") is None
    clean = _clean(data, creating=creating)
    with transaction.atomic():
        if creating:
            catalog = ProductCatalog(company=company, is_default=False)
        else:
            catalog = _catalog_by_public_id(company, data["catalog_id"])
            catalog = ProductCatalog.objects.select_for_update().get(pk=catalog.pk)
        for name, value in clean.items():
            setattr(catalog, name, value)
        _check_unique(company, catalog)
        if catalog.is_default:
            ProductCatalog.objects.for_company(company).filter(is_default=True).exclude(pk=catalog.pk).update(
                is_default=False
            )
        try:
            with transaction.atomic():
                catalog.save()
        except IntegrityError:
            # A concurrent request took the name, location or the default between the check and the save.
            raise ValidationError(
                {"name": ValidationError("Another catalog of the company has this name or location.", code="unique")}
            ) from None
    return catalog


def default_catalog(company: Company, *, create: bool = False, currency: str = "USD") -> ProductCatalog | None:
    """The company's default catalog; with create=True one is made (named and located "default") when
    the company has none. A catalog already named or located "default" becomes the default then."""
    catalogs = ProductCatalog.objects.for_company(company)
    catalog = catalogs.filter(is_default=True).first()
    if catalog is not None or not create:
        return catalog
    with transaction.atomic():
        existing = catalogs.select_for_update().filter(name=DEFAULT_NAME).first() or (
            catalogs.select_for_update().filter(location=DEFAULT_NAME).first()
        )
        if existing is not None:
            return catalog_upsert(company=company, data={"catalog_id": existing.public_id, "is_default": True})
        try:
            return catalog_upsert(
                company=company,
                data={"name": DEFAULT_NAME, "location": DEFAULT_NAME, "currency": currency, "is_default": True},
            )
        except ValidationError:
            # Another request made it meanwhile.
            found = catalogs.filter(is_default=True).first()
            if found is None:
                raise
            return found
