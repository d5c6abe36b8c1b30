"""A cache outage is not an API outage (issue 9).

Each test runs its own redis-server on a free loopback port and stops, freezes (SIGSTOP) and
restarts it while requests go through the real gateway: keys are then looked up in the
database, rate limits are counted per process, one warning is logged per outage, a hung Redis
does not make requests wait, and the shared counts resume when Redis is back.
"""

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db import OperationalError, connection
from django.test import Client

from salloq.core import ratelimit, services
from tests.conftest import REQUIRE_SERVICES, ApiClient, make_api_client

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnRedis:
    """A redis-server of this test's own, on a free port, without persistence."""

    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def freeze(self) -> None:
        # A hung Redis: connections are still accepted by the kernel, nothing is answered.
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.stop()

    def counters(self) -> dict[str, int]:
        client = self.client()
        return {key.decode(): int(client.get(key)) for key in client.scan_iter("*ratelimit:key:*")}


@pytest.fixture
def own_redis(settings):
    if REDIS_SERVER is None:
        message = "needs the redis-server binary (apt-get install redis-server)"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message} (SALLOQ_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    server = OwnRedis()
    server.start()
    cache_settings = {
        "default": {
            "BACKEND": "salloq.core.cache.PooledRedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": f"outage-{uuid.uuid4().hex}",
        }
    }
    # Through pytest-django's `settings`, not a nested override_settings: a test that changes
    # another setting then unwinds in order, and CACHES never outlives the test.
    settings.CACHES = cache_settings
    try:
        # Tests do not wait the production 5 s between attempts.
        caches["default"].breaker.retry_seconds = 0.3
        yield server
    finally:
        server.close()


def wait_for(condition, timeout: float = 15, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {message}"
        time.sleep(0.05)


def outage_records(caplog) -> tuple[list, list]:
    records = [record for record in caplog.records if record.name == "salloq.cache"]
    down = [record for record in records if "unreachable" in record.getMessage()]
    up = [record for record in records if "reachable again" in record.getMessage()]
    return down, up


class Load:
    """Threads sending GET /api/ with one key until stopped, recording every answer."""

    def __init__(self, client: ApiClient, threads: int = 3):
        self.headers = client.headers
        self.results: list[tuple[float, int, float]] = []  # (started, status, seconds)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        client = Client()
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                status = client.get("/api/", headers=self.headers).status_code
                with self._lock:
                    self.results.append((started, status, time.monotonic() - started))
        finally:
            connection.close()  # this thread's database connection

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in self._threads), "a request never finished"

    def count(self) -> int:
        with self._lock:
            return len(self.results)

    def since(self, moment: float) -> list[tuple[float, int, float]]:
        with self._lock:
            return [result for result in self.results if result[0] >= moment]


@pytest.mark.django_db(transaction=True)
def test_api_keeps_serving_while_redis_is_stopped_and_restarted(own_redis, company, caplog):
    client = make_api_client(company, hourly_limit=100_000)
    caplog.set_level(logging.WARNING, logger="salloq.cache")
    with Load(client) as load:
        wait_for(lambda: load.count() >= 20, message="requests before the outage")
        assert sum(own_redis.counters().values()) >= 20  # counted in Redis

        own_redis.stop()
        stopped = time.monotonic()
        wait_for(lambda: len(load.since(stopped)) >= 60, message="requests during the outage")

        own_redis.start()
        restarted = time.monotonic()
        # Counts resume in Redis (the restarted server starts empty).
        wait_for(lambda: sum(own_redis.counters().values()) >= 20, message="counts in Redis again")
        wait_for(lambda: len(load.since(restarted)) >= 20, message="requests after the restart")

    statuses = {status for _, status, _ in load.results}
    assert statuses == {200}, statuses
    during = [seconds for started, _, seconds in load.results if stopped <= started < restarted]
    assert len(during) >= 60 and max(during) < 2, max(during)
    down, up = outage_records(caplog)
    assert len(down) == 1 and len(up) == 1, [record.getMessage() for record in caplog.records]

    # After the load: the next request's remaining allowance is Redis's count.
    before = sum(own_redis.counters().values())
    response = client.get("/api/")
    assert int(response["X-RateLimit-Remaining"]) == 100_000 - (before + 1)


@pytest.mark.django_db(transaction=True)
def test_a_hung_redis_does_not_make_requests_wait(own_redis, company):
    client = make_api_client(company, hourly_limit=100_000)
    assert client.get("/api/").status_code == 200
    breaker = caches["default"].breaker
    breaker.retry_seconds = 2
    own_redis.freeze()
    answers: list[tuple[int, float]] = []

    def send():
        for _ in range(30):
            started = time.monotonic()
            answers.append((client.get("/api/").status_code, time.monotonic() - started))
        connection.close()

    sender = threading.Thread(target=send, daemon=True)
    started = time.monotonic()
    sender.start()
    sender.join(20)
    assert not sender.is_alive(), f"requests hang on a frozen Redis ({len(answers)} of 30 answered)"
    elapsed = time.monotonic() - started
    assert [status for status, _ in answers] == [200] * 30
    # A request that tries Redis waits for the read timeout (0.5 s), once per retry interval;
    # the others skip it.
    assert max(seconds for _, seconds in answers) < 1.5
    waited = [seconds for _, seconds in answers if seconds >= 0.4]
    assert 1 <= len(waited) <= 1 + elapsed / breaker.retry_seconds, (len(waited), elapsed)

    own_redis.thaw()
    wait_for(lambda: client.get("/api/").status_code == 200 and breaker.down_since is None, message="recovery")
    before = sum(own_redis.counters().values())
    client.get("/api/")
    assert sum(own_redis.counters().values()) == before + 1


@pytest.mark.django_db
def test_while_redis_is_down_each_key_is_limited_in_the_process(own_redis, company, settings):
    settings.API_ANONYMOUS_HOURLY_LIMIT = 2
    limited = make_api_client(company, hourly_limit=3)
    other = make_api_client(company, hourly_limit=3)
    own_redis.stop()
    answers = [limited.get("/api/") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer["X-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
    body = answers[-1].json()
    assert body["code"] == 429 and body["error"] == "Rate limit exceeded"
    assert int(answers[-1]["Retry-After"]) >= 1
    assert other.get("/api/")["X-RateLimit-Remaining"] == "2"  # its own count
    anonymous = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [anonymous.get("/api/", headers={"X-Company-ID": str(company.pk)}).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


@pytest.mark.django_db
def test_one_warning_per_outage(own_redis, api, caplog):
    caplog.set_level(logging.WARNING, logger="salloq.cache")
    caches["default"].breaker.retry_seconds = 0  # every request tries Redis again
    for outage in (1, 2):
        own_redis.stop()
        assert all(api.get("/api/").status_code == 200 for _ in range(10))
        own_redis.start()
        assert api.get("/api/").status_code == 200
        down, up = outage_records(caplog)
        assert (len(down), len(up)) == (outage, outage)


@pytest.mark.django_db
def test_503_with_retry_after_when_the_database_cannot_check_the_key_either(own_redis, api):
    own_redis.stop()

    def refuse(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(refuse):
        response = api.get("/api/")
    assert response.status_code == 503
    assert response.json() == {
        "error": "Service unavailable",
        "code": 503,
        "message": "The API is briefly unable to check API keys. Retry after 5 seconds.",
    }
    assert response["Retry-After"] == "5"


@pytest.mark.django_db
def test_503_when_the_in_process_count_is_full(own_redis, api, monkeypatch):
    own_redis.stop()
    assert api.get("/api/").status_code == 200
    monkeypatch.setattr(ratelimit.fallback_counters, "max_buckets", 0)
    assert api.get("/api/").status_code == 200  # a bucket already counted goes on
    response = Client(REMOTE_ADDR="203.0.113.10").get("/api/")
    assert response.status_code == 503
    assert response.json()["code"] == 503 and response["Retry-After"] == "5"


@pytest.mark.django_db
def test_a_key_revoked_while_redis_hangs_stays_refused_when_it_is_back(own_redis, company, api_key, api):
    assert api.get("/api/").status_code == 200  # the lookup is now cached in Redis
    own_redis.freeze()
    assert api.get("/api/").status_code == 200  # looked up in the database
    services.api_key_revoke(api_key=api_key[0])  # the cache cannot be told
    assert api.get("/api/").status_code == 401
    own_redis.thaw()
    breaker = caches["default"].breaker
    wait_for(lambda: api.get("/api/").status_code == 401 and breaker.down_since is None, message="recovery")
    for _ in range(5):
        assert api.get("/api/").status_code == 401
    assert not own_redis.client().keys("*apikey:*")  # dropped on recovery


@pytest.mark.django_db
def test_revoking_while_redis_is_stopped_refuses_the_key_at_once(own_redis, api_key, api):
    assert api.get("/api/").status_code == 200
    own_redis.stop()
    services.api_key_revoke(api_key=api_key[0])
    assert api.get("/api/").status_code == 401


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_keep_serving_through_a_redis_restart(own_redis, company, tmp_path):
    """As measured in the issue: gunicorn with several workers, PostgreSQL and Redis."""
    client = make_api_client(company, hourly_limit=100_000)
    database = django_settings.DATABASES["default"]
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "1",
        "SECRET_KEY": "test-" + uuid.uuid4().hex,
        "SALLOQ_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CACHE_URL": own_redis.url,
        "CELERY_BROKER_URL": "memory://",
    }
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "salloq.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    results: list[tuple[float, int]] = []
    stop = threading.Event()

    def send():
        # A new connection per request, so both workers get a share.
        while not stop.is_set():
            started = time.monotonic()
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/", headers=client.headers, timeout=10).status_code
            except httpx.TransportError:
                status = 0
            results.append((started, status))

    try:
        wait_for(lambda: _answers(port), timeout=60, message="gunicorn to start")
        senders = [threading.Thread(target=send, daemon=True) for _ in range(3)]
        for sender in senders:
            sender.start()
        wait_for(lambda: len(results) >= 30, message="requests before the outage")
        own_redis.stop()
        stopped = time.monotonic()
        wait_for(lambda: sum(1 for started, _ in results if started > stopped) >= 60, message="outage requests")
        own_redis.start()
        wait_for(lambda: sum(own_redis.counters().values()) >= 30, message="counts in Redis again")
        stop.set()
        for sender in senders:
            sender.join(30)
    finally:
        stop.set()
        server.terminate()
        _, errors = server.communicate(timeout=30)

    statuses = {status for _, status in results}
    assert statuses == {200}, statuses
    # Each worker noticed the outage once and its end once.
    assert errors.count("unreachable") == errors.count("reachable again") >= 1, errors
    assert errors.count("unreachable") <= 2, errors


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/", timeout=2).status_code == 401
    except httpx.TransportError:
        return False
