"""Writes of a company's own settings from the dashboard (Settings > Company and team)."""

from .models import Company


def company_defaults_update(*, company: Company, double_opt_in_default: bool) -> Company:
    """What new lists start with: a list created without saying otherwise asks for double opt-in."""
    company.double_opt_in_default = double_opt_in_default
    company.save(update_fields=["double_opt_in_default"])
    return company
