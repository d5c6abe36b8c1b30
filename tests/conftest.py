import os
import re
import uuid

import pytest
from django.core.cache.backends.base import BaseCache
from django.db import connection
from django.test import Client
from hypothesis import settings as hypothesis_settings

from salloq.celery import app as celery_app
from salloq.core.models import Role
from tests.factories import CompanyFactory, MembershipFactory, make_api_key

# Each test process gets its own in-memory broker: a shared one would let a worker in one
# xdist process take tasks meant for another process's test database. CI's smoke test
# exercises the real filesystem broker, and production runs on Redis.
celery_app.conf.update(broker_url="memory://", broker_transport_options={}, task_always_eager=False)

# On CI (CI=true) property-based tests and the schemathesis fuzzing draw the same examples on every
# run (seeded by the test's name), so a landing depends on the code, not on the luck of the draw;
# local runs keep exploring new examples.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")

# CI runs with SALLOQ_REQUIRE_SERVICES=1: a test that needs PostgreSQL or Redis
# then fails instead of skipping, so a green run proves they ran.
REQUIRE_SERVICES = os.environ.get("SALLOQ_REQUIRE_SERVICES") == "1"


def _missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SALLOQ_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://…")
    if item.get_closest_marker("redis") and not os.environ.get("REDIS_URL") and not os.environ.get("CACHE_URL"):
        _missing("needs Redis: set REDIS_URL=redis://…")


@pytest.fixture(autouse=True)
def _isolated_cache(monkeypatch):
    """Each test counts rate limits, caches key lookups and remembers webhook deliveries in its own
    namespace, in every thread: Django's cache objects are per thread, so the live server's thread
    has its own, which a prefix set on this thread's object would miss (and a webhook sent by a
    browser test would then be answered as a replay of one sent in an earlier run)."""
    namespace = f"test-{uuid.uuid4().hex}"
    make_key = BaseCache.make_key
    monkeypatch.setattr(
        BaseCache, "make_key", lambda self, key, version=None: make_key(self, f"{namespace}:{key}", version)
    )
    yield


@pytest.fixture
def company(db):
    return CompanyFactory(name="Acme Shop")


@pytest.fixture
def other_company(db):
    return CompanyFactory(name="Rival Store")


class ApiClient:
    """A Django test client that sends the Salloq Marketing API's two headers on every request."""

    def __init__(self, plain_key: str, company_id: int):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {plain_key}", "X-Company-ID": str(company_id)}

    def request(self, method: str, path: str, data=None, headers=None, **kwargs):
        send = getattr(self.client, method.lower())
        all_headers = {**self.headers, **(headers or {})}
        if data is not None and method.upper() in {"POST", "PUT", "PATCH", "DELETE"}:
            kwargs.setdefault("content_type", "application/json")
        return send(path, data=data, headers=all_headers, **kwargs)

    def get(self, path, data=None, **kwargs):
        return self.request("GET", path, data, **kwargs)

    def post(self, path, data=None, **kwargs):
        return self.request("POST", path, data, **kwargs)

    def put(self, path, data=None, **kwargs):
        return self.request("PUT", path, data, **kwargs)

    def patch(self, path, data=None, **kwargs):
        return self.request("PATCH", path, data, **kwargs)

    def delete(self, path, data=None, **kwargs):
        return self.request("DELETE", path, data, **kwargs)


@pytest.fixture
def api_key(company):
    return make_api_key(company, name="Full access")


@pytest.fixture
def api(api_key, company):
    """API client authenticated with a full-access key of `company`."""
    return ApiClient(api_key[1], company.pk)


@pytest.fixture
def other_api(other_company):
    """API client authenticated with a full-access key of `other_company`."""
    _, plain = make_api_key(other_company, name="Rival key")
    return ApiClient(plain, other_company.pk)


def make_api_client(company, **key_kwargs) -> ApiClient:
    _, plain = make_api_key(company, **key_kwargs)
    return ApiClient(plain, company.pk)


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker (solo pool, in a thread) consuming this process's in-memory broker."""
    from celery.contrib.testing.worker import start_worker

    from salloq.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10) as worker:
        yield worker


# --- Dashboard users: a member of `company` per role ------------------------------------------


def log_in(client: Client, company, role: str):
    """A new member of `company` with `role`, logged in on `client` (the user)."""
    user = MembershipFactory(company=company, role=role).user
    client.force_login(user)
    return user


@pytest.fixture
def owner(company):
    """An owner of `company`, not logged in (password "correct-horse-battery")."""
    return MembershipFactory(company=company, role=Role.OWNER).user


@pytest.fixture
def owner_client(client, company):
    log_in(client, company, Role.OWNER)
    return client


@pytest.fixture
def marketer_client(client, company):
    log_in(client, company, Role.MARKETER)
    return client


@pytest.fixture
def viewer_client(client, company):
    log_in(client, company, Role.VIEWER)
    return client


@pytest.fixture
def marketer(client, company):
    """The marketer `client` is logged in as, for tests that need the user too."""
    return log_in(client, company, Role.MARKETER)


@pytest.fixture
def viewer(client, company):
    """The viewer `client` is logged in as, for tests that need the user too."""
    return log_in(client, company, Role.VIEWER)


# --- HTML of a response --------------------------------------------------------------------------


def html(response) -> str:
    return response.content.decode()


def csrf_token(response) -> str:
    """The CSRF token of the first form on the page (for a client with enforce_csrf_checks)."""
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html(response))
    assert match, "no CSRF token on the page"
    return match.group(1)
