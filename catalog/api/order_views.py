"""Stores and orders in the Salloq Marketing API (catalog:read / catalog:write).

GET/POST /api/stores, GET/PUT/PATCH /api/stores/{external_id}; GET/POST /api/orders,
POST /api/orders/batch, GET/PUT/PATCH /api/orders/{external_id}. Writes go through
catalog.services.stores and catalog.services.orders; reads through catalog.selectors.orders.

External ids may hold any character: everything after /api/orders/ (or /api/stores/) is the id,
URL-encoded ("A/1 b" is /api/orders/A%2F1%20b), with no trailing slash added.
"""

from datetime import UTC, datetime, timedelta

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from contacts.contact_input import MAX_ID
from salloq.core.api.fields import NO_NUL
from salloq.core.api.parsers import item_input_errors
from salloq.core.api.scoping import CompanyScopedAPIView
from salloq.core.api.service_errors import service_errors
from salloq.core.errors import ApiError
from salloq.core.models import Company, Scope
from salloq.core.pagination import PagePagination
from salloq.core.schema import SalloqAutoSchema
from salloq.core.text import text_problem

from ..models import Order, OrderStatus, Store
from ..order_input import IDENTIFIER_LENGTH, MAX_BATCH, RFC_3339, parse_date_time
from ..selectors import orders as selectors
from ..services.orders import CREATED, INVALID, UNCHANGED, UPDATED, order_upsert_batch
from ..services.stores import store_update, store_upsert
from . import order_serializers as s

EXTERNAL_ID = OpenApiParameter(
    "external_id",
    {"type": "string", "pattern": NO_NUL, "minLength": 1},
    location=OpenApiParameter.PATH,
    description=(
        "The merchant's own id, URL-encoded (any character; '/' is %2F). Everything after the resource's "
        "path is the id: no trailing slash."
    ),
)
DATE_BOUND = {
    "anyOf": [
        {"type": "string", "format": "date", "pattern": r"^(19|20|21)\d\d-\d\d-\d\d$"},
        {"type": "string", "format": "date-time", "pattern": f"^{RFC_3339}$"},
    ]
}


def _refused(errors: dict[str, list[str]]) -> ApiError:
    names = ", ".join(sorted(errors))
    return ApiError(400, "Validation failed", f"Invalid input: check {names}.", dict(sorted(errors.items())))


class BodySchemaAutoSchema(SalloqAutoSchema):
    """Request bodies are JSON schemas derived from catalog.order_input (the services check them)."""

    def _get_request_for_media_type(self, serializer, direction="request"):
        body = getattr(self.view, "request_schemas", {}).get(self.method)
        if body is not None:
            # PUT and PATCH change the fields given: no body at all changes nothing, and is a 200.
            return body, self.method == "POST"
        return super()._get_request_for_media_type(serializer, direction)


class CommerceAPIView(CompanyScopedAPIView):
    schema = BodySchemaAutoSchema()
    read_scope = Scope.CATALOG_READ
    write_scope = Scope.CATALOG_WRITE
    # Money stays exact: JSON fractions are read as Decimal from their text.
    exact_numbers = True

    def get_company(self) -> Company:
        # The services read only its pk.
        return Company(pk=self.request.auth.company_id, name=self.request.auth.company_name)

    def object_by_external_id(self, external_id: str):
        # An id no row can have (NUL, too long) is simply not found, before it reaches the database.
        if text_problem(external_id) or len(external_id) > IDENTIFIER_LENGTH:
            raise Http404
        found = self.get_queryset().filter(external_id=external_id).first()
        if found is None:
            raise Http404
        return found


# --- Stores ---------------------------------------------------------------------------------------


class StoreListView(CommerceAPIView):
    queryset = Store.objects.all()
    pagination_class = PagePagination.keyed("stores")
    request_schemas = {"POST": s.STORE_CREATE_SCHEMA}

    @extend_schema(
        tags=["stores"],
        operation_id="stores_list",
        responses={200: s.StoreSerializer(many=True)},
        description="The company's stores (the Splio Data API 1.9's stores), by name.",
    )
    def get(self, request):
        page = self.paginate_queryset(selectors.store_list(company=request.auth.company_id))
        return self.get_paginated_response(s.StoreSerializer(page, many=True).data)

    @extend_schema(
        tags=["stores"],
        operation_id="stores_create",
        request=None,
        responses={201: s.StoreSerializer, 200: s.StoreSerializer},
        description=(
            "Create a store (201), or update the fields given of the store with this external_id (200). "
            "channel: online (default) or offline."
        ),
    )
    def post(self, request):
        with service_errors():
            result = store_upsert(company=self.get_company(), data=request.data)
        return Response(
            s.StoreSerializer(result.store).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


@extend_schema(tags=["stores"], parameters=[EXTERNAL_ID])
class StoreDetailView(CommerceAPIView):
    queryset = Store.objects.all()
    request_schemas = {"PUT": s.STORE_UPDATE_SCHEMA, "PATCH": s.STORE_UPDATE_SCHEMA}

    @extend_schema(operation_id="stores_retrieve", responses={200: s.StoreSerializer})
    def get(self, request, external_id: str):
        return Response(s.StoreSerializer(self.object_by_external_id(external_id)).data)

    def _update(self, request, external_id: str):
        request.data  # noqa: B018 - a body no view could take is a 400 before the lookup's 404
        store = self.object_by_external_id(external_id)
        with service_errors():
            result = store_update(store=store, data=request.data)
        return Response(s.StoreSerializer(result.store).data)

    @extend_schema(
        operation_id="stores_update",
        request=None,
        responses={200: s.StoreSerializer},
        description="Change the fields given (as the Splio Data API 1.9's PUT: only new or updated data is needed).",
    )
    def put(self, request, external_id: str):
        return self._update(request, external_id)

    @extend_schema(
        operation_id="stores_partial_update",
        request=None,
        responses={200: s.StoreSerializer},
        description="Same as PUT: change the fields given.",
    )
    def patch(self, request, external_id: str):
        return self._update(request, external_id)


# --- Orders ---------------------------------------------------------------------------------------


class OrderListQuery(serializers.Serializer):
    contact_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    status = serializers.ChoiceField(required=False, choices=OrderStatus.choices)
    completed = serializers.ChoiceField(required=False, choices=["true", "false"])
    store_id = serializers.CharField(required=False, max_length=IDENTIFIER_LENGTH, trim_whitespace=False)
    date_from = serializers.CharField(required=False, trim_whitespace=False)
    date_to = serializers.CharField(required=False, trim_whitespace=False)

    @staticmethod
    def _bound(value: str, *, end: bool):
        if len(value) == 10:
            try:
                day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                day = None
            if day is not None and 1900 <= day.year <= 2199:
                return day + timedelta(days=1) if end else day
        parsed = parse_date_time(value) if "T" in value.upper() else None
        if parsed is None:
            raise serializers.ValidationError(
                "Use a date (YYYY-MM-DD, a whole day in UTC) or an RFC 3339 date-time, years 1900 to 2199."
            )
        return parsed

    def validate_date_from(self, value: str):
        return self._bound(value, end=False)

    def validate_date_to(self, value: str):
        return self._bound(value, end=True)

    def validate_store_id(self, value: str):
        if text_problem(value):
            raise serializers.ValidationError("Must be valid text without NUL characters.")
        return value


ORDER_FILTERS = [
    OpenApiParameter("contact_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, description="The contact"),
    OpenApiParameter("status", {"type": "string", "enum": OrderStatus.values}, description="Status"),
    OpenApiParameter(
        "completed",
        {"type": "string", "enum": ["true", "false"]},
        description="false: only open carts; true: only completed orders.",
    ),
    OpenApiParameter(
        "store_id",
        {"type": "string", "pattern": NO_NUL, "minLength": 1, "maxLength": IDENTIFIER_LENGTH},
        description="The store's external id",
    ),
    OpenApiParameter(
        "date_from",
        DATE_BOUND,
        description="Placed at or after: a date (YYYY-MM-DD, from its start in UTC) or an RFC 3339 date-time.",
    ),
    OpenApiParameter(
        "date_to",
        DATE_BOUND,
        description="Placed up to: a date (YYYY-MM-DD, that whole day in UTC) or before an RFC 3339 date-time.",
    ),
]


def _answer(result) -> dict:
    answer = {
        "index": result.index,
        "external_id": result.external_id,
        "status": result.status,
        "order_id": result.order_id,
        "contact_id": result.contact_id,
    }
    if result.errors:
        answer["errors"] = result.errors
    return answer


class OrderAPIView(CommerceAPIView):
    queryset = Order.objects.all()

    def written(self, result) -> Response:
        """A single write's answer: the order as stored (201 created, 200 otherwise), or a 400."""
        if result.status == INVALID:
            raise _refused(result.errors)
        order = selectors.orders_with_lines(company=self.request.auth.company_id).get(pk=result.order_id)
        code = status.HTTP_201_CREATED if result.status == CREATED else status.HTTP_200_OK
        return Response(s.OrderSerializer(order).data, status=code)


class OrderListView(OrderAPIView):
    pagination_class = PagePagination.keyed("orders")
    request_schemas = {"POST": s.ORDER_CREATE_SCHEMA}

    @extend_schema(
        tags=["orders"],
        operation_id="orders_list",
        parameters=ORDER_FILTERS,
        responses={200: s.OrderSerializer(many=True)},
        description="The company's orders and open carts with their lines, newest (placed_at) first.",
    )
    def get(self, request):
        query = OrderListQuery(data=dict(request.query_params.items()))
        if not query.is_valid():
            raise _refused({name: [str(m) for m in messages] for name, messages in query.errors.items()})
        filters = query.validated_data
        completed = filters.get("completed")
        orders = selectors.order_list(
            company=request.auth.company_id,
            contact_id=filters.get("contact_id"),
            status=filters.get("status"),
            placed_from=filters.get("date_from"),
            placed_before=filters.get("date_to"),
            completed=None if completed is None else completed == "true",
            store_id=filters.get("store_id"),
        )
        page = self.paginate_queryset(orders)
        return self.get_paginated_response(s.OrderSerializer(page, many=True).data)

    @extend_schema(
        tags=["orders"],
        operation_id="orders_create",
        request=None,
        responses={201: s.OrderSerializer, 200: s.OrderSerializer},
        description=(
            "Create an order or open cart (201), or update the one with this external_id (200) by the Splio Data "
            "API 1.9's rule: order fields alone are patched, lines when given replace all lines. A new order needs "
            "its contact (contact_id, else email, else customer_id; created when missing, never re-subscribed). "
            "store_id must name an existing store. Money is exact (numbers or text, 2 decimals at most)."
        ),
    )
    def post(self, request):
        [result] = order_upsert_batch(company=self.get_company(), items=[request.data])
        return self.written(result)


class OrderDetailView(OrderAPIView):
    request_schemas = {"PUT": s.ORDER_UPDATE_SCHEMA, "PATCH": s.ORDER_UPDATE_SCHEMA}

    @extend_schema(
        tags=["orders"], operation_id="orders_retrieve", parameters=[EXTERNAL_ID], responses={200: s.OrderSerializer}
    )
    def get(self, request, external_id: str):
        order = self.object_by_external_id(external_id)
        order = selectors.orders_with_lines(company=request.auth.company_id).get(pk=order.pk)
        return Response(s.OrderSerializer(order).data)

    def _update(self, request, external_id: str):
        request.data  # noqa: B018 - a body no view could take is a 400 before the lookup's 404
        order = self.object_by_external_id(external_id)
        [result] = order_upsert_batch(
            company=self.get_company(), items=[request.data], url_external_id=order.external_id
        )
        return self.written(result)

    @extend_schema(
        tags=["orders"],
        operation_id="orders_update",
        parameters=[EXTERNAL_ID],
        request=None,
        responses={200: s.OrderSerializer},
        description=(
            "Update the order (the Splio Data API 1.9's PUT): the order fields given are changed, the others stay; "
            "lines, when given, replace ALL the order's lines; left out, the lines stay. completed true completes "
            "an open cart (completed_at: now unless given)."
        ),
    )
    def put(self, request, external_id: str):
        return self._update(request, external_id)

    @extend_schema(
        tags=["orders"],
        operation_id="orders_partial_update",
        parameters=[EXTERNAL_ID],
        request=None,
        responses={200: s.OrderSerializer},
        description="Same as PUT (the Splio Data API 1.9's rule: lines given replace all lines).",
    )
    def patch(self, request, external_id: str):
        return self._update(request, external_id)


class OrderBatchView(OrderDetailView):
    """POST /api/orders/batch; an order whose external id is "batch" is read and changed here too."""

    request_schemas = {"POST": s.ORDER_BATCH_SCHEMA, "PUT": s.ORDER_UPDATE_SCHEMA, "PATCH": s.ORDER_UPDATE_SCHEMA}
    # The parser reports problems inside an item per item (salloq.core.api.parsers).
    item_list_field = "orders"

    # The schema lists what this path does for the order "batch" too: OPTIONS answers name GET, PUT and
    # PATCH in Allow, and a client reading the schema must find them.
    @extend_schema(
        tags=["orders"],
        operation_id="orders_batch_retrieve",
        responses={200: s.OrderSerializer},
        description='The order whose external id is "batch" (GET /api/orders/{external_id} for that id).',
    )
    def get(self, request, external_id: str = "batch"):
        return super().get(request, external_id)

    @extend_schema(
        tags=["orders"],
        operation_id="orders_batch_update",
        request=None,
        responses={200: s.OrderSerializer},
        description='Update the order whose external id is "batch", as PUT /api/orders/{external_id}.',
    )
    def put(self, request, external_id: str = "batch"):
        return super().put(request, external_id)

    @extend_schema(
        tags=["orders"],
        operation_id="orders_batch_partial_update",
        request=None,
        responses={200: s.OrderSerializer},
        description="Same as PUT /api/orders/batch.",
    )
    def patch(self, request, external_id: str = "batch"):
        return super().patch(request, external_id)

    @extend_schema(
        tags=["orders"],
        operation_id="orders_batch",
        request=None,
        responses={200: s.OrderBatchResultSerializer},
        description=(
            f'Create or update up to {MAX_BATCH} orders: {{"orders": [...]}}, each as POST /api/orders takes it. '
            "One result per item, in order (created, updated, unchanged, or invalid with errors by field path); "
            "a bad item never stops the others."
        ),
    )
    def post(self, request):
        data = request.data
        errors = item_input_errors(request)
        if not isinstance(data, dict) or set(data) != {"orders"} or not isinstance(data["orders"], list):
            raise _refused({"orders": ['The body is {"orders": [...]}, a list of orders.']})
        items = data["orders"]
        if not items or len(items) > MAX_BATCH:
            raise _refused({"orders": [f"Send 1 to {MAX_BATCH} orders per request ({len(items)} sent)."]})
        results = order_upsert_batch(company=self.get_company(), items=items, item_errors=errors)
        counts = {
            name: sum(result.status == name for result in results) for name in (CREATED, UPDATED, UNCHANGED, INVALID)
        }
        return Response({"results": [_answer(result) for result in results], **counts})
