"""The catalog's API routes: catalogs, products and collections (catalog_urls), stores and orders
(order_urls)."""

from django.urls import include, path

urlpatterns = [
    path("", include("catalog.api.catalog_urls")),
    path("", include("catalog.api.order_urls")),
]
