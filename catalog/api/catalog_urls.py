"""Catalogs, products and collections: the API routes."""

urlpatterns: list = []
