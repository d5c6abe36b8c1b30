"""403, 404 and 500 are pages of the product with a way back, not Django's bare or debug pages."""

import pytest
from django.test import Client

from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_an_unknown_object_is_a_styled_404_with_links_back(viewer_client, company, other_company):
    theirs = ContactFactory(company=other_company, email="rival@example.com")

    response = viewer_client.get(f"/contacts/{theirs.pk}/")

    assert response.status_code == 404
    page = response.content.decode()
    assert '<link rel="stylesheet" href="/static/css/app.css' in page and 'class="sidebar"' in page
    assert "This page does not exist" in page and "rival@example.com" not in page
    assert '<a class="button primary" href="/">Back to the dashboard</a>' in page
    assert 'id="error-section-link"' in page and 'href="/contacts/"' in page


def test_an_unknown_url_is_a_404_linking_to_the_dashboard(viewer_client):
    response = viewer_client.get("/no/such/page/")
    page = response.content.decode()
    assert response.status_code == 404 and "This page does not exist" in page
    assert 'href="/">Back to the dashboard</a>' in page and 'id="error-section-link"' not in page


def test_a_404_for_someone_signed_out_links_to_the_login(client):
    response = Client().get("/no/such/page/")
    page = response.content.decode()
    assert response.status_code == 404 and "This page does not exist" in page
    assert 'href="/accounts/login/">Log in</a>' in page and 'class="sidebar"' not in page


def test_a_forbidden_action_is_a_styled_403_saying_why(viewer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com")

    response = viewer_client.post(f"/contacts/{contact.pk}/blacklist/")

    assert response.status_code == 403
    page = response.content.decode()
    assert 'class="sidebar"' in page and "You cannot do this here" in page
    assert "Your role (Viewer) cannot do this; it needs Marketer." in page
    assert '<a class="button primary" href="/">Back to the dashboard</a>' in page


def test_switching_to_a_company_you_are_not_in_is_a_styled_403(viewer_client, other_company):
    response = viewer_client.post("/switch-company/", {"company_id": other_company.pk})
    assert response.status_code == 403
    assert "You are not a member of that company." in response.content.decode()
    assert "You cannot do this here" in response.content.decode()


def test_a_server_error_is_a_styled_500_with_a_way_back(viewer_client, monkeypatch):
    from salloq.core import selectors

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "onboarding_checklist", broken)
    viewer_client.raise_request_exception = False

    response = viewer_client.get("/")

    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and "boom" not in page
    assert '<link rel="stylesheet" href="/static/css/app.css' in page
    assert '<a class="button primary" href="/">Back to the dashboard</a>' in page


def _product_error_page(response, status: int) -> str:
    """The body of a standalone product error page (no sidebar: rendered without the request)."""
    assert response.status_code == status
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    assert 'id="error-page"' in page and f"Error {status}" in page
    assert '<link rel="stylesheet" href="/static/css/app.css' in page
    assert '<a class="button primary" href="/">Back to the dashboard</a>' in page
    return page


def test_a_nul_in_a_dashboard_search_is_a_product_400_naming_the_parameter(viewer_client):
    page = _product_error_page(viewer_client.get("/contacts/?search=%00"), 400)
    assert "This request cannot be read" in page
    assert "The query parameter(s) search must not contain NUL characters." in page


def test_an_htmx_search_with_a_nul_gets_the_message_alone_for_the_problem_area(viewer_client):
    response = viewer_client.get("/contacts/?search=%00", HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and response["HX-Retarget"] == "#request-problem"
    assert response.content.decode() == (
        '<p class="error">The query parameter(s) search must not contain NUL characters.</p>'
    )


def test_a_nul_in_a_dashboard_address_is_a_product_400(viewer_client):
    page = _product_error_page(viewer_client.get("/contacts/a%00b/"), 400)
    assert "The address must not contain NUL characters." in page


def test_an_oversized_dashboard_post_is_a_product_413(viewer_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    response = viewer_client.post(
        "/contacts/lists/", data="name=" + "x" * 2_000, content_type="application/x-www-form-urlencoded"
    )
    page = _product_error_page(response, 413)
    assert "This request is too large" in page and "CSV import" in page


def test_the_api_keeps_its_error_shape_for_the_same_problems(api, settings):
    nul = api.get("/api/contacts?search=%00")
    assert nul.status_code == 400 and nul["Content-Type"] == "application/json"
    assert nul.json()["code"] == 400 and nul.json()["details"] == {"search": ["must not contain NUL characters"]}
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    big = api.post("/api/contacts", {"email": "a@example.com", "note": "x" * 2_000})
    assert big.status_code == 413 and big.json()["code"] == 413


def test_djangos_own_bad_request_is_the_product_400(rf):
    from django.views.defaults import bad_request

    page = _product_error_page(bad_request(rf.get("/"), Exception("bad")), 400)
    assert "Something in the address or the form is not what the dashboard expects." in page


def test_a_form_without_its_csrf_token_is_a_product_403_saying_the_form_expired(company, owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)

    response = browser.post("/contacts/lists/", {"name": "Newsletter"})

    page = _product_error_page(response, 403)
    assert "This form has expired" in page and "reload the page" in page
    assert "CSRF" not in page  # no jargon, no Django debug text
