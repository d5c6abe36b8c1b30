from django.urls import path

from . import views

app_name = "connector"

urlpatterns = [
    path("", views.shop_connection, name="shop"),
    path("test/", views.shop_connection_test, name="test"),
    path("sync/", views.shop_sync_now, name="sync"),
]
