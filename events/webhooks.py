"""POST /api/webhook: events from the shop's and till's platforms, signed instead of keyed (the Salloq Marketing API).

The sender names its company in `X-Company-ID` and signs the raw body with the company's webhook
secret (Settings -> Webhook secret), HMAC-SHA256, in `X-Webhook-Signature`, in one of two forms:

- `t=<unix time>,v1=<hex>` (recommended): the HMAC covers `<t>.<raw body>`; accepted within
  WEBHOOK_TOLERANCE_SECONDS either side of our clock. Several `v1=` may be given (one per secret
  while the sender rotates); one matching is enough.
- `<hex>` (also `sha256=<hex>`): the HMAC of the raw body alone, what an integrator reading only the
  Salloq Marketing API document sends. It carries no time, so only the replay rule below limits its
  reuse.

The signature is checked over the raw bytes before any JSON parsing, in constant time, against the
current secret and, during WEBHOOK_PREVIOUS_SECRET_GRACE_HOURS after a rotation, the previous one.
A refusal is a 401 in the API's error shape, stores nothing and is logged with the company and the
reason, never the body. The gateway (salloq.core.middleware) lets this path through without an API
key and counts it per company and client address.

A delivery (its signature form, timestamp and bytes) is processed once: its digest is claimed in
the shared cache with SET NX, and an identical delivery within the window gets the first answer
again (with `X-Webhook-Replay: true`) instead of being stored twice. That holds for custom events
without a natural key too; the events' own idempotency (events.services) covers the rest.

The body is what POST /api/events takes: one {"event_type", "event_data"} object, or a list of them.
"""

import contextlib
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from salloq.core import cache
from salloq.core.authentication import COMPANY_ID_RE, OWS
from salloq.core.client_ip import client_ip
from salloq.core.errors import ApiError, error_body
from salloq.core.models import Company
from salloq.core.schema import ErrorSerializer

from .api.schema import EVENT_SCHEMA
from .api.serializers import BatchResultSerializer, EventRecordedSerializer
from .models import EventSource
from .services import CREATED, MAX_BATCH, batch_answer, record_events

logger = logging.getLogger("salloq.webhooks")

SIGNATURE_HEADER = "X-Webhook-Signature"
HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")
# Several v1 values for rotation; a header of more is not a sender's, and would cost an HMAC each.
MAX_SIGNATURES = 8
TIMESTAMPED, PLAIN = "timestamped", "plain"
# How long a delivery being processed holds its claim: past it (the process died), a retry runs.
PROCESSING_CLAIM_SECONDS = 60
REPLAY_HEADER = "X-Webhook-Replay"
BODY_HELP = f'The body is one event {{"event_type": ..., "event_data": {{...}}}} or a list of 1 to {MAX_BATCH} of them.'

SIGNATURE_HELP = (
    "Sign the raw body with your webhook secret (HMAC-SHA256) and send "
    "'X-Webhook-Signature: t=<unix time>,v1=<hex of HMAC(secret, \"<t>.<body>\")>' or the plain hex "
    "HMAC of the body."
)


@dataclass(frozen=True)
class Signature:
    """A parsed X-Webhook-Signature header."""

    form: str  # TIMESTAMPED or PLAIN
    digests: tuple[str, ...]  # lower-case hex
    timestamp: int | None = None

    def signed_bytes(self, body: bytes) -> bytes:
        if self.timestamp is None:
            return body
        return str(self.timestamp).encode() + b"." + body


@dataclass(frozen=True)
class WebhookSender:
    """Who sent a webhook that passed the signature check; request.auth in the view."""

    company_id: int
    company: Company
    signature: Signature
    delivery_digest: str  # sha256 of what the signature covers: the same bytes, the same delivery
    previous_secret: bool  # signed with the secret before the last rotation

    is_authenticated = True  # DRF treats request.user as logged in


class WebhookRefused(ApiError):
    """A 401 whose `reason` is logged (the message goes to the sender)."""

    def __init__(self, reason: str, error: str, message: str):
        self.reason = reason
        super().__init__(401, error, message)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The X-Webhook-Signature value for `body`: timestamped when `timestamp` is given, else plain.
    What a sender computes (README "Webhooks from your shop"); tests/core/test_hostile_input.py signs
    its bodies with it (tests/events/test_webhook.py computes the HMAC itself, as an integrator would)."""
    signature = Signature(form=TIMESTAMPED if timestamp is not None else PLAIN, digests=(), timestamp=timestamp)
    digest = hmac.new(secret.encode(), signature.signed_bytes(body), hashlib.sha256).hexdigest()
    return digest if timestamp is None else f"t={timestamp},v1={digest}"


def parse_signature(header: str) -> Signature:
    """The header's form, digests and timestamp; a WebhookRefused saying what is wrong otherwise."""
    header = header.strip(OWS)
    if not header:
        raise WebhookRefused("missing signature", "Missing signature", SIGNATURE_HELP)
    plain = header.removeprefix("sha256=")
    if HEX_DIGEST.fullmatch(plain):
        return Signature(form=PLAIN, digests=(plain.lower(),))
    timestamp, digests = None, []
    for part in header.split(","):
        name, _, value = part.strip(OWS).partition("=")
        if name == "t" and timestamp is None and TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif name == "v1" and HEX_DIGEST.fullmatch(value):
            digests.append(value.lower())
        elif name not in {"t", "v1"} and name.isidentifier():
            continue  # another scheme (v0, a future v2): ignored, as Stripe's signatures do
        else:
            raise WebhookRefused(
                "malformed signature", "Invalid signature", f"Unreadable part '{part[:80]}'. {SIGNATURE_HELP}"
            )
    if timestamp is None or not digests:
        raise WebhookRefused("malformed signature", "Invalid signature", SIGNATURE_HELP)
    if len(digests) > MAX_SIGNATURES:
        raise WebhookRefused(
            "malformed signature", "Invalid signature", f"At most {MAX_SIGNATURES} v1 signatures are accepted."
        )
    return Signature(form=TIMESTAMPED, digests=tuple(digests), timestamp=timestamp)


def check_timestamp(signature: Signature, now: float) -> None:
    if signature.timestamp is None:
        return
    tolerance = settings.WEBHOOK_TOLERANCE_SECONDS
    age = int(now) - signature.timestamp
    if age > tolerance:
        raise WebhookRefused(
            "expired signature",
            "Expired signature",
            f"The signature was made {age} seconds ago; at most {tolerance} are accepted. Sign each delivery, "
            "and each retry, when you send it.",
        )
    if -age > tolerance:
        raise WebhookRefused(
            "signature from the future",
            "Invalid signature timestamp",
            f"The signature's time is {-age} seconds ahead of ours; at most {tolerance} are accepted. "
            "Check the sending server's clock.",
        )


def matching_secret(signature: Signature, body: bytes, secrets: list[str]) -> int | None:
    """The index in `secrets` of the one that made one of the signature's digests, or None.

    Every pair is compared, in constant time each, whichever matches first.
    """
    signed = signature.signed_bytes(body)
    found = None
    for index, secret in enumerate(secrets):
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        for given in signature.digests:
            if hmac.compare_digest(expected, given) and found is None:
                found = index
    return found


def company_from_header(raw: str) -> Company:
    raw = raw.strip(OWS)
    if not raw:
        raise WebhookRefused(
            "missing company ID", "Missing company ID", "Send your company ID in the X-Company-ID header."
        )
    if not COMPANY_ID_RE.fullmatch(raw):
        raise WebhookRefused(
            "malformed company ID",
            "Invalid company ID",
            "The X-Company-ID header must be a positive integer (digits 0-9).",
        )
    fields = ("id", "name", "webhook_secret", "webhook_previous_secret", "webhook_previous_secret_expires_at")
    company = Company.objects.only(*fields).filter(pk=int(raw)).first()
    if company is None:
        raise WebhookRefused("unknown company", "Invalid company ID", "No company has this ID.")
    return company


def verify(request) -> WebhookSender:
    """Check a webhook request's company and signature over its raw body; WebhookRefused if it fails."""
    body = request.body  # the raw bytes (a body over the upload limit is a 413 here)
    company = company_from_header(request.META.get("HTTP_X_COMPANY_ID", ""))
    signature = parse_signature(request.META.get("HTTP_X_WEBHOOK_SIGNATURE", ""))
    now = time.time()
    check_timestamp(signature, now)
    secrets = company.webhook_secrets()
    if not secrets:
        raise WebhookRefused(
            "no webhook secret",
            "Webhooks not set up",
            "This company has no webhook secret yet: an owner creates one in Settings -> Webhook secret.",
        )
    index = matching_secret(signature, body, secrets)
    if index is None:
        raise WebhookRefused(
            "signature mismatch",
            "Invalid signature",
            "The signature does not match the body signed with this company's webhook secret. Sign the raw "
            "bytes you send, unchanged, with the secret shown in Settings -> Webhook secret.",
        )
    return WebhookSender(
        company_id=company.pk,
        company=company,
        signature=signature,
        delivery_digest=hashlib.sha256(signature.form.encode() + b":" + signature.signed_bytes(body)).hexdigest(),
        previous_secret=index > 0,
    )


class WebhookSignatureAuthentication(BaseAuthentication):
    """DRF runs it before the body is parsed: the signature is the authentication."""

    def authenticate(self, request):
        try:
            sender = verify(request)  # DRF's Request hands body and META on to Django's
        except WebhookRefused as refused:
            company = request.META.get("HTTP_X_COMPANY_ID", "")[:40]
            logger.warning(
                "Webhook refused (%s): X-Company-ID %r from %s",
                refused.reason,
                company,
                client_ip(request) or "unknown",
            )
            raise
        if sender.previous_secret:
            logger.info(
                "Webhook for company %s signed with the previous secret (still in its grace period)", sender.company_id
            )
        return sender, sender

    def authenticate_header(self, request) -> str:
        return 'HMAC-SHA256 realm="webhook"'


class WebhookSignatureScheme(OpenApiAuthenticationExtension):
    """The webhook's two headers in the schema, in place of the API key."""

    target_class = WebhookSignatureAuthentication
    name = ["webhookSignature", "webhookCompanyId"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": SIGNATURE_HEADER,
                "description": (
                    "HMAC-SHA256 with the company's webhook secret: `t=<unix time>,v1=<hex of HMAC(secret, "
                    '"<t>.<raw body>")>` (300 s tolerance, several v1 accepted), or the hex HMAC of the raw body.'
                ),
            },
            {"type": "apiKey", "in": "header", "name": "X-Company-ID", "description": "Your company ID."},
        ]


# --- Deliveries: identical bytes are processed once ---------------------------------------------


def _delivery_key(sender: WebhookSender) -> str:
    return f"webhook-delivery:{sender.company_id}:{sender.delivery_digest}"


def _delivery_window(sender: WebhookSender) -> int:
    """How long a delivery's digest is kept: as long as its signature could be sent again."""
    if sender.signature.form == TIMESTAMPED:
        return 2 * settings.WEBHOOK_TOLERANCE_SECONDS
    return settings.WEBHOOK_PLAIN_REPLAY_WINDOW_HOURS * 3600


def _cache_unavailable() -> ApiError:
    return ApiError(
        503,
        "Service unavailable",
        f"Webhooks cannot be checked for replays just now. Retry after {cache.RETRY_SECONDS} seconds.",
    )


def delivery_claim(sender: WebhookSender) -> dict | None:
    """Claim the delivery: None when it is new (process it), else the answer already given to it.

    A delivery still being processed is a 409: its sender retries, and gets the answer then.
    """
    key = _delivery_key(sender)
    try:
        if cache.call("add", key, {"processing": True}, PROCESSING_CLAIM_SECONDS):
            return None
        answer = cache.call("get", key)
    except cache.CacheUnavailable:
        raise _cache_unavailable() from None
    if answer is None:  # expired between the two calls: claim it again
        return delivery_claim(sender)
    if answer.get("processing"):
        raise ApiError(409, "Conflict", "This delivery is being processed; retry in a few seconds.")
    return answer


def delivery_settle(sender: WebhookSender, *, status: int, body: dict) -> None:
    """Keep the answer to a processed delivery for its window: a replay gets it again."""
    try:
        cache.call("set", _delivery_key(sender), {"status": status, "body": body}, _delivery_window(sender))
    except cache.CacheUnavailable:
        # Stored already; a replay within the window would then be judged by the events' own keys.
        logger.warning("Webhook delivery of company %s stored but its digest could not be kept", sender.company_id)


def delivery_release(sender: WebhookSender) -> None:
    """Nothing was stored (refused input, an error): the same bytes may be sent again."""
    with contextlib.suppress(cache.CacheUnavailable):  # else the claim expires after PROCESSING_CLAIM_SECONDS
        cache.call("delete", _delivery_key(sender))


def _refused(errors: dict[str, list[str]]) -> tuple[int, dict]:
    names = ", ".join(sorted(errors))
    return 400, error_body(400, f"Invalid input: check {names}.", "Validation failed", dict(sorted(errors.items())))


def receive(company: Company, payload) -> tuple[int, dict]:
    """Store the events a verified webhook carries: (status, response body).

    One object is answered as POST /api/events answers it (201, or a 400 naming the fields); a list
    as POST /api/events/batch answers its "events" (200, one result per item, in order).
    """
    if isinstance(payload, dict):
        [result] = record_events(company=company, items=[payload], source=EventSource.WEBHOOK)
        if result.status != CREATED:
            return _refused(result.errors)
        return CREATED, result.answer()
    if not isinstance(payload, list) or not 1 <= len(payload) <= MAX_BATCH:
        count = f" ({len(payload)} sent)" if isinstance(payload, list) else ""
        return _refused({"body": [f"{BODY_HELP}{count}"]})
    return 200, batch_answer(record_events(company=company, items=payload, source=EventSource.WEBHOOK))


class WebhookView(APIView):
    """POST /api/webhook."""

    company_scoped = False  # authenticated by the company's own secret; writes only through record_events
    authentication_classes = [WebhookSignatureAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="webhook_receive",
        tags=["events"],
        summary="Receive events from your shop or till, signed with the webhook secret",
        description=(
            "No API key: `X-Company-ID` and `X-Webhook-Signature`, the HMAC-SHA256 of the raw body with the "
            "company's webhook secret (Settings -> Webhook secret): `t=<unix time>,v1=<hex>` over `<t>.<body>` "
            "(recommended; 300 s tolerance, several `v1` accepted while you rotate), or the plain hex HMAC of "
            "the body. The body is what POST /api/events takes: one event (201) or a list of up to 1000 (200, "
            "one result per item, in order). A delivery sent again with identical bytes is processed once: it "
            "gets the first answer again, with `X-Webhook-Replay: true`. A bad, missing, expired or future "
            "signature is a 401 and stores nothing."
        ),
        request={
            "application/json": {
                "oneOf": [EVENT_SCHEMA, {"type": "array", "items": EVENT_SCHEMA, "minItems": 1, "maxItems": MAX_BATCH}]
            }
        },
        responses={
            201: OpenApiResponse(
                EventRecordedSerializer, description="One event stored, or stored before (duplicate)."
            ),
            200: OpenApiResponse(BatchResultSerializer, description="A list of events: one result per item, in order."),
            409: OpenApiResponse(ErrorSerializer, description="The same delivery is being processed: retry shortly."),
            503: OpenApiResponse(ErrorSerializer, description="Replays cannot be checked just now: retry."),
        },
    )
    def post(self, request):
        sender: WebhookSender = request.auth
        answered = delivery_claim(sender)
        if answered is not None:
            return Response(answered["body"], status=answered["status"], headers={REPLAY_HEADER: "true"})
        try:
            status, body = receive(sender.company, request.data)
        except BaseException:
            delivery_release(sender)
            raise
        if status >= 400:
            delivery_release(sender)
        else:
            delivery_settle(sender, status=status, body=body)
        return Response(body, status=status)
