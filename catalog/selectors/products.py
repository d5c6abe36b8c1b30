"""Reads of products and collections: a catalog's products with filters, a contact's products in a collection."""

from __future__ import annotations

import json

from django.db import connection
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast

from ..models import CollectionItem, Product, ProductCatalog, ProductCollection

MAX_SEARCH_LENGTH = 200
MAX_CATEGORY_LENGTH = 255


def catalog_products(
    *,
    catalog: ProductCatalog,
    category: str | None = None,
    search: str | None = None,
    available: bool | None = None,
    active: bool | None = None,
) -> QuerySet[Product]:
    """`catalog`'s products by name. category: the main category or one of the categories (exact);
    search: every word in the name or description (any case); available, active: the flags."""
    products = Product.objects.filter(catalog=catalog)
    if category:
        products = products.filter(Q(main_category=category) | _in_categories(category))
    for word in (search or "").split():
        products = products.filter(Q(name__icontains=word) | Q(description__icontains=word))
    if available is not None:
        products = products.filter(available=available)
    if active is not None:
        products = products.filter(active=active)
    return products.order_by("name", "id")


def _in_categories(category: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(categories__contains=[category])  # jsonb @>
    # SQLite has no JSON containment: the list's JSON text holds the category's JSON string (both
    # written by json.dumps, quotes inside a name escaped, so "a" never matches inside "x\\"a\\"").
    return Q(
        pk__in=Product.objects.annotate(categories_text=Cast("categories", TextField()))
        .filter(categories_text__contains=json.dumps(category))
        .values("pk")
    )


def collection_contact_products(*, collection: ProductCollection, contact_id: int) -> list[str]:
    """The product ids `contact_id` has in `collection`, oldest first."""
    return list(
        CollectionItem.objects.filter(collection=collection, contact_id=contact_id)
        .order_by("added_at", "id")
        .values_list("product__product_id", flat=True)
    )


def collections_with_catalog(queryset: QuerySet[ProductCollection]) -> QuerySet[ProductCollection]:
    return queryset.select_related("catalog").order_by("name", "id")
