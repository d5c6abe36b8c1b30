"""The gateway's use of Django and redis-py internals, kept in salloq/core/redis_access.py, against a
real redis-server of the test's own: a dropped connection is replaced without an outage, an error
reply is served from the process's own count without a 500 or a false outage, and no other module
reaches into either library."""

import ast
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.core.cache import caches

from salloq.core import apikeys, cache, ratelimit, redis_access
from tests.conftest import ApiClient
from tests.core import test_cache_outage
from tests.factories import make_api_key

ROOT = Path(__file__).resolve().parents[2]
# A redis-server on a free port, stopped after the test (CLIENT KILL must not reach the shared one).
own_redis = test_cache_outage.own_redis


def gateway_connections(server) -> set[int]:
    """Ids of the connections whose last command was the gateway's GET of a key's cached lookup."""
    return {client["id"] for client in server.client_list() if client["cmd"] == "get"}


@pytest.mark.django_db
def test_a_connection_redis_dropped_is_replaced_without_an_outage(own_redis, company, caplog):
    caplog.set_level(logging.WARNING, logger="salloq.cache")
    _, plain = make_api_key(company, hourly_limit=100)
    client = ApiClient(plain, company.pk)
    assert client.get("/api/")["X-RateLimit-Remaining"] == "99"
    server = own_redis.client()
    dropped = gateway_connections(server)
    assert dropped, server.client_list()

    # Every connection but the one asking: the gateway's own and the cache client's pool.
    assert server.client_kill_filter(_type="normal", skip_me=True) >= 2

    response = client.get("/api/")
    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "98"  # counted in Redis, once, on a fresh connection
    assert gateway_connections(server).isdisjoint(dropped)
    assert cache.call("add", "probe", 1, 10) is True  # Django's cache client reconnects too
    assert caches["default"].breaker.down_since is None
    assert not [record for record in caplog.records if record.name == "salloq.cache"]


@pytest.mark.django_db
def test_a_counter_of_the_wrong_type_is_counted_in_the_process_not_a_500(own_redis, company, caplog, monkeypatch):
    monkeypatch.setattr(ratelimit, "_reported_refusals", set())
    caplog.set_level(logging.WARNING, logger="salloq.cache")
    _, plain = make_api_key(company, hourly_limit=2)
    limited = ApiClient(plain, company.pk)
    _, other_plain = make_api_key(company, hourly_limit=50)
    other = ApiClient(other_plain, company.pk)
    moment = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
    window = int(moment.timestamp()) // 3600 * 3600
    counter = caches["default"].make_key(f"ratelimit:key:{apikeys.hash_key(plain)[:32]}:{window}")
    server = own_redis.client()
    server.rpush(counter, "not a counter")  # INCR now answers WRONGTYPE

    with time_machine.travel(moment, tick=False):
        answers = [limited.get("/api/") for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 429]
        assert [answer["X-RateLimit-Remaining"] for answer in answers] == ["1", "0", "0"]
        assert other.get("/api/")["X-RateLimit-Remaining"] == "49"

    # Redis answered: no outage, and the other key went on counting there.
    assert caches["default"].breaker.down_since is None
    other_counter = caches["default"].make_key(f"ratelimit:key:{apikeys.hash_key(other_plain)[:32]}:{window}")
    assert server.get(other_counter) == b"1"
    assert server.lrange(counter, 0, -1) == [b"not a counter"]  # left alone
    records = [record for record in caplog.records if record.name == "salloq.cache"]
    assert len(records) == 1, [record.getMessage() for record in records]  # one error, not one per request
    assert records[0].levelno == logging.ERROR and "WRONGTYPE" in records[0].getMessage()
    assert "Redis 7 or later" in records[0].getMessage()


def test_an_error_reply_leaves_the_connection_in_step(own_redis):
    backend = caches["default"]
    replies = redis_access.exchange(
        backend, [("SET", "in-step", "v"), ("EXPIRE", "in-step", 60, "SOMETIMES"), ("GET", "in-step")]
    )
    assert isinstance(replies[1], redis_access.ErrorReply)
    assert (replies[0], replies[2]) == (b"OK", b"v")
    # The next exchange on the thread's connection reads its own replies, not leftovers.
    assert redis_access.exchange(backend, [("INCR", "in-step-count"), ("GET", "in-step")]) == [1, b"v"]


def test_a_value_read_in_the_exchange_decodes_as_the_cache_stores_it(own_redis):
    backend = caches["default"]
    backend.set("decoded", {"scopes": ("*",), "limit": 7}, 60)
    [raw] = redis_access.exchange(backend, [("GET", backend.make_key("decoded"))])
    assert redis_access.loads(backend, raw) == {"scopes": ("*",), "limit": 7}


# --- Containment ----------------------------------------------------------------------------------

PACKAGES = ("salloq", "contacts", "catalog", "campaigns", "flows", "events", "connector")
REDIS_ACCESS = Path("salloq/core/redis_access.py")


def project_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(ROOT), ast.parse(path.read_text(), filename=str(path))


def imported_modules(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def test_only_redis_access_imports_redis_py_or_djangos_redis_backend():
    offenders = [
        f"{path}: {module}"
        for path, tree in project_modules()
        if path != REDIS_ACCESS
        for module in imported_modules(tree)
        if module == "redis" or module.startswith(("redis.", "django.core.cache.backends.redis"))
    ]
    assert not offenders, offenders


# The private names of Django, redis-py and kombu that redis_access and the broker use, and no other
# module may: tests/core/test_private_names.py (every app package).
