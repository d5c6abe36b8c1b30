"""The SMTP server's state as senders find it: an outage is recorded once, shown on the dashboard,
and spaces out the next attempts, instead of every message retrying on its own.

Senders ask `may_attempt()` before they connect, call `record_failure()` when the server cannot be
reached or fails the batch, and `record_success()` when it accepts mail again.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import MailServerState

# After the n-th failure in a row, wait BACKOFF_BASE * 2**(n-1), at most BACKOFF_CAP: a server that
# is down for a day costs about a hundred connection attempts, and one that comes back is used
# again within BACKOFF_CAP.
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(minutes=15)

# Beat's every-minute run arrives a few milliseconds either side of a whole minute after the failed
# one; without this margin a wait of one minute would often become two.
EARLY_MARGIN = timedelta(seconds=5)

_STATE_ID = 1


def backoff(failures: int) -> timedelta:
    if failures < 1:
        return timedelta(0)
    # Capping the exponent first keeps the arithmetic small however long the outage lasts.
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(failures - 1, 16))


def may_attempt(now: datetime | None = None) -> bool:
    """False while senders are backing off after a failure."""
    now = now or timezone.now()
    return not MailServerState.objects.filter(pk=_STATE_ID, next_attempt_at__gt=now + EARLY_MARGIN).exists()


def current_outage() -> MailServerState | None:
    """The outage the dashboard shows, or None while the server answers."""
    return MailServerState.objects.filter(pk=_STATE_ID, unreachable_since__isnull=False).first()


def record_failure(error: BaseException) -> MailServerState:
    """Count a failed attempt and set when the next one may be made. The row is locked, so two
    workers failing at once count two failures and agree on the wait."""
    now = timezone.now()
    with transaction.atomic():
        state, _ = MailServerState.objects.select_for_update().get_or_create(pk=_STATE_ID)
        state.failures += 1
        state.unreachable_since = state.unreachable_since or now
        state.next_attempt_at = now + backoff(state.failures)
        state.last_error = (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)[:500]
        state.host, state.port = settings.EMAIL_HOST, settings.EMAIL_PORT
        state.save()
    return state


def record_success() -> None:
    """The server accepted mail: clear the outage (one UPDATE that matches nothing while all is well)."""
    MailServerState.objects.filter(pk=_STATE_ID, failures__gt=0).update(
        unreachable_since=None, failures=0, next_attempt_at=None, last_error=""
    )
