"""Settings > API keys in a real browser: create a key through the htmx form, see it once, use it."""

import re

import httpx
import pytest
from playwright.sync_api import expect

from salloq.core.models import ApiKey, Role
from tests.factories import MembershipFactory, UserFactory, make_api_key

pytestmark = pytest.mark.browser

KEY_RE = re.compile(r"^sqm_[0-9A-Za-z]{42}$")


def open_api_keys_from_sidebar(page, live_server):
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    expect(page).to_have_url(f"{live_server.url}/settings/api-keys/")
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys")


def test_owner_creates_a_key_sees_it_once_and_it_works(live_server, page, log_in, company, browser_errors, screenshot):
    owner = MembershipFactory(company=company, user=UserFactory(username="olivia"), role=Role.OWNER).user

    log_in(owner)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Shop")

    open_api_keys_from_sidebar(page, live_server)
    expect(page.locator("#api-keys")).to_contain_text("No API keys yet.")

    form = page.locator("#api-key-form")
    form.locator('input[name="name"]').fill("Shop integration")
    form.get_by_role("checkbox", name="Full access").check()
    expect(form.locator('input[name="hourly_limit"]')).to_have_value("1000")
    with page.expect_response(lambda r: r.request.method == "POST" and "/settings/api-keys/" in r.url) as posted:
        form.get_by_role("button", name="Create key").click()

    response = posted.value
    assert response.status == 200
    assert response.request.headers.get("hx-request") == "true", "the form should post through htmx"
    assert response.headers.get("cache-control") == "no-store"
    expect(page).to_have_url(f"{live_server.url}/settings/api-keys/")  # swapped in place, no navigation

    new_key = page.locator("code#new-api-key")
    expect(new_key).to_have_text(KEY_RE)
    plain_key = new_key.inner_text().strip()
    assert KEY_RE.match(plain_key)
    screenshot("after-create")

    api_key = ApiKey.objects.get(company=company)
    assert (api_key.name, api_key.scopes, api_key.created_by) == ("Shop integration", ["*"], owner)
    prefix = plain_key[:12]
    assert api_key.prefix == prefix
    row = page.locator(f"#api-key-{api_key.pk}")
    expect(row).to_contain_text("Shop integration")
    expect(row.locator("code")).to_have_text(f"{prefix}…")
    expect(row).to_contain_text("active")
    # A fresh form replaces the one just submitted.
    expect(page.locator('#api-key-form input[name="name"]')).to_have_value("")

    # The key shown is a working key for this company.
    api = httpx.get(
        f"{live_server.url}/api/",
        headers={"Authorization": f"Bearer {plain_key}", "X-Company-ID": str(company.pk)},
        timeout=10,
    )
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["company"] == {"company_id": company.pk, "name": "Acme Shop"}
    assert body["api_key"]["prefix"] == prefix

    # Shown once: after a reload only the prefix is left, and the call above is recorded.
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("API keys")
    expect(page.locator("#new-api-key")).to_have_count(0)
    assert plain_key not in page.content()
    row = page.locator(f"#api-key-{api_key.pk}")
    expect(row.locator("code")).to_have_text(f"{prefix}…")
    expect(row.locator("td").nth(4)).to_have_text(re.compile(r"ago$"))  # Last used

    assert browser_errors == []


def test_viewer_sees_the_keys_but_no_create_form(live_server, page, log_in, company, browser_errors):
    api_key, _ = make_api_key(company, name="POS Paris")
    viewer = MembershipFactory(company=company, user=UserFactory(username="victor"), role=Role.VIEWER).user

    log_in(viewer)
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Shop")
    expect(page.locator(".topbar .who")).to_have_text("victor · Viewer")

    open_api_keys_from_sidebar(page, live_server)
    row = page.locator(f"#api-key-{api_key.pk}")
    expect(row).to_contain_text("POS Paris")
    expect(row.locator("code")).to_have_text(f"{api_key.prefix}…")
    expect(page.locator("#api-key-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)
    expect(page.get_by_role("button", name="Revoke")).to_have_count(0)

    # Hiding the form is not the protection: the server refuses a viewer's POST too.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    forged = page.request.post(
        "/settings/api-keys/",
        form={"name": "sneaky", "scopes": "*", "hourly_limit": "1000"},
        headers={"X-CSRFToken": csrf, "HX-Request": "true"},
    )
    assert forged.status == 403
    assert "Your role (Viewer) cannot do this" in forged.text()
    assert ApiKey.objects.for_company(company).count() == 1

    assert browser_errors == []


def test_owner_sees_why_a_key_was_refused(live_server, page, log_in, company, browser_errors):
    owner = MembershipFactory(company=company, user=UserFactory(username="olivia"), role=Role.OWNER).user
    log_in(owner)
    page.goto("/settings/api-keys/")

    form = page.locator("#api-key-form")
    form.locator('input[name="name"]').fill("Old POS")
    form.locator('input[name="expires_at"]').fill("2020-01-01T10:00")  # passes the browser, not the server
    with page.expect_response(lambda r: r.request.method == "POST" and "/settings/api-keys/" in r.url) as posted:
        form.get_by_role("button", name="Create key").click()
    assert posted.value.status == 400

    # htmx swaps within milliseconds of the response, or never: no need to wait the default 5 s.
    expect(page.locator("#api-key-form .error")).to_have_text("The expiry must be in the future.", timeout=1_000)
    expect(page.locator('#api-key-form input[name="name"]')).to_have_value("Old POS")
    expect(page.locator("#new-api-key")).to_have_count(0)
    assert not ApiKey.objects.for_company(company).exists()
    # Chromium logs every 4xx response to the console; anything else is a problem.
    assert [e for e in browser_errors if "status of 400 (Bad Request)" not in e] == []
