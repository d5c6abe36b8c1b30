"""POST /api/webhook (issue 11): signed by the company's webhook secret instead of an API key.

Signatures are computed here the way the README tells an integrator to (HMAC-SHA256, hex), not
with the receiver's own helper, so a change in what the receiver signs fails these tests.
"""

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from contacts.models import Contact
from events.models import Event, EventSource
from salloq.core import cache
from salloq.core.models import Company
from salloq.core.services import webhook_secret_rotate
from tests.factories import CompanyFactory, make_api_key

pytestmark = pytest.mark.django_db

URL = "/api/webhook"
ORDER = {
    "event_type": "order_placed",
    "event_data": {"order_id": "ORD-12345", "email": "jane@example.com", "first_name": "Jane", "total": 149.99},
}
# A custom event has no natural key: only the delivery's digest keeps a replay from counting twice.
CUSTOM = {"event_type": "loyalty_tier_changed", "event_data": {"email": "jane@example.com", "tier": "gold"}}


def raw(payload) -> bytes:
    return json.dumps(payload).encode()


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def timestamped(secret: str, body: bytes, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    return f"t={at},v1={hex_hmac(secret, str(at).encode() + b'.' + body)}"


def deliver(company_id, body: bytes, signature: str | None, client: Client | None = None, path: str = URL, **headers):
    if signature is not None:
        headers["X-Webhook-Signature"] = signature
    if company_id is not None:
        headers["X-Company-ID"] = str(company_id)
    return (client or Client()).post(path, data=body, content_type="application/json", headers=headers)


def assert_refused(response, error: str) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["code"] == 401
    assert body["error"] == error
    assert body["message"]


def assert_nothing_stored() -> None:
    assert not Event.objects.exists()
    assert not Contact.objects.exists()


# --- Accepted ------------------------------------------------------------------------------------


def test_a_timestamped_signature_stores_the_event_as_a_webhook_event(company):
    body = raw(ORDER)

    response = deliver(company.pk, body, timestamped(company.webhook_secret, body))

    assert response.status_code == 201, response.content
    event = Event.objects.get()
    recorded = {"event_id": event.pk, "contact_id": event.contact_id, "event_type": "order_placed", "duplicate": False}
    assert response.json() == recorded
    assert (event.company_id, event.event_type, event.source) == (company.pk, "order_placed", EventSource.WEBHOOK)
    assert event.contact.email == "jane@example.com"
    assert str(event.value) == "149.99"
    assert "X-RateLimit-Remaining" in response


def test_the_plain_hex_signature_of_the_body_is_accepted(company):
    """What an integrator reading the Salloq Marketing API alone sends: the hex HMAC of the body."""
    body = raw(ORDER)

    response = deliver(company.pk, body, hex_hmac(company.webhook_secret, body))

    assert response.status_code == 201, response.content
    assert Event.objects.get().source == EventSource.WEBHOOK


@pytest.mark.parametrize("spelling", ["upper", "sha256="])
def test_the_plain_signature_in_upper_case_or_with_a_sha256_prefix(company, spelling):
    body = raw(ORDER)
    digest = hex_hmac(company.webhook_secret, body)
    signature = digest.upper() if spelling == "upper" else f"sha256={digest}"

    assert deliver(company.pk, body, signature).status_code == 201


def test_one_matching_v1_among_several_is_enough(company):
    body = raw(ORDER)
    now = int(time.time())
    good = timestamped(company.webhook_secret, body, now).split("v1=")[1]
    signature = f"t={now},v1={hex_hmac('whsec_not_ours', body)},v1={good}"

    assert deliver(company.pk, body, signature).status_code == 201


def test_the_alias_prefix_serves_the_webhook_too(company):
    body = raw(ORDER)

    response = deliver(company.pk, body, timestamped(company.webhook_secret, body), path="/api.php/webhook")

    assert response.status_code == 201
    assert Event.objects.count() == 1


def test_a_list_stores_each_event_and_a_bad_one_does_not_sink_the_others(company):
    bad = {"event_type": "order_placed", "event_data": {"order_id": "ORD-2", "email": "jane@example.com"}}
    body = raw([ORDER, bad, CUSTOM])

    response = deliver(company.pk, body, timestamped(company.webhook_secret, body))

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [result["status"] for result in results] == [201, 400, 201]
    assert (response.json()["created"], response.json()["failed"]) == (2, 1)
    assert "event_data.total" in results[1]["errors"]
    assert sorted(Event.objects.values_list("event_type", flat=True)) == ["loyalty_tier_changed", "order_placed"]


def test_no_api_key_is_needed(company):
    """Today's "Missing API key" is gone for this path: the signature is the authentication."""
    body = raw(CUSTOM)

    response = deliver(company.pk, body, timestamped(company.webhook_secret, body))

    assert response.status_code == 201, response.content
    assert "WWW-Authenticate" not in response


# --- Refused: 401, nothing stored ------------------------------------------------------------------


def test_a_wrong_signature_is_refused_and_stores_nothing(company):
    body = raw(ORDER)

    response = deliver(company.pk, body, timestamped("whsec_someone_else", body))

    assert_refused(response, "Invalid signature")
    assert_nothing_stored()


def test_a_body_changed_after_signing_is_refused(company):
    body = raw(ORDER)
    signature = timestamped(company.webhook_secret, body)
    changed = body.replace(b"149.99", b"1.99")

    assert_refused(deliver(company.pk, changed, signature), "Invalid signature")
    assert_nothing_stored()


def test_the_signature_covers_the_raw_bytes_not_the_parsed_json(company):
    """The same JSON with other whitespace is other bytes: signed over one, sent as the other, refused."""
    signed = raw(ORDER)
    sent = json.dumps(ORDER, indent=2).encode()
    assert json.loads(signed) == json.loads(sent)

    assert_refused(deliver(company.pk, sent, hex_hmac(company.webhook_secret, signed)), "Invalid signature")
    assert_nothing_stored()


def test_a_missing_signature_is_refused(company):
    body = raw(ORDER)

    assert_refused(deliver(company.pk, body, None), "Missing signature")
    assert_refused(deliver(company.pk, body, "  "), "Missing signature")
    assert_nothing_stored()


def test_an_api_key_does_not_stand_in_for_the_signature(company):
    _, plain = make_api_key(company)
    response = deliver(company.pk, raw(ORDER), None, HTTP_AUTHORIZATION=f"Bearer {plain}")

    assert_refused(response, "Missing signature")
    assert_nothing_stored()


@pytest.mark.parametrize(
    "signature",
    [
        "t=abc,v1=" + "0" * 64,
        "t=1700000000",
        "v1=" + "0" * 64,
        "t=1700000000,v1=xyz",
        "0" * 63,
        "t=1700000000,v1=" + "0" * 64 + ",v1=",
        "\u00b2" * 64,
    ],
)
def test_an_unreadable_signature_is_refused(company, signature):
    assert_refused(deliver(company.pk, raw(ORDER), signature), "Invalid signature")
    assert_nothing_stored()


def test_an_expired_signature_is_refused_and_one_at_the_tolerance_accepted(company):
    body = raw(CUSTOM)
    now = int(time.time())

    with time_machine.travel(now, tick=False):  # the edges to the second, however slow the machine
        assert_refused(
            deliver(company.pk, body, timestamped(company.webhook_secret, body, now - 301)), "Expired signature"
        )
        assert_nothing_stored()
        assert deliver(company.pk, body, timestamped(company.webhook_secret, body, now - 300)).status_code == 201


def test_a_signature_from_the_future_is_refused_and_one_at_the_tolerance_accepted(company):
    body = raw(CUSTOM)
    now = int(time.time())

    with time_machine.travel(now, tick=False):
        response = deliver(company.pk, body, timestamped(company.webhook_secret, body, now + 301))
        assert_refused(response, "Invalid signature timestamp")
        assert_nothing_stored()
        assert deliver(company.pk, body, timestamped(company.webhook_secret, body, now + 300)).status_code == 201


def test_the_tolerance_is_a_setting(company, settings):
    settings.WEBHOOK_TOLERANCE_SECONDS = 10
    body = raw(CUSTOM)

    response = deliver(company.pk, body, timestamped(company.webhook_secret, body, int(time.time()) - 60))

    assert_refused(response, "Expired signature")


@pytest.mark.parametrize(
    ("company_header", "error"),
    [
        (None, "Missing company ID"),
        ("", "Missing company ID"),
        ("abc", "Invalid company ID"),
        ("\u00b9", "Invalid company ID"),
    ],
)
def test_a_missing_or_malformed_company_id_is_refused(company, company_header, error):
    body = raw(ORDER)
    headers = {} if company_header is None else {"HTTP_X_COMPANY_ID": company_header}

    response = Client().post(
        URL,
        data=body,
        content_type="application/json",
        HTTP_X_WEBHOOK_SIGNATURE=hex_hmac(company.webhook_secret, body),
        **headers,
    )

    assert_refused(response, error)
    assert_nothing_stored()


def test_an_unknown_company_is_refused(company):
    body = raw(ORDER)

    assert_refused(deliver(company.pk + 1000, body, hex_hmac(company.webhook_secret, body)), "Invalid company ID")
    assert_nothing_stored()


def test_a_company_without_a_secret_refuses_every_webhook(db):
    company = CompanyFactory(webhook_secret="")
    body = raw(ORDER)

    assert_refused(deliver(company.pk, body, hex_hmac("", body)), "Webhooks not set up")
    assert_nothing_stored()


def test_one_companys_secret_cannot_post_into_another(company, other_company):
    body = raw(ORDER)

    response = deliver(other_company.pk, body, timestamped(company.webhook_secret, body))

    assert_refused(response, "Invalid signature")
    assert_nothing_stored()
    # Signed by the right company, it lands in that company only.
    assert deliver(company.pk, body, timestamped(company.webhook_secret, body)).status_code == 201
    assert list(Event.objects.values_list("company_id", flat=True)) == [company.pk]
    assert not Event.objects.for_company(other_company).exists()


def test_a_refusal_is_logged_with_company_and_reason_but_never_the_body(company, caplog):
    secret_marker = "card-number-4242424242424242"
    body = raw({"event_type": "loyalty_tier_changed", "event_data": {"email": "a@example.com", "note": secret_marker}})

    with caplog.at_level(logging.INFO, logger="salloq.webhooks"):
        deliver(company.pk, body, timestamped("whsec_wrong", body))
        deliver(company.pk, body, None)

    records = [record for record in caplog.records if record.name == "salloq.webhooks"]
    messages = [record.getMessage() for record in records]
    assert len(records) == 2, messages
    assert "signature mismatch" in messages[0] and str(company.pk) in messages[0]
    assert "missing signature" in messages[1]
    assert all(record.levelno == logging.WARNING for record in records)
    assert secret_marker not in caplog.text
    assert body.decode() not in caplog.text


def test_a_body_over_the_upload_limit_is_a_413_and_stores_nothing(company, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = raw({"event_type": "loyalty_tier_changed", "event_data": {"email": "a@example.com", "x": "y" * 2000}})

    response = deliver(company.pk, body, hex_hmac(company.webhook_secret, body))

    assert response.status_code == 413
    assert response.json()["code"] == 413
    assert_nothing_stored()


@pytest.mark.parametrize(
    "body",
    [b"{'not': json}", b"[]", b'"text"', b"42", b'{"a":' * 100 + b"1" + b"}" * 100, b'{"event_type": "x\\u0000y"}'],
)
def test_a_signed_body_that_is_no_event_is_a_400_and_stores_nothing(company, body):
    response = deliver(company.pk, body, timestamped(company.webhook_secret, body))

    assert response.status_code == 400, response.content
    assert response.json()["code"] == 400
    assert_nothing_stored()


# --- Rotation --------------------------------------------------------------------------------------


def test_after_rotation_the_previous_secret_is_accepted_during_the_grace_period_then_refused(company, settings):
    settings.WEBHOOK_PREVIOUS_SECRET_GRACE_HOURS = 24
    old = company.webhook_secret
    new = webhook_secret_rotate(company=company)
    assert new != old

    first = raw({**CUSTOM, "event_data": {**CUSTOM["event_data"], "n": 1}})
    assert deliver(company.pk, first, timestamped(old, first)).status_code == 201
    second = raw({**CUSTOM, "event_data": {**CUSTOM["event_data"], "n": 2}})
    assert deliver(company.pk, second, timestamped(new, second)).status_code == 201

    later = timezone.now() + timedelta(hours=24, minutes=1)
    with time_machine.travel(later, tick=False):
        third = raw({**CUSTOM, "event_data": {**CUSTOM["event_data"], "n": 3}})
        assert_refused(deliver(company.pk, third, timestamped(old, third)), "Invalid signature")
        fourth = raw({**CUSTOM, "event_data": {**CUSTOM["event_data"], "n": 4}})
        assert deliver(company.pk, fourth, timestamped(new, fourth)).status_code == 201
    assert sorted(event.data["n"] for event in Event.objects.all()) == [1, 2, 4]


def test_a_sender_rotating_signs_with_both_secrets(company):
    old = company.webhook_secret
    new = webhook_secret_rotate(company=company)
    body = raw(CUSTOM)
    now = int(time.time())
    both = f"t={now},v1={hex_hmac(old, f'{now}.'.encode() + body)},v1={hex_hmac(new, f'{now}.'.encode() + body)}"

    assert deliver(company.pk, body, both).status_code == 201


def test_without_a_grace_period_the_previous_secret_is_refused_at_once(company, settings):
    settings.WEBHOOK_PREVIOUS_SECRET_GRACE_HOURS = 0
    old = company.webhook_secret
    webhook_secret_rotate(company=company)
    body = raw(CUSTOM)

    assert_refused(deliver(company.pk, body, timestamped(old, body)), "Invalid signature")
    assert Company.objects.get(pk=company.pk).webhook_previous_secret == ""


def test_a_second_rotation_ends_the_first_secrets_grace(company):
    first = company.webhook_secret
    webhook_secret_rotate(company=company)
    webhook_secret_rotate(company=company)
    body = raw(CUSTOM)

    assert_refused(deliver(company.pk, body, timestamped(first, body)), "Invalid signature")


# --- Replays ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["timestamped", "plain"])
def test_a_replay_of_identical_bytes_is_processed_once_and_gets_the_first_answer(company, form):
    body = raw(CUSTOM)
    signature = (
        timestamped(company.webhook_secret, body) if form == "timestamped" else hex_hmac(company.webhook_secret, body)
    )

    first = deliver(company.pk, body, signature)
    again = deliver(company.pk, body, signature)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["X-Webhook-Replay"] == "true"
    assert "X-Webhook-Replay" not in first
    assert Event.objects.count() == 1


def test_the_same_event_signed_at_another_time_is_another_delivery(company):
    """Two custom events with the same data are two things that happened, unless the bytes are identical."""
    body = raw(CUSTOM)
    now = int(time.time())

    assert deliver(company.pk, body, timestamped(company.webhook_secret, body, now)).status_code == 201
    assert deliver(company.pk, body, timestamped(company.webhook_secret, body, now - 1)).status_code == 201
    assert Event.objects.count() == 2


def test_a_replayed_list_stores_its_events_once(company):
    body = raw([CUSTOM, {**CUSTOM, "event_type": "wishlist_added"}])
    signature = timestamped(company.webhook_secret, body)

    first = deliver(company.pk, body, signature)
    again = deliver(company.pk, body, signature)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert Event.objects.count() == 2


def test_replays_are_told_apart_per_company(company, other_company):
    """The same bytes signed by two companies are two deliveries."""
    body = raw(CUSTOM)

    assert deliver(company.pk, body, hex_hmac(company.webhook_secret, body)).status_code == 201
    assert deliver(other_company.pk, body, hex_hmac(other_company.webhook_secret, body)).status_code == 201
    assert Event.objects.for_company(company).count() == Event.objects.for_company(other_company).count() == 1


def test_a_refused_body_can_be_sent_again_once_corrected_and_the_same_bytes_are_judged_again(company):
    bad = raw({"event_type": "order_placed", "event_data": {"order_id": "ORD-9", "email": "jane@example.com"}})
    signature = timestamped(company.webhook_secret, bad)

    assert deliver(company.pk, bad, signature).status_code == 400
    again = deliver(company.pk, bad, signature)
    assert again.status_code == 400
    assert "X-Webhook-Replay" not in again
    assert_nothing_stored()


def test_replays_cannot_be_checked_without_the_cache_so_the_sender_is_asked_to_retry(company, monkeypatch):
    def unavailable(operation, *args, **kwargs):
        raise cache.CacheUnavailable

    monkeypatch.setattr(cache, "call", unavailable)
    body = raw(CUSTOM)

    response = deliver(company.pk, body, timestamped(company.webhook_secret, body))

    assert response.status_code == 503
    assert response.json()["code"] == 503
    assert_nothing_stored()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_identical_deliveries_racing_in_parallel_store_one_event():
    company = CompanyFactory(name="Racing Shop")
    body = raw(CUSTOM)
    signature = timestamped(company.webhook_secret, body)
    statuses = []
    start = threading.Barrier(4)

    def send():
        start.wait()
        try:
            statuses.append(deliver(company.pk, body, signature).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Event.objects.filter(company=company).count() == 1
    # The first is stored; each other copy got its answer again, or was told to retry while it ran.
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}


# --- Rate limit ------------------------------------------------------------------------------------


def test_webhooks_are_counted_per_company_and_address(company, other_company, settings):
    settings.WEBHOOK_HOURLY_LIMIT = 2
    responses = []
    for n in range(3):
        body = raw({**CUSTOM, "event_data": {**CUSTOM["event_data"], "n": n}})
        responses.append(deliver(company.pk, body, timestamped(company.webhook_secret, body)))

    assert [response.status_code for response in responses] == [201, 201, 429]
    assert responses[0]["X-RateLimit-Limit"] == "2"
    assert responses[2].json()["code"] == 429
    assert int(responses[2]["Retry-After"]) > 0
    assert Event.objects.count() == 2
    # Another company from the same address has its own count.
    body = raw(CUSTOM)
    assert deliver(other_company.pk, body, timestamped(other_company.webhook_secret, body)).status_code == 201


def test_refused_attempts_count_against_the_limit_too(company, settings):
    settings.WEBHOOK_HOURLY_LIMIT = 2
    body = raw(CUSTOM)
    for _ in range(2):
        assert deliver(company.pk, body, "0" * 64).status_code == 401

    assert deliver(company.pk, body, timestamped(company.webhook_secret, body)).status_code == 429
    assert_nothing_stored()
