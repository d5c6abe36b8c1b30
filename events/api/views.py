"""The events API: track one event, a batch, and read them (the Salloq Marketing API's "Events",
SALESmanago API v3's external events).

POST /api/events, POST /api/events/batch (events:write); GET /api/events and
GET /api/contacts/{id}/events (events:read). Writes go through events.services.record_events.
"""

import io
import json
from functools import lru_cache

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from contacts.models import Contact
from salloq.core.api.fields import MAX_ID, NO_NUL
from salloq.core.api.parsers import SalloqJSONParser, item_input_errors
from salloq.core.api.scoping import CompanyScopedAPIView
from salloq.core.errors import ApiError, api_exception_handler
from salloq.core.models import Company, Scope
from salloq.core.pagination import PagePagination
from salloq.core.schema import SalloqAutoSchema

from .. import selectors
from ..event_input import idempotency_key_problem, parse_moment
from ..models import Event
from ..services import CREATED, MAX_BATCH, batch_answer, record_events
from . import serializers as s
from .schema import EVENT_SCHEMA, IDEMPOTENCY_KEY_SCHEMA, OCCURRED_AT_SCHEMA

BATCH_SCHEMA = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            # Any item is accepted into the batch: one that is not a valid event (as POST /api/events
            # takes it) gets its own status 400 and errors in the results, and never fails the others.
            "items": {"description": "An event as POST /api/events takes it; checked item by item."},
        }
    },
    "additionalProperties": False,
}
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    IDEMPOTENCY_KEY_SCHEMA,
    location=OpenApiParameter.HEADER,
    description=(
        "Makes a retry count once: the same key answers with the stored event (same status, same event_id). "
        "In a batch, item i gets the key '<key>:<i>'. Without it, event_data.event_id or the natural key "
        "(order_placed/order_completed + order_id, subscription_created/subscription_cancelled + "
        "subscription_id) does the same."
    ),
)


class EventsAutoSchema(SalloqAutoSchema):
    """The request bodies are JSON schemas (events/api/schema.py), not serializers."""

    def _get_request_for_media_type(self, serializer, direction="request"):
        body = getattr(self.view, "request_schema", None)
        if body is not None and self.method == "POST":
            return body, True
        return super()._get_request_for_media_type(serializer, direction)


@lru_cache(maxsize=1024)
def key_company(company_id: int, name: str) -> Company:
    """The key's company as authentication found it, without a query: record_events reads only its
    pk, and never saves it. Kept per process (building a model instance was about 4% of
    POST /api/events' CPU); a renamed company is another entry."""
    return Company(pk=company_id, name=name)


class EventsAPIView(CompanyScopedAPIView):
    schema = EventsAutoSchema()
    queryset = Event.objects.all()
    read_scope = Scope.EVENTS_READ
    write_scope = Scope.EVENTS_WRITE

    def get_company(self) -> Company:
        return key_company(self.request.auth.company_id, self.request.auth.company_name)

    def idempotency_key(self) -> str | None:
        key = self.request.headers.get("Idempotency-Key")
        if key is None:
            return None
        problem = idempotency_key_problem(key)
        if problem:
            raise ApiError(400, "Validation failed", problem, {"Idempotency-Key": [problem]})
        return key


def _refused(errors: dict[str, list[str]]) -> ApiError:
    names = ", ".join(sorted(errors))
    return ApiError(400, "Validation failed", f"Invalid input: check {names}.", dict(sorted(errors.items())))


MOMENT_MESSAGE = "Use a date-time in RFC 3339 between 1900 and 2199, e.g. 2024-01-15T00:00:00Z."


def _moment(value: str):
    """A since/until bound: RFC 3339 with its offset, years 1900 to 2199 (as occurred_at is sent)."""
    parsed = parse_moment(value)
    if parsed is None:
        raise serializers.ValidationError(MOMENT_MESSAGE)
    return parsed


class EventListQuery(serializers.Serializer):
    event_type = serializers.RegexField(r"^[A-Za-z][A-Za-z0-9_]{0,99}$", required=False, max_length=100)
    contact_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    # Empty: no filter.
    email = serializers.CharField(required=False, max_length=254, allow_blank=True, trim_whitespace=False)
    since = serializers.CharField(required=False, trim_whitespace=False)
    until = serializers.CharField(required=False, trim_whitespace=False)

    def validate_since(self, value: str):
        return _moment(value)

    def validate_until(self, value: str):
        return _moment(value)


LIST_PARAMETERS = [
    OpenApiParameter("event_type", {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,99}$"}, description="Type"),
    OpenApiParameter("since", OCCURRED_AT_SCHEMA, description="Occurred at or after (RFC 3339, years 1900-2199)"),
    OpenApiParameter("until", OCCURRED_AT_SCHEMA, description="Occurred before (RFC 3339, years 1900-2199)"),
]
CONTACT_FILTERS = [
    OpenApiParameter("contact_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, description="Contact"),
    OpenApiParameter(
        "email", {"type": "string", "pattern": NO_NUL, "maxLength": 254}, description="The contact's email"
    ),
]


class EventListMixin:
    pagination_class = PagePagination.keyed("events")

    def filters(self) -> dict:
        query = EventListQuery(data={name: value for name, value in self.request.query_params.items()})
        if not query.is_valid():
            raise _refused({name: [str(m) for m in messages] for name, messages in query.errors.items()})
        return query.validated_data

    def page(self, events):
        page = self.paginate_queryset(events)
        return self.get_paginated_response(s.EventSerializer(page, many=True).data)


_ALLOW_HEADERS: dict[type, str] = {}
# What DRF's JSONRenderer writes (COMPACT_JSON, UNICODE_JSON, STRICT_JSON at their defaults).
_SEPARATORS = (",", ":")


def _json_bytes(body: dict) -> bytes:
    text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=_SEPARATORS)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


class EventsView(EventListMixin, EventsAPIView):
    request_schema = EVENT_SCHEMA
    # POST /api/events is the hot path of event tracking (bench/events_ingest.py): a plain JSON body
    # with the right scope is answered without DRF's request, negotiation and response objects
    # (about a fifth of the request's Python). Anything else (another content type, an empty body,
    # a body the parser refuses, a missing scope, a bad Idempotency-Key) goes through DRF as before,
    # which answers it; tests/events/test_api.py checks both paths answer alike.
    lean_post = True

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST" and self.lean_post:
            response = self._lean_post(request)
            if response is not None:
                return response
        return super().dispatch(request, *args, **kwargs)

    def _lean_post(self, request) -> HttpResponse | None:
        principal = getattr(request, "api_principal", None)
        if principal is None or not principal.has_scope(self.write_scope) or request.content_type != "application/json":
            return None
        encoding = request.content_params.get("charset", "utf-8") if request.content_params else "utf-8"
        if encoding.lower().replace("-", "") != "utf8" or len(request.content_params) > 1:
            return None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if not 0 < length <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return None
        key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if key is not None and idempotency_key_problem(key):
            return None
        try:
            # The parser's own checks (NUL, lone surrogates, numbers, nesting); what it refuses, DRF
            # refuses again on the way back and answers in the error shape.
            data = SalloqJSONParser().parse(
                io.BytesIO(request.body), "application/json", {"view": self, "request": request, "encoding": encoding}
            )
        except Exception:  # noqa: BLE001 - DRF's path reads the body again and answers the problem
            return None
        try:
            company = key_company(principal.company_id, principal.company_name)
            [result] = record_events(company=company, items=[data], idempotency_key=key)
            if result.status != CREATED:
                raise _refused(result.errors)
            return self._lean_answer(result.answer(), status.HTTP_201_CREATED)
        except Exception as exc:  # noqa: BLE001 - answered as DRF's handle_exception would
            return self._lean_error(request, exc)

    def _lean_answer(self, body: dict, status_code: int) -> HttpResponse:
        response = HttpResponse(_json_bytes(body), status=status_code, content_type="application/json")
        response["Allow"] = self._allow_header()
        return response

    def _allow_header(self) -> str:
        # What DRF's Allow header says, read once per view class (allowed_methods builds its list
        # anew on every read; HEAD is among them once as_view has set the view up).
        text = _ALLOW_HEADERS.get(type(self))
        if text is None:
            text = _ALLOW_HEADERS[type(self)] = ", ".join(self.allowed_methods)
        return text

    def _lean_error(self, request, exc: Exception) -> HttpResponse:
        context = {"view": self, "args": (), "kwargs": {}, "request": request}
        answer = api_exception_handler(exc, context)
        response = self._lean_answer(answer.data, answer.status_code)
        for name, value in answer.items():
            if name != "Content-Type":
                response[name] = value
        response.exception = True
        return response

    @extend_schema(
        tags=["events"],
        operation_id="events_list",
        parameters=[*LIST_PARAMETERS, *CONTACT_FILTERS],
        responses={200: s.EventSerializer(many=True)},
        description="The company's events, newest first; filters by type, contact (id or email) and time.",
    )
    def get(self, request):
        events = selectors.api_events(queryset=self.get_queryset(), **self.filters())
        return self.page(events)

    @extend_schema(
        tags=["events"],
        operation_id="events_create",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.EventRecordedSerializer},
        description=(
            "Track an event (the Salloq Marketing API): `event_type` and `event_data`. The document's "
            "types check their required data; custom types match ^[a-z][a-z0-9_]{0,63}$; upper-case types "
            "(PURCHASE, CART, VISIT, "
            "LOCATION_ENTRY...) and SALESmanago API v3's body {contact, event} are external events. The contact is "
            "found by email, else customer_id, and created when missing. A retry (Idempotency-Key, "
            "event_id, or order/subscription id) answers 201 with the same event_id and duplicate=true."
        ),
    )
    def post(self, request):
        key = self.idempotency_key()
        [result] = record_events(company=self.get_company(), items=[request.data], idempotency_key=key)
        if result.status != CREATED:
            raise _refused(result.errors)
        return Response(result.answer(), status=status.HTTP_201_CREATED)


class EventBatchView(EventsAPIView):
    request_schema = BATCH_SCHEMA
    # The parser reports problems inside an item per item (salloq.core.api.parsers).
    item_list_field = "events"

    @extend_schema(
        tags=["events"],
        operation_id="events_batch",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: s.BatchResultSerializer},
        description=(
            f'Track up to {MAX_BATCH} events: {{"events": [...]}}, each as POST /api/events takes it. One '
            "result per item, in order; a refused item (status 400, errors by field path) never stops the others."
        ),
    )
    def post(self, request):
        key = self.idempotency_key()
        data = request.data
        errors = item_input_errors(request)
        if not isinstance(data, dict) or set(data) != {"events"} or not isinstance(data["events"], list):
            raise _refused({"events": ['The body is {"events": [...]}, a list of events.']})
        events = data["events"]
        if not events or len(events) > MAX_BATCH:
            raise _refused({"events": [f"Send 1 to {MAX_BATCH} events per request ({len(events)} sent)."]})
        results = record_events(company=self.get_company(), items=events, idempotency_key=key, item_errors=errors)
        body = batch_answer(results)
        return Response(body, status=status.HTTP_200_OK)


class ContactEventListView(EventListMixin, EventsAPIView):
    lookup_value_regex = "[0-9]+"

    @extend_schema(
        tags=["events"],
        operation_id="contacts_events_list",
        parameters=LIST_PARAMETERS,
        responses={200: s.EventSerializer(many=True), 404: OpenApiResponse(description="No such contact.")},
        description="A contact's events (its timeline), newest first.",
    )
    def get(self, request, pk: str):
        contact_id = int(pk) if len(pk) <= len(str(MAX_ID)) else 0
        contacts = Contact.objects.for_company(request.auth.company_id).filter(erased_at__isnull=True)
        contact = get_object_or_404(contacts, pk=contact_id if contact_id <= MAX_ID else 0)
        filters = {name: value for name, value in self.filters().items() if name not in ("contact_id", "email")}
        events = selectors.api_events(queryset=self.get_queryset(), contact_id=contact.pk, **filters)
        return self.page(events)
