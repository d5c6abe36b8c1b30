"""The catalog API: product catalogs, products and product collections (SALESmanago API v3's
catalogUpsert, product/upsert and product/collection/*, in the Salloq Marketing API's shape).

Scopes catalog:read (GET) and catalog:write. Catalogs and collections are named by their public
UUID; another company's is a 404. A refusal carries SALESmanago's reason code of each field in the
error's details under "reason_codes" ({"products": 19}), beside the messages by field.
"""

import uuid
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from contacts.models import Contact
from salloq.core.api.fields import MAX_ID, NO_NUL
from salloq.core.api.parsers import item_input_errors
from salloq.core.api.scoping import CompanyScopedAPIView
from salloq.core.api.service_errors import CONFLICT_CODE
from salloq.core.errors import ApiError
from salloq.core.models import Company, Scope
from salloq.core.pagination import PagePagination
from salloq.core.schema import ErrorSerializer, SalloqAutoSchema
from salloq.core.uuids import parse_uuid

from ..models import Product, ProductCatalog, ProductCollection
from ..product_input import REASON_BY_CODE, Reason
from ..selectors.products import (
    MAX_CATEGORY_LENGTH,
    MAX_SEARCH_LENGTH,
    catalog_products,
    collection_contact_products,
    collections_with_catalog,
)
from ..services.catalogs import catalog_upsert
from ..services.collections import (
    catalog_for_reference,
    collection_add_products,
    collection_create,
    collection_delete,
    collection_remove_products,
)
from ..services.products import INVALID, STATUSES, batch_too_large, product_upsert_batch
from . import catalog_serializers as s


def _api_error(exc: DjangoValidationError) -> ApiError:
    """A service's refusal in the API's error shape, with SALESmanago's reason code of each field:
    409 when only uniqueness stands in the way, 404 when only an unknown catalog does, else 400."""
    details = serializers.as_serializer_error(exc)
    messages = {name: [str(message) for message in field_messages] for name, field_messages in details.items()}
    codes = {
        name: [getattr(message, "code", None) for message in field_messages] for name, field_messages in details.items()
    }
    reasons = {name: int(REASON_BY_CODE.get(field_codes[0], Reason.STRUCTURE)) for name, field_codes in codes.items()}
    body = {**messages, "reason_codes": reasons}
    every_code = {code for field_codes in codes.values() for code in field_codes}
    first = next(iter(messages.values()))[0]
    if every_code == {CONFLICT_CODE}:
        return ApiError(409, "Conflict", first, body)
    if every_code == {"not_found"}:
        return ApiError(404, "Not Found", first, body)
    return ApiError(400, "Validation failed", f"Invalid input: check {', '.join(messages)}.", body)


@contextmanager
def catalog_errors():
    try:
        yield
    except DjangoValidationError as exc:
        raise _api_error(exc) from None


def _body(request) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise ApiError(
            400,
            "Validation failed",
            "The body is a JSON object.",
            {"non_field_errors": ["The body is a JSON object."], "reason_codes": {"non_field_errors": 14}},
        )
    return data


class CatalogAutoSchema(SalloqAutoSchema):
    """Request bodies are JSON Schemas (catalog_serializers), stated from the services' own limits."""

    def _get_request_for_media_type(self, serializer, direction="request"):
        body = getattr(self.view, "request_schema", None)
        if body is not None and self.method == "POST":
            return body, True
        return super()._get_request_for_media_type(serializer, direction)


def _path(name: str, schema: dict, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, schema, location=OpenApiParameter.PATH, description=description)


CATALOG_ID = _path("catalog_id", s.UUID_SCHEMA, "The catalog's catalog_id (a UUID).")
COLLECTION_ID = _path("collection_id", s.UUID_SCHEMA, "The collection's collection_id (a UUID).")
PRODUCT_ID = _path(
    "product_id",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL},
    "The shop's product id, URL-encoded (any character: '/' as %2F, '?' as %3F, '#' as %23, '%' as %25).",
)
CONTACT_ID = _path("contact_id", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "Our contact id.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such catalog (reason 16), product or collection.")
CONFLICT = OpenApiResponse(ErrorSerializer, description="Another catalog or collection holds this name/location.")


def _uuid(raw: str) -> uuid.UUID:
    try:
        return parse_uuid(raw)
    except ValueError:
        raise Http404 from None


class CatalogAPIView(CompanyScopedAPIView):
    schema = CatalogAutoSchema()
    read_scope = Scope.CATALOG_READ
    write_scope = Scope.CATALOG_WRITE
    queryset = ProductCatalog.objects.all()

    def get_company(self) -> Company:
        # The key's company as authentication found it: the services read only its pk.
        return Company(pk=self.request.auth.company_id, name=self.request.auth.company_name)

    def get_catalog(self, catalog_id: str) -> ProductCatalog:
        catalog = ProductCatalog.objects.for_company(self.request.auth.company_id).filter(public_id=_uuid(catalog_id))
        found = catalog.first()
        if found is None:
            raise ApiError(
                404,
                "Not Found",
                "No such catalog.",
                {"catalog_id": ["No such catalog."], "reason_codes": {"catalog_id": int(Reason.UNKNOWN)}},
            )
        return found

    def get_collection(self, collection_id: str) -> ProductCollection:
        collections = ProductCollection.objects.for_company(self.request.auth.company_id).select_related("catalog")
        found = collections.filter(public_id=_uuid(collection_id)).first()
        if found is None:
            raise Http404
        return found


# --- Catalogs --------------------------------------------------------------------------------------


class CatalogListView(CatalogAPIView):
    pagination_class = PagePagination.keyed("catalogs")
    request_schema = s.CATALOG_UPSERT_SCHEMA

    @extend_schema(
        tags=["catalog"],
        operation_id="catalogs_list",
        responses={200: s.CatalogSerializer(many=True)},
        description="The company's product catalogs, by name.",
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset().order_by("name", "id"))
        return self.get_paginated_response(s.CatalogSerializer(page, many=True).data)

    @extend_schema(
        tags=["catalog"],
        operation_id="catalogs_upsert",
        request=None,
        responses={201: s.CatalogSerializer, 200: s.CatalogSerializer, 404: NOT_FOUND, 409: CONFLICT},
        description=(
            "Create a catalog (SALESmanago API v3 catalogUpsert): name, currency and location; 201. With "
            "`catalog_id`, update that catalog's fields given; 200. `is_default: true` makes it the company's one "
            "default catalog. Reason codes: 11 too long, 13 missing, 14 wrong type, 16 unknown catalog_id "
            "(404), 18 pattern or currency, 15 name or location taken (409)."
        ),
    )
    def post(self, request):
        data = _body(request)
        if "catalog_id" in data and data["catalog_id"] is None:
            raise _api_error(
                DjangoValidationError({"catalog_id": DjangoValidationError("Leave it out to create.", "invalid_type")})
            )
        with catalog_errors():
            catalog = catalog_upsert(company=self.get_company(), data=data)
        code = status.HTTP_200_OK if data.get("catalog_id") is not None else status.HTTP_201_CREATED
        return Response(s.CatalogSerializer(catalog).data, status=code)


class CatalogDetailView(CatalogAPIView):
    @extend_schema(
        tags=["catalog"],
        operation_id="catalogs_retrieve",
        parameters=[CATALOG_ID],
        responses={200: s.CatalogSerializer, 404: NOT_FOUND},
    )
    def get(self, request, catalog_id: str):
        return Response(s.CatalogSerializer(self.get_catalog(catalog_id)).data)


# --- Products --------------------------------------------------------------------------------------


class QueryBooleanField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=["true", "false"], **kwargs)

    def to_internal_value(self, data) -> bool:
        return super().to_internal_value(data) == "true"


class ProductListQuery(serializers.Serializer):
    category = serializers.CharField(required=False, max_length=MAX_CATEGORY_LENGTH, allow_blank=True)
    search = serializers.CharField(required=False, max_length=MAX_SEARCH_LENGTH, allow_blank=True)
    # "true" or "false", as the schema's boolean is written in a query: DRF's BooleanField would also
    # take "null", "1", "yes" and "on", which the schema refuses.
    available = QueryBooleanField(required=False)
    active = QueryBooleanField(required=False)


PRODUCT_FILTERS = [
    OpenApiParameter(
        "category",
        {"type": "string", "maxLength": MAX_CATEGORY_LENGTH, "pattern": NO_NUL},
        description="The main category or one of the categories (exact).",
    ),
    OpenApiParameter(
        "search",
        {"type": "string", "maxLength": MAX_SEARCH_LENGTH, "pattern": NO_NUL},
        description="Every word in the name or description (any case).",
    ),
    OpenApiParameter("available", OpenApiTypes.BOOL, description="Available (true) or temporarily not (false)."),
    OpenApiParameter("active", OpenApiTypes.BOOL, description="Still sold (true) or turned off (false)."),
]


class ProductListView(CatalogAPIView):
    pagination_class = PagePagination.keyed("products")

    @extend_schema(
        tags=["catalog"],
        operation_id="catalogs_products_list",
        parameters=[CATALOG_ID, *PRODUCT_FILTERS],
        responses={200: s.ProductSerializer(many=True), 404: NOT_FOUND},
        description="A catalog's products by name, with filters.",
    )
    def get(self, request, catalog_id: str):
        catalog = self.get_catalog(catalog_id)
        query = ProductListQuery(data=dict(request.query_params.items()))
        query.is_valid(raise_exception=True)
        products = catalog_products(catalog=catalog, **query.validated_data)
        page = self.paginate_queryset(products)
        for product in page:
            product.catalog = catalog  # the serializer reads catalog.public_id: no query per product
        return self.get_paginated_response(s.ProductSerializer(page, many=True).data)


def _product_answer(view: CatalogAPIView, catalog_id: str, product_id: str) -> Response:
    catalog = view.get_catalog(catalog_id)
    product = Product.objects.filter(catalog=catalog, product_id=product_id).first()
    if product is None:
        raise Http404
    product.catalog = catalog
    return Response(s.ProductSerializer(product).data)


class ProductDetailView(CatalogAPIView):
    @extend_schema(
        tags=["catalog"],
        operation_id="catalogs_products_retrieve",
        parameters=[CATALOG_ID, PRODUCT_ID],
        responses={200: s.ProductSerializer, 404: NOT_FOUND},
        description="One product by the shop's product id (URL-encoded: any character may be in it).",
    )
    def get(self, request, catalog_id: str, product_id: str):
        return _product_answer(self, catalog_id, product_id)


class ProductBatchView(CatalogAPIView):
    request_schema = s.PRODUCT_BATCH_SCHEMA
    # Prices of up to 21 digits: JSON fractions are read as Decimals from their text, never as floats.
    exact_numbers = True
    # The parser reports problems inside an item per item (salloq.core.api.parsers).
    item_list_field = "products"

    @extend_schema(
        tags=["catalog"],
        operation_id="catalogs_products_batch_retrieve",
        parameters=[CATALOG_ID],
        responses={200: s.ProductSerializer, 404: NOT_FOUND},
        description='The product whose product_id is "batch" (this path is also the batch upsert\'s).',
    )
    def get(self, request, catalog_id: str):
        # GET .../products/batch is the product whose id is "batch" (this route comes first), so the schema
        # lists it here: an OPTIONS answer's Allow header names GET, and must match the schema.
        return _product_answer(self, catalog_id, "batch/" if request.path.endswith("/") else "batch")

    @extend_schema(
        tags=["catalog"],
        operation_id="catalogs_products_batch",
        request=None,
        parameters=[CATALOG_ID],
        responses={200: s.ProductBatchResultSerializer, 404: NOT_FOUND},
        description=(
            'Create or update 1 to 100 products (SALESmanago API v3 product/upsert): {"products": [...]}. One '
            "result per item, in order: created, updated, unchanged or invalid (errors by field, `reason` and "
            "`reasons`: 11 over a limit, 13 missing, 14 wrong type, 15 product_id twice in the batch, 17 "
            "required set to null, 18 pattern, URL or unknown field). Text stored trimmed is a warning with "
            "`warning_reason` 12 (description, brand, manufacturer, season, color, custom detail values). "
            "Prices are exact: up to 19 digits before the point and 2 after. Optional fields left out keep "
            "their stored value; null clears them. More than 100 products: 400 with reason 19."
        ),
    )
    def post(self, request, catalog_id: str):
        # The body first: a body no view could read is a 400 whatever the path names.
        data = _body(request)
        item_errors = item_input_errors(request)
        catalog = self.get_catalog(catalog_id)
        products = data.get("products")
        if set(data) != {"products"} or not isinstance(products, list) or not products:
            raise _api_error(
                DjangoValidationError(
                    {
                        "products": DjangoValidationError(
                            'The body is {"products": [...]}, 1 to 100 products.', "required"
                        )
                    }
                )
            )
        too_large = batch_too_large(len(products))
        if too_large is not None:
            raise _api_error(too_large)
        results = product_upsert_batch(catalog=catalog, items=products)
        body = {"results": [], **dict.fromkeys(STATUSES, 0), "product_ids": []}
        for result in results:
            if result.index in item_errors:
                # The parser refused something inside the item (NUL, a number out of range).
                result.status, result.errors = INVALID, item_errors[result.index]
                result.reasons = dict.fromkeys(result.errors, int(Reason.STRUCTURE))
                result.reason, result.warnings = int(Reason.STRUCTURE), {}
            body["results"].append(result.answer())
            body[result.status] += 1
            if result.status != INVALID:
                body["product_ids"].append(result.product_id)
        return Response(body)


# --- Collections -----------------------------------------------------------------------------------


class CollectionListView(CatalogAPIView):
    queryset = ProductCollection.objects.all()
    pagination_class = PagePagination.keyed("collections")
    request_schema = s.COLLECTION_CREATE_SCHEMA

    @extend_schema(
        tags=["catalog"],
        operation_id="collections_list",
        parameters=[OpenApiParameter("catalog_id", s.UUID_SCHEMA, description="Only this catalog's collections.")],
        responses={200: s.CollectionSerializer(many=True)},
        description="The company's product collections, by name.",
    )
    def get(self, request):
        collections = collections_with_catalog(self.get_queryset())
        raw = request.query_params.get("catalog_id")
        if raw is not None:  # "" names no catalog: a 400 like any other non-UUID
            try:
                collections = collections.filter(catalog__public_id=parse_uuid(raw))
            except ValueError:
                raise serializers.ValidationError({"catalog_id": ["Must be a catalog's UUID."]}) from None
        page = self.paginate_queryset(collections)
        return self.get_paginated_response(s.CollectionSerializer(page, many=True).data)

    @extend_schema(
        tags=["catalog"],
        operation_id="collections_create",
        request=None,
        responses={201: s.CollectionSerializer, 404: NOT_FOUND, 409: CONFLICT},
        description=(
            "Create a product collection (Wishlist, Interested in, ...) in a catalog; its name is unique per "
            "catalog (409)."
        ),
    )
    def post(self, request):
        data = _body(request)
        unknown = sorted(set(data) - {"name", "catalog_id"})
        with catalog_errors():
            if unknown:
                raise DjangoValidationError(
                    {name: DjangoValidationError("Unknown field.", "structure") for name in unknown}
                )
            name = data.get("name")
            if name is None:
                raise DjangoValidationError({"name": DjangoValidationError("This field is required.", "required")})
            company = self.get_company()
            catalog = catalog_for_reference(company, data.get("catalog_id"))
            collection = collection_create(company=company, catalog=catalog, name=name)
        return Response(s.CollectionSerializer(collection).data, status=status.HTTP_201_CREATED)


class CollectionDetailView(CatalogAPIView):
    queryset = ProductCollection.objects.all()

    @extend_schema(
        tags=["catalog"],
        operation_id="collections_retrieve",
        parameters=[COLLECTION_ID],
        responses={200: s.CollectionSerializer, 404: NOT_FOUND},
    )
    def get(self, request, collection_id: str):
        return Response(s.CollectionSerializer(self.get_collection(collection_id)).data)

    @extend_schema(
        tags=["catalog"],
        operation_id="collections_destroy",
        parameters=[COLLECTION_ID],
        request=None,
        responses={200: s.DeletedSerializer, 404: NOT_FOUND},
        description="Delete the collection and every contact's products in it (irreversible).",
    )
    def delete(self, request, collection_id: str):
        collection = self.get_collection(collection_id)
        public_id = collection.public_id
        collection_delete(collection=collection)
        return Response({"collection_id": str(public_id), "deleted": True})


class CollectionChangeView(CatalogAPIView):
    queryset = ProductCollection.objects.all()
    request_schema = s.COLLECTION_ENTRIES_SCHEMA
    item_list_field = "contacts"
    change = None  # the service: collection_add_products or collection_remove_products

    def post(self, request, collection_id: str):
        # The body first: a body no view could read is a 400 whatever the path names.
        data = _body(request)
        item_errors = item_input_errors(request)
        collection = self.get_collection(collection_id)
        if set(data) != {"contacts"}:
            raise _api_error(
                DjangoValidationError(
                    {"contacts": DjangoValidationError('The body is {"contacts": [...]}.', "required")}
                )
            )
        with catalog_errors():
            change = type(self).change(collection=collection, entries=data["contacts"])
        body = change.answer()
        # Entries the parser refused read as None: their problem is the parser's, not "not an object".
        for problem in body["problems"]:
            if problem["index"] in item_errors:
                problem["errors"], problem["reason"] = item_errors[problem["index"]], int(Reason.STRUCTURE)
        return Response(body)


ENTRIES_DESCRIPTION = (
    'Up to 1000 entries {"contacts": [{"contact_id": 12, "product_ids": ["P1", "P2"]}, {"email": ...}]}, each '
    "with up to 100 product ids of the collection's catalog. An entry with an unknown contact or product "
    "(reason 16), or a malformed one (11, 13, 14, 18), is reported in `problems` and changes nothing; the "
    'others go through ("Products {verb} for 1 out of 2 contacts.").'
)


class CollectionAddView(CollectionChangeView):
    change = staticmethod(collection_add_products)

    @extend_schema(
        tags=["catalog"],
        operation_id="collections_products_add",
        parameters=[COLLECTION_ID],
        request=None,
        responses={200: s.CollectionChangeSerializer, 404: NOT_FOUND},
        description="Add products to contacts' collection. " + ENTRIES_DESCRIPTION.replace("{verb}", "added"),
    )
    def post(self, request, collection_id: str):
        return super().post(request, collection_id)


class CollectionRemoveView(CollectionChangeView):
    change = staticmethod(collection_remove_products)

    @extend_schema(
        tags=["catalog"],
        operation_id="collections_products_remove",
        parameters=[COLLECTION_ID],
        request=None,
        responses={200: s.CollectionChangeSerializer, 404: NOT_FOUND},
        description="Remove products from contacts' collection. " + ENTRIES_DESCRIPTION.replace("{verb}", "removed"),
    )
    def post(self, request, collection_id: str):
        return super().post(request, collection_id)


class CollectionContactProductsView(CatalogAPIView):
    queryset = ProductCollection.objects.all()

    @extend_schema(
        tags=["catalog"],
        operation_id="collections_contacts_products",
        parameters=[COLLECTION_ID, CONTACT_ID],
        responses={200: s.ContactProductsSerializer, 404: NOT_FOUND},
        description="The product ids a contact has in the collection, oldest first.",
    )
    def get(self, request, collection_id: str, contact_id: str):
        collection = self.get_collection(collection_id)
        pk = int(contact_id) if len(contact_id) <= len(str(MAX_ID)) else 0
        contacts = Contact.objects.for_company(request.auth.company_id).filter(erased_at__isnull=True)
        if not 1 <= pk <= MAX_ID or not contacts.filter(pk=pk).exists():
            raise Http404
        products = collection_contact_products(collection=collection, contact_id=pk)
        return Response({"collection_id": str(collection.public_id), "contact_id": pk, "products": products})
