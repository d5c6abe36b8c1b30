"""POST /api/events answers a plain JSON body without DRF's request and response objects (the lean
path, events/api/views.py); everything it answers must be what DRF's path answers."""

import json

import pytest

from events.api.views import EventsView
from events.models import Event
from salloq.core.models import Scope
from tests.conftest import make_api_client

pytestmark = pytest.mark.django_db

ORDER = {"order_id": "ORD-1", "email": "jane@example.com", "total": 149.99, "first_name": "Jane"}
# Headers a response carries that differ from one request to the next.
VARYING = {"X-RateLimit-Remaining"}


def answer(response) -> tuple:
    headers = {name: value for name, value in response.items() if name not in VARYING}
    return response.status_code, response.content, headers


def both_paths(monkeypatch, send) -> tuple:
    """The answer of the lean path and of DRF's to the same request, each on fresh data."""
    answers = []
    for lean in (True, False):
        monkeypatch.setattr(EventsView, "lean_post", lean)
        answers.append(send())
        Event.objects.all().delete()
    return tuple(answers)


@pytest.mark.parametrize(
    ("body", "headers", "content_type"),
    [
        ({"event_type": "order_placed", "event_data": {"email": "jane@example.com"}}, {}, "application/json"),
        ({"event_type": "Not A Type", "event_data": []}, {}, "application/json"),
        ({"event_type": "order_placed", "event_data": ORDER, "extra": 1}, {}, "application/json; charset=utf-8"),
        ({"event_type": "order_placed", "event_data": {**ORDER, "total": 1e308 * 10}}, {}, "application/json"),
        ({"event_type": "order_placed", "event_data": {**ORDER, "first_name": "\x00"}}, {}, "application/json"),
        ({"event_type": "order_placed", "event_data": ORDER}, {"Idempotency-Key": "two words"}, "application/json"),
        ("[" * 40 + "]" * 40, {}, "application/json"),
        ("{not json", {}, "application/json"),
        ("", {}, "application/json"),
        ({"event_type": "order_placed", "event_data": ORDER}, {}, "text/plain"),
    ],
)
def test_a_refused_event_gets_the_same_answer_on_both_paths(api, monkeypatch, body, headers, content_type):
    text = body if isinstance(body, str) else json.dumps(body).replace("Infinity", "1e400")
    lean, drf = both_paths(
        monkeypatch, lambda: answer(api.post("/api/events", text, content_type=content_type, headers=headers))
    )
    assert lean == drf
    assert lean[0] in (400, 415)


def test_a_stored_event_and_its_retry_get_the_same_answers_on_both_paths(api, monkeypatch):
    def send():
        first = api.post("/api/events", json.dumps({"event_type": "order_placed", "event_data": ORDER}))
        retry = api.post("/api/events", json.dumps({"event_type": "order_placed", "event_data": ORDER}))
        assert first.json()["event_id"] == retry.json()["event_id"]
        assert Event.objects.count() == 1
        shape = {key: value for key, value in first.json().items() if key not in ("event_id", "contact_id")}
        return first.status_code, retry.status_code, shape, retry.json()["duplicate"], answer(first)[2]

    lean, drf = both_paths(monkeypatch, send)
    assert lean == drf
    assert lean[:4] == (201, 201, {"event_type": "order_placed", "duplicate": False}, True)
    assert lean[4]["Content-Type"] == "application/json"
    assert lean[4]["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_a_key_without_the_write_scope_is_refused_on_both_paths(company, monkeypatch):
    reader = make_api_client(company, name="Reader", scopes=[Scope.EVENTS_READ])
    body = json.dumps({"event_type": "order_placed", "event_data": ORDER})
    lean, drf = both_paths(monkeypatch, lambda: answer(reader.post("/api/events", body)))
    assert lean == drf
    assert lean[0] == 403
    assert not Event.objects.exists()


def test_a_database_failure_is_answered_in_the_error_shape_on_both_paths(api, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("events.api.views.record_events", fail)
    body = json.dumps({"event_type": "order_placed", "event_data": ORDER})
    lean, drf = both_paths(monkeypatch, lambda: answer(api.post("/api/events", body)))
    assert lean == drf
    assert lean[0] == 500
    assert json.loads(lean[1])["code"] == 500
