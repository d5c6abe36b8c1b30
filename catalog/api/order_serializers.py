"""Stores and orders in the API: the request bodies' JSON schemas (derived from catalog.order_input's
field tables, which the services check) and the answers' serializers."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts.contact_input import MAX_ID
from salloq.core.api.fields import EMAIL_SCHEMA, NO_NUL, NOT_BLANK

from ..models import Order, OrderLine, OrderStatus, Store, StoreChannel
from ..order_input import (
    BOOLEAN,
    CHANNEL,
    COMPLETED,
    CONTACT_ID,
    COUNTRIES,
    COUNTRY,
    CURRENCIES,
    CURRENCY,
    CUSTOM,
    CUSTOM_FIELD_VALUE_LENGTH,
    EMAIL,
    IDENTIFIER,
    LINE_FIELDS,
    LINES,
    MAX_BATCH,
    MAX_CUSTOM_FIELDS,
    MAX_LINES,
    MOMENT,
    MONEY_INTEGER_DIGITS,
    MONEY_KIND,
    MONEY_LIMIT,
    MONEY_TEXT,
    ORDER_FIELDS,
    QUANTITY,
    QUANTITY_LIMIT,
    QUANTITY_TEXT,
    RFC_3339,
    SPLIO_MOMENT,
    STATUS,
    STORE_FIELDS,
    STORE_REF,
    TEXT,
    Spec,
)
from ..services.orders import ORDER_STATE


def _number(limit, text) -> dict:
    return {
        "anyOf": [
            {"type": "number", "minimum": 0, "maximum": float(limit), "exclusiveMaximum": True},
            {"type": "string", "pattern": f"^{text.pattern}$"},
        ]
    }


def _identifier(max_length: int) -> dict:
    return {
        "anyOf": [
            {"type": "string", "pattern": NOT_BLANK, "maxLength": max_length},
            {"type": "integer", "minimum": -MAX_ID, "maximum": MAX_ID},
        ]
    }


CUSTOM_SCHEMA = {
    "type": "object",
    "maxProperties": MAX_CUSTOM_FIELDS,
    "additionalProperties": {
        "nullable": True,
        "anyOf": [
            {"type": "string", "pattern": NO_NUL, "maxLength": CUSTOM_FIELD_VALUE_LENGTH},
            {"type": "number"},
            {"type": "boolean"},
        ],
    },
    "description": "Custom fields by name: texts, numbers, true/false or null (a fractional number is kept as text).",
}


def field_schema(spec: Spec) -> dict:
    kind = spec.kind
    if kind in (IDENTIFIER, STORE_REF):
        schema = _identifier(spec.max_length)
    elif kind == TEXT:
        schema = {"type": "string", "pattern": NO_NUL if spec.blank else NOT_BLANK, "maxLength": spec.max_length}
    elif kind == MONEY_KIND:
        schema = _number(MONEY_LIMIT, MONEY_TEXT)
    elif kind == QUANTITY:
        schema = _number(QUANTITY_LIMIT, QUANTITY_TEXT)
    elif kind == BOOLEAN:
        schema = {"type": "boolean"}
    elif kind == COMPLETED:
        schema = {"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]}
    elif kind == MOMENT:
        schema = {
            "anyOf": [
                {"type": "string", "format": "date-time", "pattern": f"^{RFC_3339}$"},
                {"type": "string", "pattern": f"^{SPLIO_MOMENT.pattern}$"},
            ]
        }
    elif kind == CURRENCY:
        schema = {"type": "string", "enum": CURRENCIES}
    elif kind == COUNTRY:
        schema = {"type": "string", "enum": ["", *COUNTRIES]}
    elif kind == STATUS:
        schema = {"type": "string", "enum": OrderStatus.values}
    elif kind == CHANNEL:
        schema = {"type": "string", "enum": StoreChannel.values}
    elif kind == CONTACT_ID:
        schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    elif kind == EMAIL:
        schema = dict(EMAIL_SCHEMA)
    elif kind == CUSTOM:
        schema = dict(CUSTOM_SCHEMA)
    elif kind == LINES:
        schema = {"type": "array", "maxItems": MAX_LINES, "items": LINE_SCHEMA}
    else:  # pragma: no cover - every kind is above
        raise AssertionError(kind)
    if spec.nullable:
        schema = {**schema, "nullable": True}
    if spec.description:
        schema = {**schema, "description": spec.description}
    return schema


def _object(fields: dict[str, Spec], required: tuple[str, ...] = (), description: str = "") -> dict:
    schema = {
        "type": "object",
        "properties": {name: field_schema(spec) for name, spec in fields.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


LINE_SCHEMA = _object(
    LINE_FIELDS, ("product_id",), "A line; its product is linked to the catalog's product of that id."
)
ORDER_CREATE_SCHEMA = _object(
    ORDER_FIELDS,
    ("external_id",),
    "An order, or an open cart (completed false). A new order needs external_id and its contact (contact_id, "
    "email or customer_id); an existing one (the same external_id) is updated with the fields given.",
)
ORDER_UPDATE_SCHEMA = _object(
    ORDER_FIELDS,
    description=(
        "The fields to change (the Splio Data API 1.9's rule): order fields alone are patched; lines, when "
        "given, replace all the order's lines. external_id, when given, must be the one in the URL."
    ),
)
ORDER_BATCH_SCHEMA = {
    "type": "object",
    "required": ["orders"],
    "properties": {
        "orders": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "items": {"description": "An order as POST /api/orders takes it; checked item by item."},
        }
    },
    "additionalProperties": False,
}
STORE_CREATE_SCHEMA = _object(
    STORE_FIELDS, ("external_id", "name"), "A store: created, or updated when one has this external_id."
)
STORE_UPDATE_SCHEMA = _object(
    STORE_FIELDS,
    description="The fields to change (only new or updated data, as the Splio Data API 1.9's PUT). external_id, "
    "when given, must be the one in the URL.",
)


# --- Answers --------------------------------------------------------------------------------------


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=MONEY_INTEGER_DIGITS + 2,
        decimal_places=2,
        coerce_to_string=True,
        help_text="Exact, as text: '149.99'.",
        **kwargs,
    )


@extend_schema_field(CUSTOM_SCHEMA)
class CustomFieldsField(serializers.DictField):
    pass


class StoreSerializer(serializers.ModelSerializer):
    custom_fields = CustomFieldsField()

    class Meta:
        model = Store
        fields = [
            "external_id",
            "name",
            "channel",
            "store_type",
            "manager",
            "custom_fields",
            "created_at",
            "updated_at",
        ]


class OrderLineSerializer(serializers.ModelSerializer):
    product_id = serializers.CharField(source="product_external_id", help_text="The shop's product id.")
    catalog_product_id = serializers.IntegerField(
        source="product_id", allow_null=True, help_text="The catalog product it is linked to (null: none has this id)."
    )
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, coerce_to_string=True)
    unit_price = _money()
    discount = _money()
    tax = _money()
    line_total = _money()
    custom_fields = CustomFieldsField()

    class Meta:
        model = OrderLine
        fields = [
            "product_id",
            "catalog_product_id",
            "product_name",
            "quantity",
            "unit_price",
            "discount",
            "tax",
            "line_total",
            "currency",
            "custom_fields",
        ]


class OrderSerializer(serializers.ModelSerializer):
    order_id = serializers.IntegerField(source="id")
    contact_id = serializers.IntegerField(allow_null=True)
    store_id = serializers.CharField(source="store.external_id", allow_null=True, help_text="The store's external id.")
    subtotal = _money()
    tax = _money()
    shipping = _money()
    discount = _money()
    total = _money()
    custom_fields = CustomFieldsField()
    lines = OrderLineSerializer(many=True)

    class Meta:
        model = Order
        # The stored state the service compares and writes, between the order's ids and its source and lines.
        fields = ["order_id", "external_id", *ORDER_STATE, "source", "lines"]


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "description": 'Messages by field path, e.g. {"lines[0].unit_price": ["Must be 0 or more."]}.',
    }
)
class ErrorsField(serializers.DictField):
    pass


@extend_schema_field({"type": "string", "enum": ["created", "updated", "unchanged", "invalid"]})
class ResultStatusField(serializers.CharField):
    pass


class OrderBatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    status = ResultStatusField()
    order_id = serializers.IntegerField(allow_null=True)
    contact_id = serializers.IntegerField(allow_null=True)
    errors = ErrorsField(required=False)


class OrderBatchResultSerializer(serializers.Serializer):
    results = OrderBatchItemSerializer(many=True, help_text="One per item, in order.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()
