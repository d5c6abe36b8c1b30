"""The dashboard shell: login, roles, the API keys page and its htmx partial, company switcher, CSP."""

import re

import pytest

from salloq.core.models import ApiKey, Company, Role
from tests.factories import CompanyFactory, MembershipFactory, make_api_key

pytestmark = pytest.mark.django_db


def test_pages_require_login(client):
    for path in ["/", "/settings/api-keys/", "/settings/webhook/"]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path


def test_login_page_and_login(client, owner, company):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": owner.username, "password": "correct-horse-battery"})
    assert response.status_code == 302
    page = client.get("/")
    assert company.name in page.content.decode()
    assert f'<strong id="company-id">{company.pk}</strong>' in page.content.decode()


def test_login_form_is_csrf_protected(owner):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"username": owner.username, "password": "correct-horse-battery"}
    )
    assert response.status_code == 403


def test_pages_send_a_strict_content_security_policy(client, owner):
    client.force_login(owner)
    csp = client.get("/")["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp


def test_user_without_company_is_told_so(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 403
    assert "No company yet" in response.content.decode()


def test_creating_a_key_shows_it_once_in_the_htmx_partial(client, owner, company):
    client.force_login(owner)
    response = client.post(
        "/settings/api-keys/",
        {"name": "POS Paris", "scopes": ["contacts:read", "events:write"], "hourly_limit": 500},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the partial, not the page
    assert response["Cache-Control"] == "no-store" and "HX-Request" in response["Vary"]
    plain = re.search(r'<code id="new-api-key">(sqm_\w+)</code>', html).group(1)
    api_key = ApiKey.objects.for_company(company).get()
    assert api_key.name == "POS Paris" and api_key.scopes == ["contacts:read", "events:write"]
    assert api_key.hourly_limit == 500 and api_key.created_by == owner
    assert plain.startswith(api_key.prefix)
    # Shown once: the list page never contains it again.
    assert plain not in client.get("/settings/api-keys/").content.decode()


def test_full_page_post_without_htmx_also_works(client, owner, company):
    client.force_login(owner)
    response = client.post("/settings/api-keys/", {"name": "No JS", "scopes": ["*"], "hourly_limit": 1000})
    assert response.status_code == 200
    assert "<html" in response.content.decode() and 'id="new-api-key"' in response.content.decode()


def test_invalid_key_form_is_400_with_field_errors_and_creates_nothing(client, owner, company):
    client.force_login(owner)
    response = client.post(
        "/settings/api-keys/", {"name": "", "scopes": [], "hourly_limit": 0}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count('class="error"') >= 3
    assert not ApiKey.objects.for_company(company).exists()


def test_viewer_sees_keys_but_cannot_create_or_revoke(client, company):
    viewer = MembershipFactory(company=company, role=Role.VIEWER).user
    existing, _ = make_api_key(company)
    client.force_login(viewer)
    page = client.get("/settings/api-keys/").content.decode()
    assert existing.prefix in page and 'id="api-key-form"' not in page
    assert client.post("/settings/api-keys/", {"name": "x", "scopes": ["*"], "hourly_limit": 5}).status_code == 403
    assert client.post(f"/settings/api-keys/{existing.pk}/revoke/").status_code == 403
    existing.refresh_from_db()
    assert existing.revoked_at is None and ApiKey.objects.count() == 1


def test_marketer_cannot_manage_keys_or_see_webhook_secret(client, company):
    marketer = MembershipFactory(company=company, role=Role.MARKETER).user
    client.force_login(marketer)
    assert client.post("/settings/api-keys/", {"name": "x", "scopes": ["*"], "hourly_limit": 5}).status_code == 403
    assert client.get("/settings/webhook/").status_code == 403


def test_owner_revokes_a_key_with_htmx(client, owner, company):
    api_key, _ = make_api_key(company, name="old")
    client.force_login(owner)
    response = client.post(f"/settings/api-keys/{api_key.pk}/revoke/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'class="badge revoked"' in response.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_owner_rotates_the_webhook_secret(client, owner, company):
    client.force_login(owner)
    before = Company.objects.get(pk=company.pk).webhook_secret
    assert before in client.get("/settings/webhook/").content.decode()
    client.post("/settings/webhook/")
    after = Company.objects.get(pk=company.pk).webhook_secret
    assert after != before and after.startswith("whsec_")


def test_company_switcher_changes_the_current_company(client, owner, company):
    second = CompanyFactory(name="Second Shop")
    MembershipFactory(company=second, user=owner, role=Role.VIEWER)
    client.force_login(owner)
    page = client.get("/").content.decode()
    assert 'name="company_id"' in page and "Second Shop" in page
    response = client.post("/switch-company/", {"company_id": second.pk, "next": "/"})
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert "<h1>Second Shop</h1>" in page
    # ...and the role follows the company: a viewer there.
    assert client.post("/settings/api-keys/", {"name": "x", "scopes": ["*"], "hourly_limit": 5}).status_code == 403


def test_cannot_switch_to_a_company_you_are_not_in(client, owner, other_company):
    client.force_login(owner)
    assert client.post("/switch-company/", {"company_id": other_company.pk}).status_code == 403
    assert client.post("/switch-company/", {"company_id": "junk"}).status_code == 403


def test_switcher_ignores_foreign_redirects(client, owner, company):
    second = CompanyFactory(name="Second Shop")
    MembershipFactory(company=second, user=owner)
    client.force_login(owner)
    response = client.post("/switch-company/", {"company_id": second.pk, "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_dashboard_list_page_query_count_does_not_grow_with_keys(client, owner, company, django_assert_max_num_queries):
    client.force_login(owner)
    for n in range(15):
        make_api_key(company, name=f"k{n}")
    with django_assert_max_num_queries(8):
        client.get("/settings/api-keys/")


def test_admin_lists_core_models(admin_client, company):
    make_api_key(company)
    for path in ["/admin/core/company/", "/admin/core/apikey/", "/admin/core/membership/", "/admin/core/heartbeat/"]:
        assert admin_client.get(path).status_code == 200, path
    assert admin_client.get("/admin/core/apikey/add/").status_code == 403
