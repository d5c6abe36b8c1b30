"""The catalog API's answers (serializers) and request bodies (JSON Schemas, stated from the same
limits the services check: catalog.product_input.FIELDS, catalog.services.catalogs' patterns)."""

import pycountry
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from salloq.core.api.fields import NOT_BLANK
from salloq.core.uuids import UUID_SCHEMA

from ..models import MONEY, Product, ProductCatalog, ProductCollection
from ..product_input import FIELDS, MAX_BATCH, REQUIRED, field_schema
from ..services.catalogs import LOCATION_MAX_LENGTH, NAME_MAX_LENGTH, NOT_CURRENCIES
from ..services.collections import MAX_ENTRIES, MAX_PRODUCTS_PER_ENTRY, PRODUCT_ID_MAX_LENGTH
from ..services.collections import NAME_MAX_LENGTH as COLLECTION_NAME_MAX_LENGTH
from ..services.products import STATUSES

CURRENCIES = sorted(currency.alpha_3 for currency in pycountry.currencies if currency.alpha_3 not in NOT_CURRENCIES)

CATALOG_UPSERT_SCHEMA = {
    "type": "object",
    "properties": {
        "catalog_id": {**UUID_SCHEMA, "description": "The catalog to update; leave out to create one."},
        "name": {
            "type": "string",
            "pattern": f"^[A-Za-z0-9_]{{1,{NAME_MAX_LENGTH}}}$",
            "description": "Letters, digits and _ (reason 18), at most 64 (reason 11); unique per company (409).",
        },
        "currency": {"type": "string", "enum": CURRENCIES, "description": "A current ISO 4217 code (pycountry)."},
        "location": {
            "type": "string",
            "pattern": f"^[A-Za-z_][A-Za-z0-9_]{{0,{LOCATION_MAX_LENGTH - 1}}}$",
            "description": "Letters, digits and _, not starting with a digit, at most 255; unique per company (409).",
        },
        "is_default": {"type": "boolean", "description": "Make it the default catalog (the previous one stops being)."},
    },
    "additionalProperties": False,
    "anyOf": [{"required": ["catalog_id"]}, {"required": ["name", "currency", "location"]}],
}


def _product_fields_description() -> str:
    lines = []
    for name, spec in FIELDS.items():
        schema = field_schema(name)
        limit = f", up to {spec.max_length}" if spec.max_length else ""
        trim = " (longer: stored trimmed, warning 12)" if spec.trim else ""
        required = " required;" if name in REQUIRED else ""
        lines.append(f"`{name}`:{required} {schema['type']}{limit}{trim}")
    return "; ".join(lines)


PRODUCT_BATCH_SCHEMA = {
    "type": "object",
    "required": ["products"],
    "properties": {
        "products": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_BATCH,
            "description": f"1 to {MAX_BATCH} products (more: 400 with reason 19).",
            # Any item is taken into the batch: one that is not a valid product gets status "invalid"
            # with its errors and reason codes in the results, and never fails the others.
            "items": {"description": "A product, checked item by item: " + _product_fields_description() + "."},
        }
    },
    "additionalProperties": False,
}

COLLECTION_CREATE_SCHEMA = {
    "type": "object",
    "required": ["name", "catalog_id"],
    "properties": {
        "name": {"type": "string", "pattern": NOT_BLANK, "maxLength": COLLECTION_NAME_MAX_LENGTH},
        "catalog_id": {**UUID_SCHEMA, "description": "The catalog whose products the collection holds."},
    },
    "additionalProperties": False,
}

COLLECTION_ENTRIES_SCHEMA = {
    "type": "object",
    "required": ["contacts"],
    "properties": {
        "contacts": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ENTRIES,
            # Checked entry by entry: a bad or unknown entry is reported in `problems`, the others go through.
            "items": {
                "description": (
                    "{contact_id (ours) or email, product_ids: up to "
                    f"{MAX_PRODUCTS_PER_ENTRY} ids of up to {PRODUCT_ID_MAX_LENGTH} characters, all in the "
                    "collection's catalog}; checked entry by entry."
                )
            },
        }
    },
    "additionalProperties": False,
}


@extend_schema_field({"type": "string", "pattern": "^[0-9]{1,19}\\.[0-9]{2}$", "nullable": True})
class MoneyField(serializers.DecimalField):
    """Exact, as text ("79.99"): a JSON number could not carry 21 digits through a double."""

    def __init__(self, **kwargs):
        super().__init__(**MONEY, coerce_to_string=True, **kwargs)


class CatalogSerializer(serializers.ModelSerializer):
    catalog_id = serializers.UUIDField(source="public_id")

    class Meta:
        model = ProductCatalog
        fields = ["catalog_id", "name", "currency", "location", "is_default", "created_at", "updated_at"]


class ProductSerializer(serializers.ModelSerializer):
    catalog_id = serializers.UUIDField(source="catalog.public_id")
    price = MoneyField()
    discount_price = MoneyField(allow_null=True)
    unit_price = MoneyField(allow_null=True)
    categories = serializers.ListField(child=serializers.CharField())
    image_urls = serializers.ListField(child=serializers.CharField())
    custom_details = serializers.DictField(child=serializers.CharField())

    class Meta:
        model = Product
        fields = ["catalog_id", *FIELDS, "created_at", "updated_at"]


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "description": 'Messages by field, e.g. {"price": ["At most 2 digits after the decimal point."]}.',
    }
)
class MessagesField(serializers.DictField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": 11, "maximum": 19},
        "description": "SALESmanago API v3's reason code of each refused field.",
    }
)
class ReasonsField(serializers.DictField):
    pass


class ProductResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    product_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=STATUSES)
    errors = MessagesField(required=False)
    reason = serializers.IntegerField(required=False, help_text="The reason code of the first refused field.")
    reasons = ReasonsField(required=False)
    warnings = MessagesField(required=False, help_text="Fields stored trimmed.")
    warning_reason = serializers.IntegerField(required=False, help_text="12: data trimmed.")


class ProductBatchResultSerializer(serializers.Serializer):
    results = ProductResultSerializer(many=True, help_text="One per item, in order.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invalid = serializers.IntegerField()
    product_ids = serializers.ListField(child=serializers.CharField(), help_text="The ids stored (as SALESmanago).")


class CollectionSerializer(serializers.ModelSerializer):
    collection_id = serializers.UUIDField(source="public_id")
    catalog_id = serializers.UUIDField(source="catalog.public_id")

    class Meta:
        model = ProductCollection
        fields = ["collection_id", "name", "catalog_id", "created_at"]


class EntryProblemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The entry's position in `contacts`.")
    errors = MessagesField()
    reason = serializers.IntegerField()


class CollectionChangeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="True when every entry went through.")
    message = serializers.CharField(help_text='e.g. "Products added for 1 out of 2 contacts."')
    contacts_done = serializers.IntegerField()
    contacts_total = serializers.IntegerField()
    items_changed = serializers.IntegerField(help_text="Products added (new) or removed.")
    problems = EntryProblemSerializer(many=True)


class ContactProductsSerializer(serializers.Serializer):
    collection_id = serializers.UUIDField()
    contact_id = serializers.IntegerField()
    products = serializers.ListField(child=serializers.CharField(), help_text="Product ids, oldest first.")


class DeletedSerializer(serializers.Serializer):
    collection_id = serializers.UUIDField()
    deleted = serializers.BooleanField()
