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

from contacts import segments
from contacts.models import Contact, Segment
from contacts.segments import services as segment_services
from contacts.segments.schema import DEFINITION_SCHEMA
from salloq.core.api.fields import NO_NUL
from salloq.core.api.scoping import CompanyScopedAPIView
from salloq.core.errors import ApiError
from salloq.core.models import Company, Scope
from salloq.core.numbers import NumberError, parse_decimal
from salloq.core.pagination import PagePagination
from salloq.core.schema import ErrorSerializer

PREVIEW_DEFAULT, PREVIEW_MAX = 20, 100
# A segment name's pattern as the schema has always published it (\\s, where fields.NOT_BLANK spells
# out what str.strip() removes): the service trims and refuses a blank name either way.
SEGMENT_NAME = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


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


@extend_schema_field({"type": "string", "pattern": SEGMENT_NAME, "maxLength": 200})
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
    if isinstance(exc, segment_services.SegmentNameTaken):
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
            segment = segment_services.segment_create(company=self.get_company(), **data)
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
        segment_services.segment_delete(segment=self.get_object())
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
            segment = segment_services.segment_update(segment=segment, **changes)
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
