"""Fixed-window hourly request counters in the shared cache.

With Redis (production) a hit is one INCR plus EXPIRE ... NX (Redis 7 or later) in one round
trip (redis_access.exchange), atomic across any number of web processes and machines. Without
Redis the embedded default's in-process cache increments under its own lock. While Redis is
unreachable, each process counts on its own (FallbackCounters) so the API keeps serving; a key
then gets its limit once per web process, not once in all.
"""

import logging
import threading
import time
from dataclasses import dataclass

from django.core.cache import caches

from . import redis_access
from .cache import RETRY_SECONDS, PooledRedisCache
from .errors import ApiError

logger = logging.getLogger("salloq.cache")

WINDOW_SECONDS = 3600
# Buckets one process counts on its own during an outage: keys and client addresses of this
# hour. Past it, a new bucket is refused (503) rather than let the table grow without bound.
FALLBACK_MAX_BUCKETS = 100_000


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    count: int
    reset: int  # unix time at which the window ends

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def retry_after(self, now: float | None = None) -> int:
        return max(1, self.reset - int(now if now is not None else time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


def fetch_and_hit(
    fetch_key: str | None, bucket: str, now: float | None = None, *, fetch_ttl: float = 0, decode=None
) -> tuple[object, int, int]:
    """Count one request against `bucket` this hour and, in the same round trip, read `fetch_key`
    from the cache. Returns (cached value or None, count after this request, reset time).

    The API gateway reads the key's cached lookup and counts the request in one Redis
    pipeline: on the API path each round trip is a large share of the cost (bench/README.md).
    The value is withheld (None) while Redis is unreachable and for `fetch_ttl` (its lifetime
    in the cache) after it is back: it may have been cached before a change that could not be
    forgotten in the cache meanwhile. `decode(backend, raw)` reads the value Redis returned
    (redis_access.loads, the cache's own decoding, when not given).
    """
    now = time.time() if now is None else now
    window_start = int(now) // WINDOW_SECONDS * WINDOW_SECONDS
    reset = window_start + WINDOW_SECONDS
    key = f"ratelimit:{bucket}:{window_start}"
    # Keep the counter a little past the window so a late request still sees it.
    ttl = reset - int(now) + 60
    backend = caches["default"]
    if isinstance(backend, PooledRedisCache):
        # make_key, not make_and_validate_key: these keys are ours (a fixed text, a hex digest or an
        # address), and the validation's loop over every character is a real share of this path.
        counter_key = backend.make_key(key)
        started = backend.breaker.begin()
        if started is not None:
            commands = [("INCR", counter_key), ("EXPIRE", counter_key, ttl, "NX")]
            if fetch_key is not None:
                commands.append(("GET", backend.make_key(fetch_key)))
            try:
                replies = redis_access.exchange(backend, commands)
            except redis_access.RedisError as exc:
                backend.breaker.record_failure(exc, started)
            else:
                backend.breaker.record_success(started)  # it answered, even if it refused
                refusals = [reply for reply in replies if isinstance(reply, redis_access.ErrorReply)]
                if not refusals:
                    raw = replies[2] if fetch_key is not None else None
                    if raw is None or backend.breaker.recovered_within(fetch_ttl):
                        return None, int(replies[0]), reset
                    return (decode or redis_access.loads)(backend, raw), int(replies[0]), reset
                _report_refusal(refusals[0])
        # Nothing cached can be read (or trusted): the caller looks the key up in the database.
        return None, fallback_counters.hit(counter_key, window_start), reset
    value = backend.get(fetch_key) if fetch_key is not None else None
    backend.add(key, 0, ttl)
    try:
        count = backend.incr(key)
    except ValueError:  # evicted between add and incr
        backend.set(key, 1, ttl)
        count = 1
    return value, count, reset


def hit(bucket: str, limit: int, now: float | None = None) -> RateLimitState:
    """Count one request against `bucket` in the current hour and return the state after it."""
    _, count, reset = fetch_and_hit(None, bucket, now)
    return RateLimitState(limit=limit, count=count, reset=reset)


class FallbackCounters:
    """This process's hourly counts, used while the shared cache is unreachable.

    Kept for the current window only. They are not copied into Redis when it is back: its
    counters go on from what they held (or from zero after a restart that lost them).
    """

    def __init__(self, max_buckets: int = FALLBACK_MAX_BUCKETS):
        self.max_buckets = max_buckets
        self._counts: dict[str, int] = {}
        self._window = 0
        self._lock = threading.Lock()

    def hit(self, counter_key: str, window_start: int) -> int:
        """Count one request; `counter_key` names the bucket and window (as in Redis)."""
        with self._lock:
            if window_start > self._window:
                self._counts.clear()  # a new hour: the old hour's counts are of no further use
                self._window = window_start
            count = self._counts.get(counter_key, 0) + 1
            if count == 1 and len(self._counts) >= self.max_buckets:
                raise ApiError(
                    503,
                    "Service unavailable",
                    f"The API is briefly unable to count requests. Retry after {RETRY_SECONDS} seconds.",
                )
            self._counts[counter_key] = count
            return count


fallback_counters = FallbackCounters()


# Error replies already logged by this process: a refusal that comes back on every request (a
# server too old for EXPIRE ... NX) is logged once, not once per request.
_reported_refusals: set[str] = set()


def _report_refusal(reply: Exception) -> None:
    """Redis answered but refused a command: a key of the wrong type in the gateway's namespace, or
    a server before Redis 7 (no EXPIRE ... NX). It is reachable, so it is not an outage (the
    breaker stays closed and other buckets go on counting in Redis); this request is counted in
    the process, like a request during an outage."""
    text = str(reply)
    if text in _reported_refusals:
        return
    _reported_refusals.add(text)
    logger.error(
        "Redis refused the rate-limit commands (%s: %s); the request is counted in this web process "
        "only. The gateway needs Redis 7 or later (EXPIRE ... NX) and its keys must be left alone.",
        type(reply).__name__,
        text,
    )
