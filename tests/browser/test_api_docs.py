import pytest

pytestmark = pytest.mark.browser


def test_api_docs_render_from_vendored_assets_under_the_csp(page, live_server, browser_errors):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto("/api/docs/")
    page.get_by_text("Salloq Marketing API").first.wait_for()
    page.locator(".opblock-summary-path", has_text="/api/api-keys/{id}").first.wait_for()
    assert page.get_by_role("button", name="Authorize").is_visible()
    # Everything comes from the app itself: no CDN, no fonts from elsewhere.
    assert all(url.startswith(live_server.url) for url in requests), requests
    assert browser_errors == []
