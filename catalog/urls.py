from django.urls import path

from .views import collections, orders, products

app_name = "catalog"

urlpatterns = [
    path("", products.products, name="products"),
    path("products/<int:product_id>/", products.product_detail, name="product_detail"),
    path("collections/", collections.collections, name="collections"),
    path("collections/<int:collection_id>/", collections.collection_detail, name="collection_detail"),
    path("stores/", orders.stores, name="stores"),
    path("stores/<int:store_id>/", orders.store_detail, name="store_detail"),
    path("orders/", orders.orders, name="orders"),
    path("orders/<int:order_id>/", orders.order_detail, name="order_detail"),
]
