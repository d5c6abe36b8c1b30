"""EVENT_RETENTION_DAYS: the beat job deletes old events in bounded batches."""

from datetime import timedelta

import pytest
from django.utils import timezone

from events import retention
from events.models import Event
from tests.core.test_settings import load_settings

pytestmark = pytest.mark.django_db


def make(company, days_ago: int, n: int = 1) -> None:
    when = timezone.now() - timedelta(days=days_ago)
    Event.objects.bulk_create(Event(company=company, event_type="x", occurred_at=when) for _ in range(n))


def test_events_older_than_the_retention_are_deleted_in_batches(company, other_company, settings):
    settings.EVENT_RETENTION_DAYS = 30
    make(company, 40, 5)
    make(other_company, 31, 2)
    make(company, 29, 3)
    assert retention.delete_expired_events(batch_size=2, limit=4) == 4  # stops at the run's limit
    assert retention.delete_expired_events(batch_size=2) == 3
    assert Event.objects.count() == 3
    assert retention.delete_expired_events() == 0


def test_zero_keeps_every_event(company, settings):
    settings.EVENT_RETENTION_DAYS = 0
    make(company, 5000)
    assert retention.delete_expired_events() == 0 and Event.objects.count() == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("thirty", "EVENT_RETENTION_DAYS='thirty' is not an integer"),
        ("-1", "EVENT_RETENTION_DAYS=-1 must be at least 0"),
    ],
)
def test_the_setting_is_parsed_strictly(tmp_path, value, message):
    done = load_settings({"SALLOQ_VAR_DIR": str(tmp_path), "SECRET_KEY": "x", "EVENT_RETENTION_DAYS": value})
    assert done.returncode != 0 and message in done.stderr
