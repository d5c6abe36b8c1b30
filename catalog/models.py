"""What the shop knows: product catalogs and their products, product collections (wishlists),
stores, orders and open carts with their lines, subscriptions, and each contact's commerce facts.

The shapes follow SALESmanago API v3 (catalogs, products, collections), the Splio Data API 1.9
(stores, orders with lines, abandoned carts as orders with order_completed 0) and the Salloq
Ecommerce API (slug, stock, subscriptions, loyalty). Writes go through catalog.services; the
limits the models do not state (lengths of list items, money precision, reason codes) are checked
there, before anything is stored.
"""

import uuid

from django.db import models
from django.utils import timezone

from salloq.core.models import Company, CompanyScopedModel

# SALESmanago API v3 prices: up to 19 digits before the decimal point and 2 after.
MONEY = {"max_digits": 21, "decimal_places": 2}


class ProductCatalog(CompanyScopedModel):
    """A shop's product catalog (SALESmanago API v3 catalogUpsert). A company has at most one default
    catalog, where the Salloq Ecommerce connector puts the shop's products."""

    # SALESmanago's catalogId: the public identifier of the catalog in the API.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=64, help_text="Letters, digits and _ only")
    currency = models.CharField(max_length=3, help_text="ISO 4217, e.g. EUR")
    # Assigns SALESmanago external events (PURCHASE, CART) to the catalog: letters, digits and _,
    # not starting with a digit.
    location = models.CharField(max_length=255)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="catalog_unique_name"),
            models.UniqueConstraint(fields=["company", "location"], name="catalog_unique_location"),
            models.UniqueConstraint(
                fields=["company"], condition=models.Q(is_default=True), name="catalog_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProductGender(models.IntegerChoices):
    # SALESmanago API v3 systemDetails.gender (3 is in its enum without a meaning).
    UNDEFINED = -1, "Undefined"
    FEMALE = 0, "Female"
    MALE = 1, "Male"
    OTHER = 2, "Other"
    UNNAMED = 3, "3 (unnamed)"
    UNISEX = 4, "Unisex"


class Product(CompanyScopedModel):
    """A product of a catalog, keyed by the shop's own id (SALESmanago productId, the Salloq Ecommerce
    product id, Splio's extid)."""

    # No index of their own: (company, ...) and the unique (catalog, product_id) lead with them. A
    # second index leading with the catalog also let the planner answer a batch's lookup of its
    # product ids with a scan of the whole catalog (catalog.services.products, SELECT_PRODUCTS).
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    catalog = models.ForeignKey(ProductCatalog, on_delete=models.CASCADE, related_name="products", db_index=False)
    product_id = models.CharField(max_length=255, help_text="The shop's product id, SKU or EAN")
    name = models.CharField(max_length=255)
    main_category = models.CharField(max_length=255, blank=True, default="")
    category_external_id = models.CharField(max_length=255, blank=True, default="")
    categories = models.JSONField(default=list, blank=True)  # up to 5 names of up to 255
    description = models.TextField(blank=True, default="")  # up to 16384
    product_url = models.CharField(max_length=2048, blank=True, default="")
    main_image_url = models.CharField(max_length=2048, blank=True, default="")
    image_urls = models.JSONField(default=list, blank=True)  # up to 5 URLs of up to 2048
    available = models.BooleanField(default=True)
    active = models.BooleanField(default=True)
    quantity = models.IntegerField(null=True, blank=True)
    price = models.DecimalField(**MONEY)
    discount_price = models.DecimalField(**MONEY, null=True, blank=True)
    unit_price = models.DecimalField(**MONEY, null=True, blank=True)
    brand = models.CharField(max_length=255, blank=True, default="")
    manufacturer = models.CharField(max_length=100, blank=True, default="")
    season = models.CharField(max_length=40, blank=True, default="")
    color = models.CharField(max_length=40, blank=True, default="")
    popularity = models.PositiveSmallIntegerField(null=True, blank=True)  # 0 to 100
    gender = models.SmallIntegerField(choices=ProductGender.choices, default=ProductGender.UNDEFINED)
    bestseller = models.BooleanField(default=False)
    new_product = models.BooleanField(default=False)
    custom_details = models.JSONField(default=dict, blank=True)  # up to 5 keys, values up to 255
    # The Salloq Ecommerce API's own fields.
    slug = models.CharField(max_length=255, blank=True, default="")
    stock_qty = models.IntegerField(null=True, blank=True)
    subscription_enabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["catalog", "product_id"], name="product_unique_id_per_catalog"),
        ]
        indexes = [
            # The dashboard's category filter and suggestions (always within the company).
            models.Index(fields=["company", "main_category"], name="product_company_category"),
            # Order lines and collections name products by the shop's id, whatever the catalog.
            models.Index(fields=["company", "product_id"], name="product_company_product_id"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.product_id})"


class ProductCollection(CompanyScopedModel):
    """A named set of products per contact in one catalog (SALESmanago: Wishlist, Interested in, ...)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # collectionUUID
    catalog = models.ForeignKey(ProductCatalog, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["catalog", "name"], name="collection_unique_name_per_catalog"),
        ]

    def __str__(self) -> str:
        return self.name


class CollectionItem(models.Model):
    """One product in one contact's collection. Reached through its collection, which is scoped."""

    collection = models.ForeignKey(ProductCollection, on_delete=models.CASCADE, related_name="items")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "contact", "product"], name="collection_item_unique"),
        ]
        indexes = [
            # "Which collections hold products for this contact" (the contact page, segments).
            models.Index(fields=["contact", "collection"], name="collection_item_contact"),
        ]

    def __str__(self) -> str:
        return f"product {self.product_id} for contact {self.contact_id}"


class StoreChannel(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class Store(CompanyScopedModel):
    """A shop or till (Splio Data API 1.9 store), keyed by the merchant's own id."""

    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    channel = models.CharField(max_length=10, choices=StoreChannel.choices, default=StoreChannel.ONLINE)
    store_type = models.CharField(max_length=100, blank=True, default="")
    manager = models.CharField(max_length=255, blank=True, default="")
    # Splio's custom fields of the store, by name.
    custom_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "external_id"], name="store_unique_external_id"),
        ]

    def __str__(self) -> str:
        return self.name


class OrderStatus(models.TextChoices):
    # The Salloq Ecommerce API's statuses, and the two that take an order out of the commerce facts.
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


# Orders in these statuses count for nothing: not spent, not an order, not a cart.
UNCOUNTED_STATUSES = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)


class OrderSource(models.TextChoices):
    API = "api", "API"
    SHOP = "shop", "Salloq Ecommerce sync"
    EVENT = "event", "Event"
    ADMIN = "admin", "Admin"


class Order(CompanyScopedModel):
    """An order, or an open cart when `completed` is False (Splio's order_completed 0, its abandoned
    basket). Keyed by the shop's own order id."""

    external_id = models.CharField(max_length=255)
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.COMPLETED)
    completed = models.BooleanField(default=True, help_text="False: an open (abandoned) cart")
    currency = models.CharField(max_length=3, blank=True, default="")
    subtotal = models.DecimalField(**MONEY, default=0)
    tax = models.DecimalField(**MONEY, default=0)
    shipping = models.DecimalField(**MONEY, default=0)
    discount = models.DecimalField(**MONEY, default=0)
    total = models.DecimalField(**MONEY, default=0)
    # Splio's date_added (when the order was first stored) and date_order (when it was completed).
    placed_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    shipping_address = models.CharField(max_length=255, blank=True, default="")
    shipping_city = models.CharField(max_length=100, blank=True, default="")
    shipping_state = models.CharField(max_length=100, blank=True, default="")
    shipping_zip = models.CharField(max_length=20, blank=True, default="")
    shipping_country = models.CharField(max_length=2, blank=True, default="")
    tracking_number = models.CharField(max_length=100, blank=True, default="")
    promo_code = models.CharField(max_length=100, blank=True, default="")
    salesperson = models.CharField(max_length=100, blank=True, default="")
    is_subscription = models.BooleanField(default=False)
    custom_fields = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=OrderSource.choices, default=OrderSource.API)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "external_id"], name="order_unique_external_id"),
        ]
        indexes = [
            models.Index(fields=["company", "-placed_at", "-id"], name="order_company_time"),
            # A contact's orders, and the per-contact sums of the commerce facts.
            models.Index(fields=["contact", "placed_at"], name="order_contact_time"),
            models.Index(
                fields=["company", "-updated_at"], condition=models.Q(completed=False), name="order_open_carts"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class OrderLine(models.Model):
    """A line of an order. Writing an order's lines replaces all of them (Splio's rule)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(default=0)
    # The catalog's product when one has the line's product id; the id and name are kept either way.
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    product_external_id = models.CharField(max_length=255)
    product_name = models.CharField(max_length=255, blank=True, default="")
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=1)
    unit_price = models.DecimalField(**MONEY, default=0)
    discount = models.DecimalField(**MONEY, default=0)
    tax = models.DecimalField(**MONEY, default=0)
    line_total = models.DecimalField(**MONEY, default=0)
    currency = models.CharField(max_length=3, blank=True, default="")
    custom_fields = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["order", "position", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_external_id}"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


class Subscription(CompanyScopedModel):
    """A product subscription (the Salloq Ecommerce API), keyed by the shop's subscription id."""

    external_id = models.CharField(max_length=255)
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="subscriptions"
    )
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    product_external_id = models.CharField(max_length=255, blank=True, default="")
    plan = models.CharField(max_length=255, blank=True, default="", help_text="e.g. Every 30 days")
    quantity = models.PositiveIntegerField(default=1)
    price = models.DecimalField(**MONEY, null=True, blank=True)
    status = models.CharField(max_length=20, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE)
    next_billing_date = models.DateField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "external_id"], name="subscription_unique_external_id"),
        ]
        indexes = [models.Index(fields=["contact", "status"], name="subscription_contact_status")]

    def __str__(self) -> str:
        return self.external_id


class CommerceFacts(CompanyScopedModel):
    """What a contact has bought, kept current by catalog.commerce after every write of their orders,
    subscriptions or loyalty (one grouped query over that contact's own rows, never the company's
    history). A contact without a row has bought nothing: segments read it through a LEFT JOIN.

    Counted orders are the completed ones whose status is not cancelled or refunded; open carts are
    the orders not completed (and not cancelled)."""

    contact = models.OneToOneField(
        "contacts.Contact", primary_key=True, on_delete=models.CASCADE, related_name="commerce"
    )
    total_spent = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    order_count = models.PositiveIntegerField(default=0)
    first_order_at = models.DateTimeField(null=True, blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    average_order_value = models.DecimalField(max_digits=24, decimal_places=2, null=True, blank=True)
    open_cart_value = models.DecimalField(max_digits=24, decimal_places=2, default=0)
    open_cart_count = models.PositiveIntegerField(default=0)
    last_cart_at = models.DateTimeField(null=True, blank=True)
    # The Salloq Ecommerce API's loyalty (GET /customers/{id}/loyalty), as last synced.
    loyalty_balance = models.IntegerField(default=0)
    lifetime_points = models.IntegerField(default=0)
    loyalty_value = models.DecimalField(**MONEY, null=True, blank=True)
    active_subscriptions = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "commerce facts"
        indexes = [
            models.Index(fields=["company", "total_spent"], name="commerce_company_spent"),
            models.Index(fields=["company", "last_order_at"], name="commerce_company_last_order"),
        ]

    def __str__(self) -> str:
        return f"commerce of contact {self.contact_id}"
