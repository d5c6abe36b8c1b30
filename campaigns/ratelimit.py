"""A company's campaign send rate, shared by every worker on every machine: a token bucket in one
database row (SendRateBucket).

A worker takes the tokens for a chunk of messages with one UPDATE of the row (the row lock orders
concurrent takers) and learns how long to wait before sending them. Tokens may go below zero: a
negative balance is a reservation that later takers queue behind, so two workers asking at once
wait one after the other instead of both retrying. The clock is the database's, so machines whose
clocks disagree still share one rate. Tokens refill at the rate up to one second's worth: after a
pause a campaign may send a one-second burst, never more.
"""

from django.conf import settings
from django.db import connection

from salloq.core.models import Company

from .models import SendRateBucket

# The most a bucket holds, in seconds of sending at the rate.
BURST_SECONDS = 1.0
# A chunk (the tokens taken at once) lasts about this long at the rate: short enough that the
# rate holds within a second and pause stops a send within a fraction of one, long enough that
# the bucket's UPDATE costs nothing next to the messages.
CHUNK_SECONDS = 0.25
MAX_CHUNK = 50


def send_rate(company: Company) -> int:
    """Messages per second the company's campaigns may send, all together."""
    return company.send_rate_per_second or settings.CAMPAIGN_DEFAULT_SEND_RATE


def chunk_size(rate: float) -> int:
    return max(1, min(MAX_CHUNK, int(rate * CHUNK_SECONDS)))


def capacity(rate: float, chunk: int) -> float:
    return max(rate * BURST_SECONDS, chunk)


def _take_sql() -> str:
    table = SendRateBucket._meta.db_table
    if connection.vendor == "postgresql":
        # now() is the statement's start: a taker that waited for the row lock finds refilled_at
        # later than its now(), so it refills nothing more and keeps the later time.
        elapsed = "GREATEST(0, EXTRACT(EPOCH FROM now() - refilled_at))"
        refilled = "GREATEST(refilled_at, now())"
        least = "LEAST"
    else:
        elapsed = "MAX(0, (julianday('now') - julianday(refilled_at)) * 86400.0)"
        refilled = "MAX(refilled_at, strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now'))"
        least = "MIN"
    return (
        f"UPDATE {table} SET tokens = {least}(%s, tokens + %s * {elapsed}) - %s, refilled_at = {refilled} "  # noqa: S608
        "WHERE company_id = %s RETURNING tokens"
    )


def take(company_id: int, *, rate: float, count: int) -> float:
    """Take `count` tokens from the company's bucket; returns the seconds to wait before sending
    that many messages (0 when the bucket had them)."""
    cap = capacity(rate, count)
    sql = _take_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, (cap, rate, count, company_id))
        row = cursor.fetchone()
        if row is None:
            # The company's first send: a full bucket, then take as usual.
            SendRateBucket.objects.get_or_create(company_id=company_id, defaults={"tokens": cap})
            cursor.execute(sql, (cap, rate, count, company_id))
            row = cursor.fetchone()
    balance = row[0]
    return 0.0 if balance >= 0 else -balance / rate
