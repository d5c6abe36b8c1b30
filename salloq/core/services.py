"""Writes for the core: companies, memberships, API keys, webhook secrets."""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import apikeys
from .models import ApiKey, Company, Membership, Role, Scope, default_hourly_limit
from .validators import require_header_safe

VALID_SCOPES = frozenset(scope.value for scope in Scope)


def company_get_or_create(*, name: str) -> tuple[Company, bool]:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A company needs a name."})
    require_header_safe(field="name", value=name)  # the From name of its emails
    company, created = Company.objects.get_or_create(name=name)
    if created:
        webhook_secret_rotate(company=company)
    return company, created


def membership_set(*, user, company: Company, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}."})
    membership, _ = Membership.objects.update_or_create(user=user, company=company, defaults={"role": role})
    return membership


def validate_scopes(scopes: list[str]) -> list[str]:
    cleaned = sorted({scope.strip() for scope in scopes if scope.strip()})
    if not cleaned:
        raise ValidationError({"scopes": "Choose at least one scope."})
    unknown = [scope for scope in cleaned if scope not in VALID_SCOPES]
    if unknown:
        raise ValidationError(
            {"scopes": f"Unknown scope(s): {', '.join(unknown)}. Valid: {', '.join(sorted(VALID_SCOPES))}."}
        )
    return ["*"] if "*" in cleaned else cleaned


def api_key_create(
    *,
    company: Company,
    name: str,
    scopes: list[str],
    hourly_limit: int | None = None,
    expires_at: datetime | None = None,
    created_by=None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the plain key, which is never stored and cannot be shown again.

    Without an `hourly_limit` the key gets API_DEFAULT_HOURLY_LIMIT."""
    if hourly_limit is None:
        hourly_limit = default_hourly_limit()
    errors = {}
    name = name.strip()
    if not name:
        errors["name"] = "Give the key a name that says where it is used."
    if not isinstance(hourly_limit, int) or hourly_limit < 1:
        errors["hourly_limit"] = "The hourly limit must be a whole number of at least 1."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    try:
        scopes = validate_scopes(scopes)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)

    for _ in range(5):
        plain_key = apikeys.generate_key()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    company=company,
                    name=name,
                    prefix=apikeys.display_prefix(plain_key),
                    key_hash=apikeys.hash_key(plain_key),
                    scopes=scopes,
                    hourly_limit=hourly_limit,
                    expires_at=expires_at,
                    created_by=created_by,
                )
            return api_key, plain_key
        except IntegrityError:  # a display prefix collision: draw again
            continue
    raise RuntimeError("Could not draw a unique API key prefix")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])  # the save drops the cached lookup (core.signals)
    return api_key


def webhook_secret_rotate(*, company: Company) -> str:
    """A new webhook secret; the one it replaces stays valid for WEBHOOK_PREVIOUS_SECRET_GRACE_HOURS,
    so deliveries the shop signs before it is updated are not refused (events/webhooks.py)."""
    now = timezone.now()
    grace = timedelta(hours=settings.WEBHOOK_PREVIOUS_SECRET_GRACE_HOURS)
    company.webhook_previous_secret = company.webhook_secret if grace else ""
    company.webhook_previous_secret_expires_at = now + grace if company.webhook_previous_secret else None
    # Standard Webhooks' format: "whsec_" and base64 of 24 random bytes.
    company.webhook_secret = "whsec_" + secrets.token_urlsafe(24)
    company.webhook_secret_rotated_at = now
    company.save(
        update_fields=[
            "webhook_secret",
            "webhook_secret_rotated_at",
            "webhook_previous_secret",
            "webhook_previous_secret_expires_at",
        ]
    )
    return company.webhook_secret
