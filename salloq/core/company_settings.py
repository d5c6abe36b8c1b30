"""Writes of a company's own settings from the dashboard (Settings > Company and team)."""

from django.core.exceptions import ValidationError

from .models import Company


def company_defaults_update(*, company: Company, double_opt_in_default: bool) -> Company:
    """What new lists start with: a list created without saying otherwise asks for double opt-in."""
    company.double_opt_in_default = double_opt_in_default
    company.save(update_fields=["double_opt_in_default"])
    return company


def company_sending_update(
    *,
    company: Company,
    sender_name: str,
    sender_email: str,
    reply_to_email: str,
    postal_address: str,
    send_rate_per_second: int | None,
) -> Company:
    """Settings > Sending: the sender a campaign uses when it names none, the postal address of
    every campaign's footer, and the send rate every worker together keeps to (None: the default,
    CAMPAIGN_DEFAULT_SEND_RATE). Raises ValidationError naming the field."""
    if send_rate_per_second is not None and send_rate_per_second < 1:
        raise ValidationError({"send_rate_per_second": ["Send at least one message per second, or leave it empty."]})
    company.sender_name = sender_name.strip()
    company.sender_email = sender_email.strip()
    company.reply_to_email = reply_to_email.strip()
    company.postal_address = postal_address.strip()
    company.send_rate_per_second = send_rate_per_second
    fields = ["sender_name", "sender_email", "reply_to_email", "postal_address", "send_rate_per_second"]
    company.full_clean(exclude=[f.name for f in Company._meta.concrete_fields if f.name not in fields])
    company.save(update_fields=fields)
    return company
