"""The segments API: CRUD, live count and preview of a saved segment, and the count of an unsaved definition.

GET/POST /api/segments, GET/PUT/PATCH/DELETE /api/segments/{id}, GET /api/segments/{id}/count,
GET /api/segments/{id}/preview?limit=20, POST /api/segments/count (the rule builder's live count).
"""

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from contacts import segment_budget, segments
from contacts.models import Contact, ContactStatus, Segment
from salloq.core.api.scoping import CompanyScopedAPIView
from salloq.core.errors import ApiError
from salloq.core.models import Company, Scope
from salloq.core.numbers import NumberError, parse_decimal
from salloq.core.pagination import PagePagination
from salloq.core.schema import ErrorSerializer

PREVIEW_DEFAULT, PREVIEW_MAX = 20, 100
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"
NO_NUL = "^[^\\u0000]*$"

# --- The rule language as JSON Schema -------------------------------------------------------
# Built from the compiler's own tables. Every definition the schema describes is accepted;
# custom fields (`fields.<name>`) are accepted too but cannot be described (they depend on the
# company), so the description names them.

_TEXT = {"type": "string", "minLength": 1, "maxLength": segments.MAX_TEXT, "pattern": "^[^\\u0000]+$"}
_LIMIT = int(segments.NUMBER_LIMIT)
_NUMBER = {"type": "number", "minimum": -_LIMIT, "exclusiveMinimum": True, "maximum": _LIMIT, "exclusiveMaximum": True}
_COUNT = {"type": "integer", "minimum": 0, "maximum": segments.MAX_COUNT}
_LIST_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_DATE = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
    "description": "An ISO date (a whole UTC day) or date-time.",
}
_DAYS_NUMBER = {"type": "integer", "minimum": 1, "maximum": segments.MAX_DAYS}
_DAYS = {
    "anyOf": [
        _DAYS_NUMBER,
        {"type": "object", "required": ["days"], "additionalProperties": False, "properties": {"days": _DAYS_NUMBER}},
    ]
}
_STATUS = {"type": "string", "enum": ContactStatus.values}
_PROPERTY = {
    "type": "string",
    "pattern": f"^properties(\\.[A-Za-z0-9_-]{{1,100}}){{1,{segment_budget.MAX_PATH_KEYS}}}$",
}
_KEY_INFO = {"type": "string", "pattern": "^key_information\\.[^\\u0000]{1,255}$"}


def _event_field(metric: str) -> dict:
    return {"type": "string", "pattern": f"^events\\.[A-Za-z0-9_.:-]{{1,100}}\\.{metric}$"}


def _fields(*alternatives) -> dict:
    return alternatives[0] if len(alternatives) == 1 else {"anyOf": list(alternatives)}


def _enum(*names) -> dict:
    return {"type": "string", "enum": list(names)}


def _list(item: dict, min_items: int = 1, max_items: int = segment_budget.MAX_VALUES) -> dict:
    return {"type": "array", "items": item, "minItems": min_items, "maxItems": max_items}


# `where` ({data_key: value}) is accepted on events.* rules too, but only described in words: OpenAPI
# 3.0 cannot constrain object keys, and a key with a NUL character (which no stored JSON can hold) is a
# 400, so a schema listing `where` would promise more than the API accepts.
_EVENT_EXTRAS = {"within_last_days": {**_DAYS_NUMBER, "description": "Only events of the last n days."}}


def _rule(field: dict, comparisons: list[str], value: dict | None, extras: dict | None = None) -> dict:
    properties = {"field": field, "comparison": {"type": "string", "enum": comparisons}}
    required = ["field", "comparison"]
    if value is not None:
        properties["value"] = value
        required.append("value")
    properties.update(extras or {})
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


def _rule_schemas() -> list[dict]:
    text_fields = _enum(*segments.TEXT_ATTRIBUTES, "tags")
    mixed = _fields(_PROPERTY, _KEY_INFO)
    last = _event_field("last")
    moment_fields = _fields(_enum("created_at"), last)
    return [
        _rule(_fields(text_fields, mixed), ["equals", "not_equals", "contains", "starts_with"], _TEXT),
        _rule(_fields(text_fields, mixed), ["in"], _list(_TEXT)),
        _rule(
            _fields(_enum(*segments.TEXT_ATTRIBUTES, "tags", "lists", "created_at"), mixed, last),
            ["is_set", "is_not_set"],
            None,
        ),
        _rule(_enum("status"), ["equals", "not_equals"], _STATUS),
        _rule(_enum("status"), ["in"], _list(_STATUS)),
        _rule(moment_fields, ["equals", "not_equals", "before", "after"], _DATE),
        _rule(moment_fields, ["between"], _list(_DATE, 2, 2)),
        _rule(moment_fields, ["within_last"], _DAYS),
        _rule(mixed, ["equals", "not_equals", "greater_than", "less_than"], _NUMBER),
        _rule(mixed, ["between"], _list(_NUMBER, 2, 2)),
        _rule(mixed, ["in"], _list(_NUMBER)),
        _rule(_PROPERTY, ["equals", "not_equals"], {"type": "boolean"}),
        _rule(_enum("lists"), ["equals", "not_equals"], _LIST_ID),
        _rule(_enum("lists"), ["in"], _list(_LIST_ID)),
        _rule(_event_field("count"), ["equals", "not_equals", "greater_than", "less_than"], _COUNT, _EVENT_EXTRAS),
        _rule(_event_field("count"), ["between"], _list(_COUNT, 2, 2), _EVENT_EXTRAS),
        _rule(_event_field("total"), ["equals", "not_equals", "greater_than", "less_than"], _NUMBER, _EVENT_EXTRAS),
        _rule(_event_field("total"), ["between"], _list(_NUMBER, 2, 2), _EVENT_EXTRAS),
        _rule(last, ["equals", "not_equals", "before", "after"], _DATE, _EVENT_EXTRAS),
        _rule(last, ["between"], _list(_DATE, 2, 2), _EVENT_EXTRAS),
        _rule(last, ["within_last"], _DAYS, _EVENT_EXTRAS),
        _rule(last, ["is_set", "is_not_set"], None, _EVENT_EXTRAS),
    ]


def _group_schema(depth: int) -> dict:
    items = _rule_schemas()
    if depth < segment_budget.MAX_DEPTH:
        items.append(_group_schema(depth + 1))
    return {
        "type": "object",
        "required": ["operator", "rules"],
        "additionalProperties": False,
        "properties": {
            "operator": {"type": "string", "enum": list(segments.OPERATORS)},
            "rules": {"type": "array", "maxItems": segment_budget.MAX_RULES, "items": {"anyOf": items}},
        },
    }


DEFINITION_SCHEMA = {
    **_group_schema(1),
    "description": (
        "Seed 000's rule language: a group {operator: and|or, rules: [rule | group]}. "
        f"Complexity budget (a 400 naming the limit, before anything is counted): groups nest at most "
        f"{segment_budget.MAX_DEPTH} deep; at most {segment_budget.MAX_RULES} rules and "
        f"{segment_budget.MAX_GROUPS} groups in all; at most {segment_budget.MAX_TOTAL_VALUES} values in all "
        f"(each item of an 'in' or 'between' list and each 'where' key counts; an 'in' list holds at most "
        f"{segment_budget.MAX_VALUES}); a cost of at most {segment_budget.MAX_COST} points, "
        f"{segment_budget.COLUMN_RULE_COST} per rule on a contact column (email, names, phone, lang, source, "
        f"external_id, status, created_at), {segment_budget.RULE_COST} per property, tag, custom field, key "
        f"information or list rule and {segment_budget.EVENTS_RULE_COST} per events rule; property paths of "
        f"at most {segment_budget.MAX_PATH_KEYS} keys. A rule is "
        "{field, comparison, value}. Fields: contact attributes, status, created_at, properties.<key>, "
        "fields.<custom field name>, key_information.<name>, tags, lists (a list id), "
        "events.<event_type>.count|total|last, which also take within_last_days: n (only events of the "
        "last n days) and where: {data_key: value, ...} (1 to 10 keys without NUL characters; text, number "
        "or true/false values, matched against the event's data like equals). "
        "An empty 'and' group matches everyone, an empty 'or' group nobody."
    ),
    "example": {
        "operator": "and",
        "rules": [
            {"field": "status", "comparison": "equals", "value": "subscribed"},
            {"field": "events.order_placed.count", "comparison": "greater_than", "value": 0, "within_last_days": 30},
        ],
    },
}


@extend_schema_field(copy.deepcopy(DEFINITION_SCHEMA))
class DefinitionField(serializers.JSONField):
    """Any JSON here; the compiler validates it and names each bad rule (definition.rules[i]...)."""


# --- Serializers --------------------------------------------------------------------------------


class SegmentSerializer(serializers.ModelSerializer):
    segment_id = serializers.IntegerField(source="id", read_only=True)
    definition = DefinitionField()

    class Meta:
        model = Segment
        fields = ["segment_id", "name", "description", "definition", "created_at", "updated_at"]
        read_only_fields = ["segment_id", "created_at", "updated_at"]


@extend_schema_field({"type": "string", "pattern": NOT_BLANK, "maxLength": 200})
class SegmentNameField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "pattern": NO_NUL, "maxLength": 2000})
class DescriptionField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class SegmentInputSerializer(serializers.Serializer):
    """What a client sends; the service checks the definition against the company's fields and lists."""

    name = SegmentNameField(max_length=200)
    description = DescriptionField(max_length=2000, required=False, allow_blank=True, trim_whitespace=False)
    definition = DefinitionField()


class SegmentCountSerializer(serializers.Serializer):
    segment_id = serializers.IntegerField()
    count = serializers.IntegerField(min_value=0)


class PreviewContactSerializer(serializers.ModelSerializer):
    contact_id = serializers.IntegerField(source="id")

    class Meta:
        model = Contact
        fields = ["contact_id", "email", "first_name", "last_name", "status"]


class SegmentPreviewSerializer(SegmentCountSerializer):
    contacts = PreviewContactSerializer(many=True)


class DefinitionCountInputSerializer(serializers.Serializer):
    definition = DefinitionField()


class DefinitionCountSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)


# --- Views ----------------------------------------------------------------------------------------


def _raise_as_api_error(exc: DjangoValidationError, prefix_definition: bool = False):
    if isinstance(exc, segments.SegmentNameTaken):
        raise ApiError(409, "Conflict", exc.message_dict["name"][0], details=exc.message_dict) from None
    details = exc.message_dict
    if prefix_definition:
        details = {segments.definition_path(path): messages for path, messages in details.items()}
    raise serializers.ValidationError(details) from None


NAME_TAKEN = OpenApiResponse(ErrorSerializer, description="Another segment of the company has this name.")
LIMIT = OpenApiParameter(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": PREVIEW_MAX},
    description=f"How many contacts to show (default {PREVIEW_DEFAULT}, max {PREVIEW_MAX}).",
)


@extend_schema(tags=["segments"])
class SegmentViewSet(CompanyScopedAPIView, viewsets.GenericViewSet):
    """Dynamic segments: saved rule definitions, counted and previewed live."""

    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    pagination_class = PagePagination.keyed("segments")
    read_scope = Scope.CONTACTS_READ
    write_scope = Scope.CONTACTS_WRITE
    lookup_value_regex = "[0-9]+"

    def get_company(self) -> Company:
        return Company.objects.get(pk=self.request.auth.company_id)

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset().order_by("name", "id"))
        return self.get_paginated_response(SegmentSerializer(page, many=True).data)

    @extend_schema(request=SegmentInputSerializer, responses={201: SegmentSerializer, 409: NAME_TAKEN})
    def create(self, request):
        data = self._input(request, partial=False)
        try:
            segment = segments.segment_create(company=self.get_company(), **data)
        except DjangoValidationError as exc:
            _raise_as_api_error(exc)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(SegmentSerializer(self.get_object()).data)

    @extend_schema(request=SegmentInputSerializer, responses={200: SegmentSerializer, 409: NAME_TAKEN})
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(request=SegmentInputSerializer(partial=True), responses={200: SegmentSerializer, 409: NAME_TAKEN})
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        segments.segment_delete(segment=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses=SegmentCountSerializer,
        description="How many contacts the segment holds now (one COUNT query).",
    )
    @action(detail=True, methods=["get"])
    def count(self, request, pk=None):
        segment = self.get_object()
        return Response({"segment_id": segment.pk, "count": self._contacts(segment).count()})

    @extend_schema(
        parameters=[LIMIT],
        responses=SegmentPreviewSerializer,
        description="The count and the first contacts of the segment (newest first).",
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        limit = _limit(request.query_params.get("limit"))
        segment = self.get_object()
        contacts = self._contacts(segment)
        return Response(
            {
                "segment_id": segment.pk,
                "count": contacts.count(),
                "contacts": PreviewContactSerializer(contacts[:limit], many=True).data,
            }
        )

    def _input(self, request, partial: bool) -> dict:
        serializer = SegmentInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _update(self, request, partial: bool):
        segment = self.get_object()
        changes = self._input(request, partial=partial)
        if not partial:
            changes.setdefault("description", "")
        try:
            segment = segments.segment_update(segment=segment, **changes)
        except DjangoValidationError as exc:
            _raise_as_api_error(exc)
        return Response(SegmentSerializer(segment).data)

    def _contacts(self, segment: Segment):
        # A saved definition can go stale (a custom field renamed or deleted): a 400 naming the rule.
        try:
            return segments.segment_contacts(self.get_company(), segment.definition)
        except DjangoValidationError as exc:
            _raise_as_api_error(exc, prefix_definition=True)


class SegmentDefinitionCountView(CompanyScopedAPIView):
    """POST /api/segments/count: count an unsaved definition (the rule builder's live count).

    It reads only, so it needs contacts:read even though it is a POST.
    """

    queryset = Segment.objects.all()
    serializer_class = DefinitionCountInputSerializer
    read_scope = Scope.CONTACTS_READ
    write_scope = Scope.CONTACTS_READ

    @extend_schema(
        tags=["segments"],
        operation_id="segments_count_definition",
        request=DefinitionCountInputSerializer,
        responses=DefinitionCountSerializer,
        description="How many contacts an unsaved definition matches; invalid rules are a 400 naming each.",
    )
    def post(self, request):
        serializer = DefinitionCountInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        company = Company.objects.get(pk=request.auth.company_id)
        try:
            contacts = segments.segment_contacts(company, serializer.validated_data["definition"])
        except DjangoValidationError as exc:
            _raise_as_api_error(exc, prefix_definition=True)
        return Response({"count": contacts.count()})


def _limit(raw: str | None) -> int:
    if raw is None:
        return PREVIEW_DEFAULT
    try:
        limit = parse_decimal(raw)
    except NumberError as exc:
        raise serializers.ValidationError({"limit": [f"The limit {exc}."]}) from None
    if limit != limit.to_integral_value() or not 1 <= limit <= PREVIEW_MAX:
        raise serializers.ValidationError({"limit": [f"Must be a whole number from 1 to {PREVIEW_MAX}."]})
    return int(limit)
