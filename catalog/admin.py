"""Django admin for commerce data: inspection and support fixes across companies.

Every row stays within one company: a product's and a collection's company is their catalog's, and
the forms refuse a contact, store or product of another company. Saving or deleting an order, its
lines or a subscription refreshes the commerce facts of the contacts concerned (catalog.commerce),
the same as the API's writes do; the facts themselves are only read here (and can be recomputed).

The tables of orders, lines, collection items, facts and products grow with the shops: their lists
never count the whole table (show_full_result_count off, and an unfiltered list's page count read
from PostgreSQL's statistics) and fetch each row's related objects in the same query.
"""

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.utils.functional import cached_property

from .commerce import refresh_commerce_facts
from .models import (
    CollectionItem,
    CommerceFacts,
    Order,
    OrderLine,
    OrderSource,
    Product,
    ProductCatalog,
    ProductCollection,
    Store,
    Subscription,
)

# Below this many rows (by the statistics) an unfiltered list is counted exactly.
EXACT_COUNT_UNDER = 50_000


class EstimatedCountPaginator(Paginator):
    """An unfiltered list's count from PostgreSQL's statistics (pg_class.reltuples) when the table is
    big, instead of a COUNT(*) over every company's rows; filtered lists are counted exactly."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            # -1: never analyzed; small tables are cheap to count and their estimate may be stale.
            if row and row[0] >= EXACT_COUNT_UNDER:
                return row[0]
        return super().count


class BigTableAdmin(admin.ModelAdmin):
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    # Newest rows first by the primary key's index: the models' own orderings (by name, by time
    # within a company) would sort every company's rows on an unfiltered list.
    ordering = ["-pk"]


class SameCompanyForm(forms.ModelForm):
    """Refuses related rows of another company than the row's own: `same_company` names the fields
    whose object must belong to the company read by `row_company`."""

    same_company: tuple[str, ...] = ()

    def row_company_id(self, cleaned: dict) -> int | None:
        company = cleaned.get("company")
        return company.pk if company else None

    def clean(self):
        cleaned = super().clean()
        company_id = self.row_company_id(cleaned)
        for name in self.same_company:
            related = cleaned.get(name)
            if related is not None and company_id is not None and related.company_id != company_id:
                self.add_error(name, "This belongs to another company.")
        return cleaned


def _refresh(company_id: int, contact_ids) -> None:
    ids = {contact_id for contact_id in contact_ids if contact_id}
    if ids:
        refresh_commerce_facts(company_id=company_id, contact_ids=ids)


# --- Catalogs, products, collections --------------------------------------------------------------


@admin.register(ProductCatalog)
class ProductCatalogAdmin(admin.ModelAdmin):
    list_display = ["name", "currency", "location", "is_default", "company", "created_at"]
    list_filter = ["is_default", "currency", "company"]
    list_select_related = ["company"]
    search_fields = ["name", "location", "=public_id"]
    readonly_fields = ["public_id", "created_at", "updated_at"]


@admin.register(Product)
class ProductAdmin(BigTableAdmin):
    exclude = ["company"]  # the catalog's
    list_display = ["name", "product_id", "catalog", "main_category", "price", "discount_price", "available", "active"]
    list_filter = ["available", "active", "bestseller", "new_product", "company"]
    list_select_related = ["catalog"]
    # Exact ids (the shop's product id hits the product_company_product_id index), or part of the name.
    search_fields = ["=product_id", "name", "=main_category"]
    search_help_text = "An exact product id or category, or part of the name."
    raw_id_fields = ["catalog"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.company_id = obj.catalog.company_id
        super().save_model(request, obj, form, change)


@admin.register(ProductCollection)
class ProductCollectionAdmin(admin.ModelAdmin):
    exclude = ["company"]  # the catalog's
    list_display = ["name", "catalog", "company", "created_at"]
    list_filter = ["company"]
    list_select_related = ["catalog", "company"]
    search_fields = ["name", "=public_id"]
    raw_id_fields = ["catalog"]
    readonly_fields = ["public_id", "created_at"]

    def save_model(self, request, obj, form, change):
        obj.company_id = obj.catalog.company_id
        super().save_model(request, obj, form, change)


class CollectionItemForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        collection, contact, product = cleaned.get("collection"), cleaned.get("contact"), cleaned.get("product")
        if collection and contact and contact.company_id != collection.company_id:
            self.add_error("contact", "This contact belongs to another company than the collection.")
        if collection and product and product.catalog_id != collection.catalog_id:
            self.add_error("product", "This product is not in the collection's catalog.")
        return cleaned


@admin.register(CollectionItem)
class CollectionItemAdmin(BigTableAdmin):
    form = CollectionItemForm
    list_display = ["collection", "contact", "product", "added_at"]
    list_filter = ["collection__company"]
    list_select_related = ["collection", "contact", "product"]
    search_fields = ["contact__email", "=product__product_id"]
    search_help_text = "Part of the contact's email, or an exact product id."
    raw_id_fields = ["collection", "contact", "product"]


# --- Stores, orders, subscriptions, facts ---------------------------------------------------------


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "external_id", "channel", "store_type", "manager", "company"]
    list_filter = ["channel", "company"]
    list_select_related = ["company"]
    search_fields = ["name", "=external_id", "manager"]
    readonly_fields = ["created_at", "updated_at"]


class OrderForm(SameCompanyForm):
    same_company = ("contact", "store")


class OrderLineForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        # In the order's inline, "order" is the order being saved (its company already set).
        product, order = cleaned.get("product"), cleaned.get("order")
        if product is not None and order is not None and product.company_id != order.company_id:
            self.add_error("product", "This product belongs to another company.")
        return cleaned


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    form = OrderLineForm
    extra = 0
    raw_id_fields = ["product"]
    fields = [
        "position",
        "product",
        "product_external_id",
        "product_name",
        "quantity",
        "unit_price",
        "discount",
        "tax",
        "line_total",
        "currency",
    ]


class RefreshesFactsAdmin(BigTableAdmin):
    """Saving or deleting rows of a contact's purchases refreshes the facts of their contacts, old
    and new (an order moved to another contact changes both), in the save's transaction."""

    def save_model(self, request, obj, form, change):
        previous = type(obj).objects.filter(pk=obj.pk).values_list("contact_id", flat=True).first() if change else None
        super().save_model(request, obj, form, change)
        obj._facts_contacts = {previous, obj.contact_id}

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)  # the lines first: then the facts
        obj = form.instance
        _refresh(obj.company_id, getattr(obj, "_facts_contacts", {obj.contact_id}))

    def delete_model(self, request, obj):
        with transaction.atomic():
            super().delete_model(request, obj)
            _refresh(obj.company_id, [obj.contact_id])

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            affected = list(queryset.values_list("company_id", "contact_id").distinct())
            super().delete_queryset(request, queryset)
            by_company: dict[int, set] = {}
            for company_id, contact_id in affected:
                by_company.setdefault(company_id, set()).add(contact_id)
            for company_id, contact_ids in by_company.items():
                _refresh(company_id, contact_ids)


@admin.register(Order)
class OrderAdmin(RefreshesFactsAdmin):
    form = OrderForm
    list_display = ["external_id", "contact", "store", "status", "completed", "total", "currency", "placed_at"]
    list_filter = ["completed", "status", "source", "placed_at", "company"]
    list_select_related = ["contact", "store"]
    search_fields = ["=external_id", "contact__email"]
    search_help_text = "An exact order id, or part of the contact's email."
    raw_id_fields = ["contact", "store"]
    readonly_fields = ["source", "created_at", "updated_at"]
    inlines = [OrderLineInline]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.source = OrderSource.ADMIN
        super().save_model(request, obj, form, change)


@admin.register(OrderLine)
class OrderLineAdmin(BigTableAdmin):
    form = OrderLineForm
    list_display = ["order", "position", "product_external_id", "product_name", "quantity", "line_total"]
    list_select_related = ["order"]
    search_fields = ["=order__external_id", "=product_external_id"]
    search_help_text = "An exact order id or product id."
    raw_id_fields = ["order", "product"]

    def _refresh_order(self, order: Order) -> None:
        _refresh(order.company_id, [order.contact_id])

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._refresh_order(obj.order)

    def delete_model(self, request, obj):
        with transaction.atomic():
            super().delete_model(request, obj)
            self._refresh_order(obj.order)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            orders = list(Order.objects.filter(pk__in=queryset.values("order_id")))
            super().delete_queryset(request, queryset)
            for order in orders:
                self._refresh_order(order)


class SubscriptionForm(SameCompanyForm):
    same_company = ("contact", "product")


@admin.register(Subscription)
class SubscriptionAdmin(RefreshesFactsAdmin):
    form = SubscriptionForm
    list_display = ["external_id", "contact", "product_external_id", "plan", "status", "price", "next_billing_date"]
    list_filter = ["status", "company"]
    list_select_related = ["contact"]
    search_fields = ["=external_id", "contact__email", "=product_external_id"]
    raw_id_fields = ["contact", "product"]
    readonly_fields = ["created_at", "updated_at"]


@admin.action(description="Recompute the selected facts from the contacts' orders and subscriptions")
def recompute_facts(modeladmin, request, queryset):
    rows = list(queryset.values_list("company_id", "contact_id"))
    by_company: dict[int, set] = {}
    for company_id, contact_id in rows:
        by_company.setdefault(company_id, set()).add(contact_id)
    for company_id, contact_ids in by_company.items():
        refresh_commerce_facts(company_id=company_id, contact_ids=contact_ids)
    messages.success(request, f"Recomputed the commerce facts of {len(rows)} contact(s).")


@admin.register(CommerceFacts)
class CommerceFactsAdmin(BigTableAdmin):
    """Derived from orders, subscriptions and loyalty (catalog.commerce): read here, never edited."""

    list_display = [
        "contact",
        "total_spent",
        "order_count",
        "average_order_value",
        "last_order_at",
        "open_cart_value",
        "loyalty_balance",
        "active_subscriptions",
        "company",
    ]
    list_filter = ["company"]
    list_select_related = ["contact", "company"]
    search_fields = ["contact__email"]
    actions = [recompute_facts]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
