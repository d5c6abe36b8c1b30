"""Stores and orders: the API routes.

External ids may hold any character, "/" included (sent URL-encoded as %2F, which arrives decoded):
everything after /api/stores/ or /api/orders/ is the id, so these routes add no optional trailing
slash. /api/orders/batch is the batch (POST); an order whose id is "batch" is read and changed there.
"""

from django.urls import re_path

from . import order_views as views

# The rest of the path, whatever it holds.
EXTERNAL_ID = r"(?P<external_id>.+)"

urlpatterns = [
    re_path(r"^stores/?$", views.StoreListView.as_view(), name="stores"),
    re_path(rf"^stores/{EXTERNAL_ID}$", views.StoreDetailView.as_view(), name="store-detail"),
    re_path(r"^orders/?$", views.OrderListView.as_view(), name="orders"),
    re_path(r"^orders/batch$", views.OrderBatchView.as_view(), name="orders-batch"),
    re_path(rf"^orders/{EXTERNAL_ID}$", views.OrderDetailView.as_view(), name="order-detail"),
]
