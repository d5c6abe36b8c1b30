"""Fixed-window hourly request counters in the shared cache.

With Redis (production) a hit is one INCR plus EXPIRE in a pipeline, atomic
across any number of web processes and machines. Without Redis the embedded
default's in-process cache increments under its own lock.
"""

import time
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

WINDOW_SECONDS = 3600


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


def fetch_and_hit(fetch_key: str | None, bucket: str, now: float | None = None) -> tuple[object, int, int]:
    """Count one request against `bucket` this hour and, in the same round trip, read `fetch_key`
    from the cache. Returns (cached value or None, count after this request, reset time).

    The API gateway reads the key's cached lookup and counts the request in one Redis
    pipeline: on the API path each round trip is a large share of the cost (bench/README.md).
    """
    now = time.time() if now is None else now
    window_start = int(now) // WINDOW_SECONDS * WINDOW_SECONDS
    reset = window_start + WINDOW_SECONDS
    key = f"ratelimit:{bucket}:{window_start}"
    # Keep the counter a little past the window so a late request still sees it.
    ttl = reset - int(now) + 60
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        counter_key = backend.make_and_validate_key(key)
        client = backend._cache.get_client(counter_key, write=True)
        pipe = client.pipeline(transaction=False)
        if fetch_key is not None:
            pipe.get(backend.make_and_validate_key(fetch_key))
        pipe.incr(counter_key)
        pipe.expire(counter_key, ttl, nx=True)
        results = pipe.execute()
        raw = results[0] if fetch_key is not None else None
        value = backend._cache._serializer.loads(raw) if raw is not None else None
        return value, int(results[-2]), reset
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
