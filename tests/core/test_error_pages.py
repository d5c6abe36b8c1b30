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
