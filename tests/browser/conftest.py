"""Browser tests: Debian's chromium, driven by Playwright's sync API, against pytest-django's live_server.

- ``browser`` (session): one chromium per test process (per xdist worker).
- ``context`` / ``page`` (function): a fresh profile and tab per test, pointed at live_server
  (relative URLs work: ``page.goto("/settings/api-keys/")``).
- ``browser_errors``: console errors, uncaught page exceptions and Content-Security-Policy
  violations seen during the test; a test ends with ``assert browser_errors == []``.
- ``member(role)``: a new member of ``company`` with that role, for ``log_in``. (tests/conftest.py's
  ``marketer`` and ``viewer`` log in Django's test client, not the browser.)
- On failure the page is saved as ``test-results/<test id>.png`` (gitignored).
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.factories import MembershipFactory

# Playwright's sync API keeps an asyncio event loop running in the test thread, and Django's
# ORM refuses to run next to one (SynchronousOnlyOperation). The tests' ORM calls are plain
# synchronous code, so relax the check. It is read at call time, and is process-wide on purpose:
# the session-scoped browser keeps the loop alive for later tests in the same process too.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("SALLOQ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The factories' password for every user.
PASSWORD = "correct-horse-battery"
RESULTS_DIR = "test-results"

# Same rule as tests/conftest.py: CI sets SALLOQ_REQUIRE_SERVICES=1 so that a missing browser fails.
REQUIRE_SERVICES = os.environ.get("SALLOQ_REQUIRE_SERVICES") == "1"

_REPORTS = pytest.StashKey[dict]()

# Reports CSP violations to Python: Chromium also logs them to the console, but the DOM event is
# the documented signal and names the directive. Init scripts and bindings are not subject to CSP.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  const blocked = event.blockedURI || "inline";
  window.__salloqCspViolation(`${event.violatedDirective} blocked ${blocked} on ${location.pathname}`);
});
"""


def _missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SALLOQ_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so the page fixture knows whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def browser():
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing(f"needs Debian's chromium at {CHROMIUM}: apt-get install chromium (or set SALLOQ_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_errors():
    """What went wrong in the browser during the test, as readable lines (filled by `context` and `page`)."""
    return []


@pytest.fixture
def context(browser, live_server, browser_errors):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    context.expose_function("__salloqCspViolation", lambda detail: browser_errors.append(f"CSP violation: {detail}"))
    context.add_init_script(_CSP_LISTENER)
    yield context
    context.close()


@pytest.fixture
def page(context, request, browser_errors):
    page = context.new_page()
    page.on("console", lambda message: _on_console(message, browser_errors))
    page.on("pageerror", lambda error: browser_errors.append(f"uncaught exception: {error}"))
    yield page
    reports = request.node.stash.get(_REPORTS, {})
    if "call" in reports and reports["call"].failed:
        path = _results_path(request, ".png")
        try:
            page.screenshot(path=path, full_page=True)
        except Exception as exc:  # a crashed page must not hide the test's own failure
            print(f"could not save a screenshot: {exc}")
        else:
            print(f"screenshot of the failed page: {path}")
        if browser_errors:
            print("browser errors:\n  " + "\n  ".join(browser_errors))


def _on_console(message, errors: list[str]):
    if message.type != "error":
        return
    url = (message.location or {}).get("url") or ""
    errors.append(f"console error: {message.text}" + (f" ({url})" if url else ""))


def _results_path(request, suffix: str) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid).strip("_")
    directory = request.config.rootpath / RESULTS_DIR
    directory.mkdir(exist_ok=True)
    return directory / f"{name}{suffix}"


@pytest.fixture
def screenshot(page, request):
    """`screenshot("after-create")` saves test-results/<test id>-after-create.png when SALLOQ_SCREENSHOTS=1.

    For looking at a page by eye, e.g. after a layout change; a no-op otherwise.
    """

    def take(label: str):
        if os.environ.get("SALLOQ_SCREENSHOTS") == "1":
            page.screenshot(path=_results_path(request, f"-{label}.png"), full_page=True)

    return take


@pytest.fixture
def member(company):
    """member(Role.MARKETER): a new member of `company` with the role, not logged in (password PASSWORD)."""

    def member(role: str):
        return MembershipFactory(company=company, role=role).user

    return member


@pytest.fixture
def log_in(page):
    """Log a user in through the login form; the browser ends on the page the login redirects to."""

    def log_in(user, password: str = PASSWORD):
        page.goto("/accounts/login/")
        page.locator("#id_username").fill(user.get_username())
        page.locator("#id_password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)  # stays there when the login is refused
        return page

    return log_in
