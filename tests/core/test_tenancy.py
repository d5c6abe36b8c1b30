"""One company can never see or touch another company's data."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from salloq.core.api.scoping import CompanyScopedAPIView
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db


def _api_views(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_views(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.lstrip("^").startswith("api"):
            view_class = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
            yield route, view_class


def test_every_api_view_is_company_scoped_or_says_why_not():
    checked = 0
    for route, view_class in _api_views():
        if view_class is None or not issubclass(view_class, APIView):
            continue
        if view_class.__module__.startswith("drf_spectacular"):
            continue  # the schema and its docs pages describe the API, they hold no company data
        checked += 1
        assert issubclass(view_class, CompanyScopedAPIView) or getattr(view_class, "company_scoped", True) is False, (
            f"{route} ({view_class.__name__}) must subclass CompanyScopedAPIView"
        )
    assert checked >= 2


def test_other_company_key_gets_404_for_our_api_key(api, other_api, company):
    ours, _ = make_api_key(company, name="ours")
    assert api.get(f"/api/api-keys/{ours.pk}").status_code == 200
    for method in ("get", "delete"):
        response = getattr(other_api, method)(f"/api/api-keys/{ours.pk}")
        assert response.status_code == 404, method
        assert response.json()["code"] == 404
    ours.refresh_from_db()
    assert ours.revoked_at is None


def test_lists_only_show_own_company_rows(api, other_api, company, other_company):
    make_api_key(company, name="ours 2")
    make_api_key(other_company, name="theirs 2")
    ours = {row["name"] for row in api.get("/api/api-keys").json()["api_keys"]}
    theirs = {row["name"] for row in other_api.get("/api/api-keys").json()["api_keys"]}
    assert ours == {"Full access", "ours 2"}
    assert theirs == {"Rival key", "theirs 2"}


def test_dashboard_cannot_revoke_another_company_key(client, company, other_company):
    from tests.factories import MembershipFactory

    member = MembershipFactory(company=company)
    theirs, _ = make_api_key(other_company)
    client.force_login(member.user)
    response = client.post(f"/settings/api-keys/{theirs.pk}/revoke/")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
