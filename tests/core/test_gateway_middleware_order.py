"""The API gateway answers /api/ itself: it calls the view (middleware._call_api_view) instead of
passing the request down the chain, so a middleware placed after it never sees an API request.

Whatever the API needs (the statement timeout, security headers, the hostile-input guard) sits
before the gateway; after it sit only the dashboard's own. A middleware added after the gateway
must be a conscious choice: this test fails until it is added to the list below.
"""

import pytest
from django.conf import settings
from django.test import Client

GATEWAY = "salloq.core.middleware.ApiGatewayMiddleware"

# Reviewed as serving the dashboard only (sessions, CSRF, logins, messages, htmx, HTML headers,
# login throttling); the API authenticates by key alone and sets its own headers.
DASHBOARD_ONLY = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "salloq.core.middleware.CurrentCompanyMiddleware",
    "salloq.core.middleware.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
]


def test_only_the_reviewed_dashboard_middleware_comes_after_the_gateway():
    after = settings.MIDDLEWARE[settings.MIDDLEWARE.index(GATEWAY) + 1 :]
    added = [name for name in after if name not in DASHBOARD_ONLY]
    assert not added, (
        f"{added} comes after the API gateway, which answers /api/ without passing the request on: "
        "it would never run for the API. Put it before the gateway, or, if it is for the dashboard "
        "only, add it to DASHBOARD_ONLY in this test."
    )
    assert after == DASHBOARD_ONLY  # and none of the reviewed ones moved before it unnoticed


seen: list[tuple[str, str]] = []


def recording_middleware(name: str):
    def factory(get_response):
        def middleware(request):
            seen.append((name, request.path))
            return get_response(request)

        return middleware

    return factory


before_gateway = recording_middleware("before")
after_gateway = recording_middleware("after")


@pytest.mark.django_db
def test_a_middleware_after_the_gateway_never_sees_an_api_request(settings, api):
    # Why the list above matters: the same middleware before and after the gateway.
    here = f"{__name__}."
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(middleware.index(GATEWAY), here + "before_gateway")
    settings.MIDDLEWARE = [*middleware, here + "after_gateway"]
    seen.clear()
    assert api.get("/api/").status_code == 200
    assert Client().get("/accounts/login/").status_code == 200
    assert seen == [("before", "/api/"), ("before", "/accounts/login/"), ("after", "/accounts/login/")]
