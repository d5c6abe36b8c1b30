"""Hourly rate limit (the Salloq Marketing API): headers on every response, a real 429, counters shared
across processes."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client, override_settings

from tests.conftest import ApiClient, make_api_client

pytestmark = pytest.mark.django_db


def test_every_api_response_carries_rate_limit_headers(api):
    for path in ["/api/", "/api/api-keys", "/api/does-not-exist"]:
        response = api.get(path)
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response.headers), path
    assert api.get("/api/")["X-RateLimit-Limit"] == "1000"


def test_remaining_counts_down_per_key(api, company):
    remaining = [int(api.get("/api/")["X-RateLimit-Remaining"]) for _ in range(3)]
    assert remaining == [999, 998, 997]
    other = make_api_client(company)  # a second key has its own budget
    assert other.get("/api/")["X-RateLimit-Remaining"] == "999"


def test_past_the_limit_is_429_with_retry_after_until_the_hour_ends(company):
    client = make_api_client(company, hourly_limit=3)
    moment = datetime(2026, 6, 15, 9, 59, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        for expected_remaining in ["2", "1", "0"]:
            response = client.get("/api/")
            assert response.status_code == 200
            assert response["X-RateLimit-Remaining"] == expected_remaining
        response = client.get("/api/")
        assert response.status_code == 429
        body = response.json()
        assert body["code"] == 429 and body["error"] == "Rate limit exceeded"
        reset = int(datetime(2026, 6, 15, 10, 0, 0, tzinfo=UTC).timestamp())
        assert response["X-RateLimit-Reset"] == str(reset)
        assert response["X-RateLimit-Remaining"] == "0"
        assert response["Retry-After"] == "60"
    with time_machine.travel(datetime(2026, 6, 15, 10, 0, 1, tzinfo=UTC), tick=False):
        assert client.get("/api/").status_code == 200  # a new hour, a new budget


def test_throttled_request_does_not_reach_the_view(company, django_assert_num_queries):
    client = make_api_client(company, hourly_limit=1)
    client.get("/api/")
    with django_assert_num_queries(0):
        assert client.get("/api/api-keys").status_code == 429


@override_settings(API_ANONYMOUS_HOURLY_LIMIT=2)
def test_requests_without_a_valid_key_are_limited_per_address(company):
    client = Client(REMOTE_ADDR="203.0.113.7")
    statuses = [client.get("/api/", headers={"X-Company-ID": str(company.pk)}).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


HIT_SCRIPT = """
import json, sys, django
django.setup()
from salloq.core import ratelimit
print(json.dumps([ratelimit.hit(sys.argv[1], 10_000).count for _ in range(int(sys.argv[2]))]))
"""


@pytest.mark.redis
def test_redis_counter_is_exact_under_concurrent_processes():
    bucket = f"concurrency-{os.getpid()}-{os.urandom(4).hex()}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "salloq.settings"}
    workers = [
        subprocess.Popen([sys.executable, "-c", HIT_SCRIPT, bucket, "250"], stdout=subprocess.PIPE, env=env)
        for _ in range(4)
    ]
    counts = sorted(count for worker in workers for count in json.loads(worker.communicate(timeout=60)[0]))
    # Every hit saw a distinct count: no increment was lost or duplicated.
    assert counts == list(range(1, 1001))


@override_settings(API_ANONYMOUS_HOURLY_LIMIT=7)
def test_a_request_is_counted_against_its_key_or_else_its_address_never_both(company):
    keyed = make_api_client(company, hourly_limit=50)
    first = keyed.get("/api/")
    assert (first.status_code, first["X-RateLimit-Limit"], first["X-RateLimit-Remaining"]) == (200, "50", "49")
    # The same client address without a key (then with a key that does not exist): the address's budget.
    keyless = Client(REMOTE_ADDR="127.0.0.1")
    anonymous = keyless.get("/api/", headers={"X-Company-ID": str(company.pk)})
    assert (anonymous.status_code, anonymous["X-RateLimit-Limit"], anonymous["X-RateLimit-Remaining"]) == (
        401,
        "7",
        "6",
    )
    unknown = ApiClient("sqm_" + "x" * 40, company.pk).get("/api/")
    assert (unknown.status_code, unknown["X-RateLimit-Remaining"]) == (401, "5")
    # Neither took anything from the key's budget.
    assert keyed.get("/api/")["X-RateLimit-Remaining"] == "48"
