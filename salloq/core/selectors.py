"""Reads for the core that need more than a queryset."""

from datetime import timedelta

from django.utils import timezone

from .models import ApiKey, Company, Heartbeat

HEARTBEAT_STALE_AFTER = timedelta(minutes=3)


def api_key_list(*, company: Company):
    return ApiKey.objects.for_company(company).select_related("created_by")


def system_status() -> dict:
    """Whether the worker and beat are alive, read from the heartbeat beat writes every minute."""
    heartbeat = Heartbeat.objects.filter(name="worker-heartbeat").first()
    now = timezone.now()
    return {
        "heartbeat": heartbeat,
        "worker_alive": heartbeat is not None and now - heartbeat.last_seen_at < HEARTBEAT_STALE_AFTER,
    }


def onboarding_checklist(*, company: Company, is_owner: bool) -> list[dict]:
    """Steps to connect a shop; links go only to pages the member may open (settings are the owner's)."""
    keys = ApiKey.objects.for_company(company)
    steps = [
        {"label": "Create an API key for your shop or POS", "done": keys.active().exists(), "url": "api_keys"},
        {
            "label": "Make a first authenticated API call",
            "done": keys.filter(last_used_at__isnull=False).exists(),
            "url": "api_keys",
        },
        {
            "label": "Copy the webhook secret into your shop's webhook settings",
            "done": bool(company.webhook_secret),
            "url": "webhook_secret" if is_owner else None,
        },
    ]
    return steps
