"""Every use of Django's Redis cache internals and of redis-py below its client API, in one place.

Two speed-ups of the API path (bench/README.md) need what neither library offers publicly:

- one `redis.Redis` per connection pool: Django's RedisCacheClient builds a new one for every
  cache call (about 50 µs each with redis-py 8), so `SharedClientRedisCache` swaps in a client
  class that keeps one per pool (`RedisCache._class`, `RedisCacheClient._client`,
  `._get_connection_pool_index`, `._get_connection_pool`);
- the gateway's single round trip (`exchange`): its fixed commands are packed, sent and read on a
  connection the thread keeps, without redis-py's pipeline (`ConnectionPool.make_connection`,
  `Connection.pack_commands`, `.send_packed_command`, `.read_response`) made from the cache's
  own pool (`RedisCache._cache`, `RedisCacheClient._get_connection_pool`), and a cached value
  read that way is decoded with the cache's own serializer (`RedisCacheClient._serializer`).

An upgrade of Django or redis-py that changes any of these breaks this module and its tests
(tests/core/test_gateway_redis.py, against a real redis-server), nothing else. No other module
imports redis-py: they catch `RedisError` from here.
"""

import os
import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

__all__ = ["ErrorReply", "RedisError", "SharedClientRedisCache", "exchange", "loads"]

# A command Redis answered with an error (WRONGTYPE, an unknown command or option, OOM): the
# connection is fine and in step, the command did nothing.
ErrorReply = ResponseError


class _SharedClientCacheClient(RedisCacheClient):
    """Django's cache client, with one thread-safe `redis.Redis` per pool instead of one per call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class SharedClientRedisCache(RedisCache):
    """Django's Redis cache backend whose calls share one client per connection pool."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _SharedClientCacheClient


def loads(backend: RedisCache, raw: bytes):
    """A value `exchange` read with GET, decoded as the cache's own `get` would."""
    return backend._cache._serializer.loads(raw)


_thread_state = threading.local()


def _thread_connection(backend: RedisCache):
    # The connection is made from the cache's own pool settings (address, password, database, TLS)
    # but kept by the thread, so a request takes no lock; a new process (a forked worker) makes
    # its own, and so does a thread after the cache's settings change (a new pool).
    pool = backend._cache._get_connection_pool(True)
    state = _thread_state
    connection = getattr(state, "connection", None)
    if connection is None or state.pool is not pool or state.pid != os.getpid():
        connection = state.connection = pool.make_connection()
        state.pool, state.pid = pool, os.getpid()
    return connection


class _DroppedBeforeReply(RedisConnectionError):
    """The connection failed before Redis answered anything: it was dropped while it sat idle."""


def _round_trip(connection, packed: list, count: int) -> list:
    replies: list = []
    try:
        connection.send_packed_command(packed)
        for _ in range(count):
            try:
                replies.append(connection.read_response())
            except ResponseError as exc:  # read the others too, or the next request gets them
                replies.append(exc)
    except RedisConnectionError as exc:
        connection.disconnect()
        if not replies:
            raise _DroppedBeforeReply(*exc.args) from exc
        raise
    except BaseException:
        connection.disconnect()  # a reply is missing: the stream is out of step
        raise
    return replies


def exchange(backend: RedisCache, commands: list[tuple]) -> list:
    """Send `commands` to the cache's Redis in one write and read their replies: one round trip.

    This is the API gateway's hot path. redis-py's pipeline spends about as much CPU again as the
    round trip itself (a pool checkout under a lock, retry wrappers, a callback per reply), none of
    which a few fixed commands need.

    Returns one reply per command; a command Redis refused is an `ErrorReply` in its place (every
    reply is read, so the connection stays in step for the next request). Raises `RedisError` when
    the connection fails. A connection Redis dropped while it sat idle (a restart, a timeout,
    CLIENT KILL) fails before any reply: the commands are sent once more on a fresh one. At worst a
    command Redis did run is run again: a request counted twice, one of an hour's allowance.
    """
    connection = _thread_connection(backend)
    packed = connection.pack_commands(commands)
    try:
        return _round_trip(connection, packed, len(commands))
    except _DroppedBeforeReply:
        return _round_trip(connection, packed, len(commands))
