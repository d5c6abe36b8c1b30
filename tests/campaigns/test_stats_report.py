"""A campaign's report (campaigns.selectors.stats.campaign_stats) against an oracle computed by
hand from the list of events that were sent through the tracking service, and its cost on
100,000 recipients."""

import random
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import tracking
from campaigns.models import (
    ActivityKind,
    Campaign,
    CampaignActivity,
    CampaignLink,
    CampaignRecipient,
    CampaignStatus,
    RecipientStatus,
)
from campaigns.selectors.stats import campaign_stats
from contacts.consent_policy import ConsentContext
from tests.factories.contacts import ContactFactory

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
HUMAN = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari"
SCANNER = "Barracuda Sentinel (EE)"
URLS = ["https://shop.example/", "https://shop.example/sale", "https://shop.example/blog"]


def build_campaign(company, statuses: list[str]) -> tuple[Campaign, list[CampaignLink], list[CampaignRecipient]]:
    campaign = Campaign.objects.create(company=company, name="Report", status=CampaignStatus.SENDING, started_at=START)
    links = [CampaignLink.objects.create(campaign=campaign, url=url, position=i) for i, url in enumerate(URLS, 1)]
    recipients = []
    for index, status in enumerate(statuses):
        contact = ContactFactory(company=company)
        sent = status == RecipientStatus.SENT
        recipients.append(
            CampaignRecipient.objects.create(
                campaign=campaign,
                contact=contact,
                email=contact.email,
                status=status,
                sent_at=START + timedelta(minutes=index) if sent else None,
            )
        )
    return campaign, links, recipients


def oracle_bucket(at: datetime) -> tuple[datetime, str]:
    """The report's rule written out plainly: hours for the first 48 h after the start hour, then
    UTC days (the test settings' TIME_ZONE), the first day beginning where the hours end."""
    start_hour = START.replace(minute=0)
    if at < start_hour + timedelta(hours=48):
        return at.replace(minute=0, second=0, microsecond=0), "hour"
    return max(at.replace(hour=0, minute=0, second=0, microsecond=0), start_hour + timedelta(hours=48)), "day"


def test_campaign_stats_match_a_hand_built_oracle(company, settings):
    settings.TIME_ZONE = "UTC"
    statuses = [RecipientStatus.SENT] * 12 + [
        RecipientStatus.FAILED,
        RecipientStatus.FAILED,
        RecipientStatus.BOUNCED,
        RecipientStatus.SKIPPED,
        RecipientStatus.PENDING,
        RecipientStatus.SENDING,
    ]
    campaign, links, recipients = build_campaign(company, statuses)
    sent = [r for r in recipients if r.status == RecipientStatus.SENT]

    rng = random.Random(13)
    events = []  # (recipient, kind, link or None, at, user agent, method)
    for _ in range(160):
        recipient = rng.choice(sent[:9])  # three sent recipients never open or click
        kind = rng.choice([ActivityKind.OPEN, ActivityKind.OPEN, ActivityKind.CLICK])
        # Most activity in the first two days, some up to five days later.
        at = recipient.sent_at + timedelta(seconds=rng.choice([3, 40, 900, 7200, 30 * 3600, 50 * 3600, 110 * 3600]))
        at += timedelta(seconds=rng.randrange(3600))
        user_agent, method = rng.choice([(HUMAN, "GET")] * 6 + [(SCANNER, "GET"), (HUMAN, "HEAD")])
        link = rng.choice(links[:2]) if kind == ActivityKind.CLICK else None  # the blog link is never clicked
        events.append((recipient, kind, link, at, user_agent, method))
    # Scanner clicks within seconds of delivery, from a browser-looking agent.
    events.append((sent[0], ActivityKind.CLICK, links[0], sent[0].sent_at + timedelta(seconds=2), HUMAN, "GET"))

    for recipient, kind, link, at, user_agent, method in sorted(events, key=lambda event: event[3]):
        with time_machine.travel(at, tick=False):
            if kind == ActivityKind.OPEN:
                assert tracking.record_open(recipient_id=recipient.pk, user_agent=user_agent, method=method)
            else:
                url = tracking.record_click(
                    recipient_id=recipient.pk, link_id=link.pk, user_agent=user_agent, method=method
                )
                assert url == link.url
    for recipient in (sent[1], sent[10]):
        tracking.unsubscribe(recipient=recipient, contact=recipient.contact, consent_context=ConsentContext(source="t"))

    # The oracle, from the event list alone.
    def is_machine(recipient, kind, at, user_agent, method):
        if method == "HEAD" or user_agent == SCANNER:
            return True
        return kind == ActivityKind.CLICK and at - recipient.sent_at < timedelta(seconds=10)

    human = [e for e in events if not is_machine(e[0], e[1], e[3], e[4], e[5])]
    machine = Counter(e[1] for e in events if is_machine(e[0], e[1], e[3], e[4], e[5]))
    opens = [e for e in human if e[1] == ActivityKind.OPEN]
    clicks = [e for e in human if e[1] == ActivityKind.CLICK]
    expected_buckets = defaultdict(lambda: {"opens": 0, "clicks": 0})
    for _, kind, _, at, _, _ in human:
        expected_buckets[oracle_bucket(at)]["opens" if kind == ActivityKind.OPEN else "clicks"] += 1
    unique_opens, unique_clicks = len({e[0].pk for e in opens}), len({e[0].pk for e in clicks})

    with CaptureQueriesContext(connection) as queries:
        stats = campaign_stats(campaign)
    assert len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]) == 4

    assert {key: stats[key] for key in ("recipients", "sent", "failed", "bounced", "skipped", "pending")} == {
        "recipients": 18,
        "sent": 12,
        "failed": 2,
        "bounced": 1,
        "skipped": 1,
        "pending": 2,
    }
    assert stats["unique_opens"] == unique_opens and 0 < unique_opens <= 9
    assert stats["total_opens"] == len(opens) > unique_opens
    assert stats["unique_clicks"] == unique_clicks and stats["total_clicks"] == len(clicks)
    assert stats["machine_opens"] == machine[ActivityKind.OPEN] > 0
    assert stats["machine_clicks"] == machine[ActivityKind.CLICK] > 0
    assert stats["unsubscribes"] == 2
    assert stats["rates"] == {
        "open_rate": round(unique_opens / 12, 4),
        "click_rate": round(unique_clicks / 12, 4),
        "click_to_open_rate": round(unique_clicks / unique_opens, 4),
        "unsubscribe_rate": round(2 / 12, 4),
        "bounce_rate": round(1 / 15, 4),
    }
    assert stats["links"] == [
        {
            "id": link.pk,
            "url": link.url,
            "position": link.position,
            "unique_clicks": len({e[0].pk for e in clicks if e[2] == link}),
            "total_clicks": len([e for e in clicks if e[2] == link]),
        }
        for link in links
    ]
    assert stats["links"][2]["total_clicks"] == 0

    timeline = stats["timeline"]
    got = {
        (bucket["at"], bucket["unit"]): {"opens": bucket["opens"], "clicks": bucket["clicks"]} for bucket in timeline
    }
    assert {key: value for key, value in got.items() if value != {"opens": 0, "clicks": 0}} == dict(expected_buckets)
    # Contiguous: 48 hourly buckets from the start hour, then one per day up to the last activity.
    hours = [bucket["at"] for bucket in timeline if bucket["unit"] == "hour"]
    assert hours == [START.replace(minute=0) + timedelta(hours=n) for n in range(48)]
    days = [bucket["at"] for bucket in timeline if bucket["unit"] == "day"]
    assert days[0] == START.replace(minute=0) + timedelta(hours=48)
    assert all(b - a == timedelta(days=1) for a, b in zip(days[1:], days[2:], strict=False))
    assert days[-1].date() == max(e[3] for e in human).date()


def test_a_campaign_without_activity_has_zero_figures_and_no_timeline(company):
    campaign, links, _ = build_campaign(company, [RecipientStatus.PENDING] * 3)
    stats = campaign_stats(campaign)
    assert stats["recipients"] == 3 and stats["pending"] == 3 and stats["sent"] == 0
    assert stats["total_opens"] == 0 and stats["total_clicks"] == 0 and stats["timeline"] == []
    assert set(stats["rates"].values()) == {0.0}
    assert [link["total_clicks"] for link in stats["links"]] == [0, 0, 0]


def test_short_campaigns_get_hourly_buckets_only(company, settings):
    settings.TIME_ZONE = "UTC"
    campaign, (link, *_), (recipient,) = build_campaign(company, [RecipientStatus.SENT])
    for hours in (1, 5):
        with time_machine.travel(START + timedelta(hours=hours), tick=False):
            tracking.record_click(recipient_id=recipient.pk, link_id=link.pk, user_agent=HUMAN, method="GET")
    timeline = campaign_stats(campaign)["timeline"]
    assert [bucket["unit"] for bucket in timeline] == ["hour"] * 6
    assert [bucket["clicks"] for bucket in timeline] == [0, 1, 0, 0, 0, 1]


def test_timeline_buckets_follow_local_time_across_daylight_saving_changes(company, settings):
    # Europe/Berlin: clocks go from 02:00 to 03:00 on 29 March 2026 and from 03:00 back to 02:00
    # on 25 October 2026.
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    campaign, (link, *_), (recipient,) = build_campaign(company, [RecipientStatus.SENT])
    spring = datetime(2026, 3, 29, 0, 30, tzinfo=berlin)
    Campaign.objects.filter(pk=campaign.pk).update(started_at=spring)
    CampaignRecipient.objects.filter(pk=recipient.pk).update(sent_at=spring)
    campaign.refresh_from_db()
    # Real hours apart (arithmetic on Berlin wall time would land twice in 03:00-04:00).
    moments = [spring.astimezone(UTC) + timedelta(hours=n, minutes=5) for n in range(5)]
    moments.append(datetime(2026, 4, 2, 12, tzinfo=berlin))
    for moment in moments:
        with time_machine.travel(moment, tick=False):
            tracking.record_click(recipient_id=recipient.pk, link_id=link.pk, user_agent=HUMAN, method="GET")
    timeline = campaign_stats(campaign)["timeline"]
    hours = [bucket for bucket in timeline if bucket["unit"] == "hour"]
    assert len(hours) == 48
    instants = [bucket["at"].astimezone(UTC) for bucket in hours]
    assert all(b - a == timedelta(hours=1) for a, b in zip(instants, instants[1:], strict=False))
    assert [bucket["at"].astimezone(berlin).hour for bucket in hours[:5]] == [0, 1, 3, 4, 5]
    assert [bucket["clicks"] for bucket in hours[:6]] == [1, 1, 1, 1, 1, 0]
    days = [bucket for bucket in timeline if bucket["unit"] == "day"]
    assert [(d["at"].astimezone(berlin).day, d["at"].astimezone(berlin).hour) for d in days] == [
        (31, 1),  # where the 48 hours end
        (1, 0),
        (2, 0),
    ]
    assert [d["clicks"] for d in days] == [0, 0, 1]

    autumn = datetime(2026, 10, 23, 10, tzinfo=berlin)
    campaign, (link, *_), (recipient,) = build_campaign(company, [RecipientStatus.SENT])
    Campaign.objects.filter(pk=campaign.pk).update(started_at=autumn)
    CampaignRecipient.objects.filter(pk=recipient.pk).update(sent_at=autumn)
    campaign.refresh_from_db()
    for moment in [
        autumn + timedelta(hours=1),
        datetime(2026, 10, 25, 23, tzinfo=berlin),
        datetime(2026, 10, 26, 9, tzinfo=berlin),
    ]:
        with time_machine.travel(moment, tick=False):
            tracking.record_open(recipient_id=recipient.pk, user_agent=HUMAN, method="GET")
    days = [bucket for bucket in campaign_stats(campaign)["timeline"] if bucket["unit"] == "day"]
    # 48 real hours after 10:00 on the 23rd is 09:00 on the 25th (a 25-hour day); the next day
    # starts at local midnight.
    assert [(d["at"].astimezone(berlin).day, d["at"].astimezone(berlin).hour, d["opens"]) for d in days] == [
        (25, 9, 1),
        (26, 0, 1),
    ]


def test_stats_read_only_the_campaigns_own_rows(company, other_company):
    ours, (our_link, *_), (our_recipient,) = build_campaign(company, [RecipientStatus.SENT])
    theirs, (their_link, *_), their_recipients = build_campaign(other_company, [RecipientStatus.SENT] * 3)
    for recipient in their_recipients:
        with time_machine.travel(START + timedelta(hours=2), tick=False):
            tracking.record_open(recipient_id=recipient.pk, user_agent=HUMAN, method="GET")
            tracking.record_click(recipient_id=recipient.pk, link_id=their_link.pk, user_agent=HUMAN, method="GET")
    stats = campaign_stats(ours)
    assert (stats["recipients"], stats["total_opens"], stats["total_clicks"], stats["timeline"]) == (1, 0, 0, [])
    assert [link["url"] for link in stats["links"]] == URLS and {link["id"] for link in stats["links"]} == {
        link.pk for link in CampaignLink.objects.filter(campaign=ours)
    }
    assert campaign_stats(theirs)["unique_clicks"] == 3


@pytest.mark.postgres
def test_the_report_of_100000_recipients_answers_well_under_a_second(company):
    campaign = Campaign.objects.create(company=company, name="Big", status=CampaignStatus.SENT, started_at=START)
    links = [
        CampaignLink.objects.create(campaign=campaign, url=f"https://shop.example/{n}", position=n)
        for n in range(1, 21)
    ]
    recipient_table = CampaignRecipient._meta.db_table
    activity_table = CampaignActivity._meta.db_table
    with connection.cursor() as cursor:
        # 100,000 sent rows; every third opened (1-3 times), every tenth clicked.
        cursor.execute(
            f"""
            INSERT INTO {recipient_table} (campaign_id, email, status, attempts, sent_at, message_id, error,
                                           first_opened_at, open_count, first_clicked_at, click_count)
            SELECT %s, 'r' || n || '@example.com', CASE WHEN n %% 50 = 0 THEN 'bounced' ELSE 'sent' END, 1,
                   %s::timestamptz + (n || ' milliseconds')::interval, '', '',
                   CASE WHEN n %% 3 = 0 THEN %s::timestamptz + (n || ' seconds')::interval END,
                   CASE WHEN n %% 3 = 0 THEN 1 + n %% 3 ELSE 0 END,
                   CASE WHEN n %% 10 = 0 THEN %s::timestamptz + (n || ' seconds')::interval END,
                   CASE WHEN n %% 10 = 0 THEN 1 ELSE 0 END
            FROM generate_series(1, 100000) AS n
            """,  # noqa: S608
            [campaign.pk, START, START, START],
        )
        # About 150,000 activity rows over a week.
        cursor.execute(
            f"""
            INSERT INTO {activity_table} (campaign_id, recipient_id, kind, link_id, occurred_at, is_machine, user_agent)
            SELECT r.campaign_id, r.id, k.kind,
                   CASE WHEN k.kind = 'click' THEN %s + (r.id %% 20) END,
                   %s::timestamptz + ((r.id * 6 %% 604800) || ' seconds')::interval, r.id %% 7 = 0, ''
            FROM {recipient_table} r CROSS JOIN (VALUES ('open'), ('open'), ('click')) AS k(kind)
            WHERE r.campaign_id = %s AND (k.kind = 'open' AND r.id %% 4 <> 0 OR k.kind = 'click' AND r.id %% 10 = 0)
            """,  # noqa: S608
            [links[0].pk, START, campaign.pk],
        )
        cursor.execute(f"ANALYZE {recipient_table}")
        cursor.execute(f"ANALYZE {activity_table}")
    campaign_stats(campaign)  # warm the caches, as a report read twice is
    started, cpu_started = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as queries:
        stats = campaign_stats(campaign)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"campaign_stats on 100,000 recipients: {elapsed * 1000:.0f} ms wall, {cpu * 1000:.1f} ms CPU here")
    assert len(queries.captured_queries) == 4
    assert stats["recipients"] == 100_000 and stats["bounced"] == 2000 and stats["sent"] == 98_000
    assert stats["unique_opens"] == 33_333 and stats["unique_clicks"] == 10_000
    assert len(stats["links"]) == 20 and sum(link["total_clicks"] for link in stats["links"]) > 0
    assert 48 < len(stats["timeline"]) < 48 + 8
    # "Well under a second" on a quiet machine; this one is shared by several test runs.
    assert elapsed < 1.0, f"{elapsed:.2f} s"
