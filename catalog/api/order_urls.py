"""Stores and orders: the API routes."""

urlpatterns: list = []
