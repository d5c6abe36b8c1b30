"""Django's Redis cache with one client per connection pool, short timeouts and a circuit breaker.

Django builds a new `redis.Redis` for every cache call; with redis-py 8 that costs about
50 µs each, which on the API path (two or three cache calls per request) was a third of the
gateway's time (bench/README.md). Clients are thread-safe and share their pool, so one per
pool is enough (redis_access.SharedClientRedisCache, where the Django internals this takes
are kept).

The cache holds nothing that is not also elsewhere (key lookups come from the database, rate
limits can be counted in the process), so an unreachable Redis must not take the API down or
make it slow: connections give up quickly, and after a failure the cache is skipped for a few
seconds (the breaker) instead of every request waiting for its own timeout.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.core.cache import caches

from .redis_access import RedisError, SharedClientRedisCache

logger = logging.getLogger("salloq.cache")

# Redis answers in well under a millisecond; a connect or reply this late means it is gone or
# stuck. The query string of REDIS_URL / CACHE_URL (`?socket_timeout=2`) overrides these.
CONNECT_TIMEOUT_SECONDS = 0.25
READ_TIMEOUT_SECONDS = 0.5
# After a failure, how long the cache is skipped before one request tries it again; also the
# Retry-After of a 503 the gateway answers while it cannot serve.
RETRY_SECONDS = 5


class CacheUnavailable(Exception):
    """The cache failed just now, or is being skipped after a recent failure."""


# Run by the thread that finds the cache reachable again after an outage.
_recovery_hooks: list[Callable[[], None]] = []


def on_recovery(hook: Callable[[], None]) -> None:
    _recovery_hooks.append(hook)


class CircuitBreaker:
    """Per process and cache location: closed while Redis answers; open for RETRY_SECONDS after a
    failure, then one caller (not every thread at once) tries again."""

    def __init__(self, location: str, retry_seconds: float = RETRY_SECONDS):
        self.location = location
        self.retry_seconds = retry_seconds
        self.down_since: float | None = None  # monotonic time of the failure that opened it
        self.up_since: float | None = None  # monotonic time it last came back
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def begin(self) -> float | None:
        """The start time of an attempt to use the cache, or None to skip it (open breaker)."""
        now = time.monotonic()
        if self.down_since is None:
            return now
        with self._lock:
            if self.down_since is None or now >= self._retry_at:
                self._retry_at = now + self.retry_seconds  # the others keep skipping while this one tries
                return now
        return None

    # An attempt's outcome only counts if it began after the last change of state: a request that
    # got its reply just before Redis died does not end the outage the next one runs into, and
    # one that began during the outage does not start another after the recovery.

    def record_failure(self, exc: Exception, started: float) -> None:
        with self._lock:
            now = time.monotonic()
            if self.up_since is not None and started < self.up_since:
                return
            self._retry_at = now + self.retry_seconds
            if self.down_since is not None:
                return  # the outage's warning is already logged
            self.down_since = now
        logger.warning(
            "Cache %s unreachable (%s: %s). Until it is back, API keys are looked up in the database and "
            "rate limits are counted per web process; retrying every %s s.",
            self.location,
            type(exc).__name__,
            exc,
            self.retry_seconds,
        )

    def record_success(self, started: float) -> None:
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is None or started < self.down_since:
                return
            self.up_since = time.monotonic()
            outage = self.up_since - self.down_since
            self.down_since = None
        logger.warning("Cache %s reachable again after %.1f s; back to shared counts.", self.location, outage)
        for hook in _recovery_hooks:
            hook()

    def recovered_within(self, seconds: float) -> bool:
        """True when an outage ended (or is going on) less than `seconds` ago.

        What the cache held from before then may predate a change it could not be told about.
        """
        if self.down_since is not None:
            return True
        return self.up_since is not None and time.monotonic() - self.up_since < seconds


_breakers: dict[str, CircuitBreaker] = {}
_breakers_lock = threading.Lock()


def _breaker_for(location: str) -> CircuitBreaker:
    # Django keeps a cache instance per thread; the breaker is per process so that an outage is
    # noticed, logged and retried once, not once per thread.
    with _breakers_lock:
        return _breakers.setdefault(location, CircuitBreaker(location))


class PooledRedisCache(SharedClientRedisCache):
    def __init__(self, server, params):
        options = {
            "socket_connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": READ_TIMEOUT_SECONDS,
            **params.get("OPTIONS", {}),
        }
        super().__init__(server, {**params, "OPTIONS": options})
        self.breaker = _breaker_for(server if isinstance(server, str) else ",".join(server))


def call(operation: str, *args, **kwargs):
    """`caches["default"].<operation>(*args, **kwargs)` behind the breaker.

    Raises CacheUnavailable when Redis fails, and at once (no connection attempt) while the
    breaker is open; the caller decides what to do without the cache.
    """
    backend = caches["default"]
    breaker: CircuitBreaker | None = getattr(backend, "breaker", None)
    if breaker is None:  # the in-process cache of the embedded default cannot be unreachable
        return getattr(backend, operation)(*args, **kwargs)
    started = breaker.begin()
    if started is None:
        raise CacheUnavailable
    try:
        result = getattr(backend, operation)(*args, **kwargs)
    except RedisError as exc:
        # An error reply as well as a lost connection. The calls made here (set, add, delete) work
        # on a key of any type, so a refusal is the server's state (out of memory, a read-only
        # replica, a wrong password) and skipping the server for a while is right.
        breaker.record_failure(exc, started)
        raise CacheUnavailable from exc
    breaker.record_success(started)
    return result
