"""A campaign's report: delivery figures, opens, clicks, unsubscribes, clicks per link and the
activity over time, in four aggregate queries whatever the campaign's size.

What counts (README "Campaign tracking and reports"): a unique open or click is a recipient with
at least one, a total is every one; hits from link scanners and prefetchers (is_machine) are kept
apart as `machine_opens` / `machine_clicks` and are in none of the other figures. The recipient
row's counters hold the human figures (campaigns.tracking updates them only for those); the
activity rows give the per-link figures and the timeline.
"""

from datetime import UTC, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from ..models import ActivityKind, Campaign, CampaignActivity, CampaignLink, CampaignRecipient, RecipientStatus

# The timeline has a bucket per hour for this long after the campaign started (when most
# activity happens), and a bucket per day after it.
HOURLY_SPAN = timedelta(hours=48)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def campaign_stats(campaign: Campaign) -> dict:
    """The report of one campaign (the caller has already looked it up within its company: every
    figure is read through `campaign_id`). Rates are fractions (0.25 is 25%) of the messages
    sent, click-to-open of the unique opens, bounce rate of the messages attempted."""
    recipients = CampaignRecipient.objects.filter(campaign_id=campaign.pk).aggregate(
        recipients=Count("id"),
        sent=Count("id", filter=Q(status=RecipientStatus.SENT)),
        failed=Count("id", filter=Q(status=RecipientStatus.FAILED)),
        bounced=Count("id", filter=Q(status=RecipientStatus.BOUNCED)),
        skipped=Count("id", filter=Q(status=RecipientStatus.SKIPPED)),
        pending=Count("id", filter=Q(status__in=[RecipientStatus.PENDING, RecipientStatus.SENDING])),
        unique_opens=Count("id", filter=Q(first_opened_at__isnull=False)),
        total_opens=Coalesce(Sum("open_count"), 0),
        unique_clicks=Count("id", filter=Q(first_clicked_at__isnull=False)),
        total_clicks=Coalesce(Sum("click_count"), 0),
        unsubscribes=Count("id", filter=Q(unsubscribed_at__isnull=False)),
    )
    buckets, machine = _activity_by_hour(campaign)
    sent = recipients["sent"]
    attempted = sent + recipients["failed"] + recipients["bounced"]
    return {
        **recipients,
        "machine_opens": machine[ActivityKind.OPEN],
        "machine_clicks": machine[ActivityKind.CLICK],
        "rates": {
            "open_rate": _rate(recipients["unique_opens"], sent),
            "click_rate": _rate(recipients["unique_clicks"], sent),
            "click_to_open_rate": _rate(recipients["unique_clicks"], recipients["unique_opens"]),
            "unsubscribe_rate": _rate(recipients["unsubscribes"], sent),
            "bounce_rate": _rate(recipients["bounced"], attempted),
        },
        "links": _links(campaign),
        "timeline": _timeline(campaign, buckets),
    }


def _links(campaign: Campaign) -> list[dict]:
    """Every tracked link in content order, with its human clicks (unique: recipients)."""
    clicks = {
        row["link_id"]: row
        for row in CampaignActivity.objects.filter(campaign_id=campaign.pk, kind=ActivityKind.CLICK, is_machine=False)
        .values("link_id")
        .annotate(total_clicks=Count("id"), unique_clicks=Count("recipient_id", distinct=True))
        .order_by()
    }
    links = (
        CampaignLink.objects.filter(campaign_id=campaign.pk).order_by("position").values_list("id", "url", "position")
    )
    return [
        {
            "id": link_id,
            "url": url,
            "position": position,
            "unique_clicks": clicks.get(link_id, {}).get("unique_clicks", 0),
            "total_clicks": clicks.get(link_id, {}).get("total_clicks", 0),
        }
        for link_id, url, position in links
    ]


def _activity_by_hour(campaign: Campaign) -> tuple[dict[datetime, dict[str, int]], dict[str, int]]:
    """Human opens and clicks per hour, and the machine hits' totals, from one GROUP BY."""
    rows = (
        CampaignActivity.objects.filter(campaign_id=campaign.pk, kind__in=[ActivityKind.OPEN, ActivityKind.CLICK])
        .annotate(hour=TruncHour("occurred_at"))
        .values("hour", "kind", "is_machine")
        .annotate(count=Count("id"))
        .order_by()
    )
    buckets: dict[datetime, dict[str, int]] = {}
    machine = {ActivityKind.OPEN: 0, ActivityKind.CLICK: 0}
    for row in rows:
        if row["is_machine"]:
            machine[row["kind"]] += row["count"]
        else:
            # In UTC from here on: arithmetic on local times would go wrong across a DST change.
            hour = row["hour"].astimezone(UTC)
            buckets.setdefault(hour, {ActivityKind.OPEN: 0, ActivityKind.CLICK: 0})[row["kind"]] += row["count"]
    return buckets, machine


def _timeline(campaign: Campaign, buckets: dict[datetime, dict[str, int]]) -> list[dict]:
    """Contiguous buckets (empty ones included, so a chart's time axis is true) from the hour the
    campaign started to its last activity: hourly for HOURLY_SPAN, then daily (days of the
    site's TIME_ZONE)."""
    if not buckets:
        return []
    first_hour, last_hour = min(buckets), max(buckets)
    start = _floor_hour(campaign.started_at) if campaign.started_at else first_hour
    start = min(start, first_hour)
    hourly_end = start + HOURLY_SPAN
    # Keyed by (unit, start of the bucket in UTC): the first day's midnight falls inside the hours.
    timeline: dict[tuple[str, datetime], dict] = {}
    hour = start
    while hour < hourly_end and hour <= last_hour:
        timeline["hour", hour] = _bucket(hour, "hour")
        hour += timedelta(hours=1)
    if last_hour >= hourly_end:
        day = _day_of(hourly_end)
        while day <= last_hour:
            timeline["day", day] = _bucket(max(day, hourly_end), "day")
            day = _next_day(day)
    for hour, counts in buckets.items():
        key = ("hour", hour) if hour < hourly_end else ("day", _day_of(hour))
        bucket = timeline.setdefault(key, _bucket(key[1], key[0]))
        bucket["opens"] += counts[ActivityKind.OPEN]
        bucket["clicks"] += counts[ActivityKind.CLICK]
    # By instant: local times of one zone compare by their wall clock, wrong in a repeated hour.
    return sorted(timeline.values(), key=lambda bucket: bucket["at"].astimezone(UTC))


def _bucket(at: datetime, unit: str) -> dict:
    return {"at": timezone.localtime(at), "unit": unit, "opens": 0, "clicks": 0}


def _floor_hour(moment: datetime) -> datetime:
    """The start of the local hour (TruncHour's buckets), in UTC."""
    return timezone.localtime(moment).replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def _day_of(moment: datetime) -> datetime:
    """Local midnight of the day, in UTC."""
    local = timezone.localtime(moment)
    return timezone.make_aware(datetime(local.year, local.month, local.day)).astimezone(UTC)


def _next_day(day: datetime) -> datetime:
    # Through the date, not +24 h: a day with a DST change is 23 or 25 hours long.
    following = timezone.localtime(day).date() + timedelta(days=1)
    return timezone.make_aware(datetime(following.year, following.month, following.day)).astimezone(UTC)
