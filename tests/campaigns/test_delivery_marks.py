"""Marking rows sent (campaigns.delivery._Marks) on PostgreSQL: the UPDATE is in PostgreSQL's hands
as soon as `sent` returns, before the worker sends the next message, without waiting for its answer;
the answer is read before the next mark or the connection's next query, so a failed mark surfaces."""

import time

import psycopg
import pytest
from django.db import connection

from campaigns import delivery
from campaigns.models import CampaignRecipient, RecipientStatus
from tests.campaigns.test_delivery_workers import started

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def status_seen_by_another_connection(recipient_id: int) -> str:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        return other.execute("SELECT status FROM campaigns_campaignrecipient WHERE id = %s", [recipient_id]).fetchone()[
            0
        ]


def test_a_mark_reaches_postgresql_without_waiting_for_its_answer(company, monkeypatch):
    campaign = started(company, 2, monkeypatch)
    first, second = CampaignRecipient.objects.filter(campaign=campaign).order_by("pk")
    with delivery._Marks() as marks:
        marks.sent(first.pk, "1.a@shop.example")
        assert marks.pending  # its answer not read yet
        deadline = time.monotonic() + 5
        while status_seen_by_another_connection(first.pk) != RecipientStatus.SENT:
            assert time.monotonic() < deadline, "the mark did not reach PostgreSQL"
            time.sleep(0.01)
        marks.sent(second.pk, "2.a@shop.example")
        # The connection's next query reads the pending answer first.
        assert CampaignRecipient.objects.get(pk=second.pk).message_id == "2.a@shop.example"
        assert not marks.pending
    first.refresh_from_db()
    assert (first.status, first.message_id, first.attempts) == (RecipientStatus.SENT, "1.a@shop.example", 1)


def test_a_failed_mark_surfaces_at_the_next_query(company, monkeypatch):
    campaign = started(company, 1, monkeypatch)
    [row] = CampaignRecipient.objects.filter(campaign=campaign)
    failure = pytest.raises(psycopg.DatabaseError, match="Marking a recipient sent failed: .*too long")
    with failure, delivery._Marks() as marks:
        marks.sent(row.pk, "x" * 300)  # longer than the column
        CampaignRecipient.objects.count()
    row.refresh_from_db()  # the connection is still usable
    assert row.status == RecipientStatus.PENDING and row.message_id == ""
