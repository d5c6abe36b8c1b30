"""Catalogs, products and collections: the API routes (catalog/api/catalog_views.py)."""

from django.urls import re_path

from . import catalog_views as views

CATALOG = r"catalogs/(?P<catalog_id>[^/]+)"
COLLECTION = r"collections/(?P<collection_id>[^/]+)"

urlpatterns = [
    re_path(r"^catalogs/?$", views.CatalogListView.as_view(), name="catalogs"),
    re_path(rf"^{CATALOG}/?$", views.CatalogDetailView.as_view(), name="catalog"),
    re_path(rf"^{CATALOG}/products/?$", views.ProductListView.as_view(), name="catalog-products"),
    # Before the product route, which would take "batch" as a product id (GET of it still answers that product).
    re_path(rf"^{CATALOG}/products/batch/?$", views.ProductBatchView.as_view(), name="catalog-products-batch"),
    # A product id may hold any character, "/" included (sent as %2F, which the server decodes).
    re_path(
        rf"^{CATALOG}/products/(?P<product_id>[\s\S]+)$", views.ProductDetailView.as_view(), name="catalog-product"
    ),
    re_path(r"^collections/?$", views.CollectionListView.as_view(), name="collections"),
    re_path(rf"^{COLLECTION}/?$", views.CollectionDetailView.as_view(), name="collection"),
    re_path(rf"^{COLLECTION}/products/add/?$", views.CollectionAddView.as_view(), name="collection-products-add"),
    re_path(
        rf"^{COLLECTION}/products/remove/?$", views.CollectionRemoveView.as_view(), name="collection-products-remove"
    ),
    re_path(
        rf"^{COLLECTION}/contacts/(?P<contact_id>[0-9]+)/products/?$",
        views.CollectionContactProductsView.as_view(),
        name="collection-contact-products",
    ),
]
