import gc
import logging
from functools import lru_cache

from django.conf import settings
from django.urls import get_resolver, get_urlconf

from . import cache, ratelimit
from .authentication import COMPANY_ID_RE, OWS, authenticate_request
from .client_ip import client_ip
from .errors import ApiError, error_response
from .models import Membership

logger = logging.getLogger("salloq.api")

API_PREFIX = "/api"
# The Salloq Marketing API names https://…/api.php as its base URL, so /api.php/… is served as /api/….
ALIAS_PREFIX = "/api.php"
# Machine-readable schema and its docs pages are public: they describe, they do not expose data.
PUBLIC_API_PATHS = ("/api/schema/", "/api/docs/")
# Webhooks from the shop and till (the Salloq Marketing API) carry no API key: the view checks their HMAC signature
# over the raw body (events/webhooks.py). They are counted per company and client address.
SIGNED_API_PATHS = ("/api/webhook", "/api/webhook/")


def _is_under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


@lru_cache(maxsize=4096)
def _resolve(resolver, path: str):
    """Django's resolve(path), remembered per URL resolver and path: resolution is a function of the
    two, and walking the API's nested URL patterns is a real share of a short request. Keyed by
    the resolver itself, so a changed ROOT_URLCONF (or request.urlconf) resolves afresh; a path
    that matches nothing raises Resolver404 each time (exceptions are not remembered). Only short
    paths are remembered, so the cache's size stays small whatever paths clients send."""
    return resolver.resolve(path)


RESOLVE_CACHE_MAX_PATH = 200


def _resolve_api_path(path: str):
    resolver = get_resolver(get_urlconf())
    return _resolve(resolver, path) if len(path) <= RESOLVE_CACHE_MAX_PATH else resolver.resolve(path)


def _call_api_view(request):
    """What Django's handler does after the middleware chain, for an API request: resolve the
    URL, call the view, render its response.

    The middleware after the gateway serves the dashboard (sessions, CSRF, user login,
    messages, htmx, clickjacking and CSP headers for HTML); the API uses none of it, as it
    authenticates by key alone. Skipping it is about a sixth of the API path's cost
    (bench/README.md), and an API view cannot come to depend on a session by accident. A
    middleware the API needs goes before the gateway in settings.MIDDLEWARE
    (tests/core/test_gateway_middleware_order.py keeps the list after it to the dashboard's).
    """
    match = request.resolver_match = _resolve_api_path(request.path_info)
    response = match.func(request, *match.args, **match.kwargs)
    if callable(getattr(response, "render", None)):
        response = response.render()
    if not response.streaming and "Content-Length" not in response:
        response["Content-Length"] = str(len(response.content))
    return response


class ApiGatewayMiddleware:
    """Front door of /api/: the alias prefix, key authentication and the hourly rate limit,
    then the view itself (the dashboard's middleware is not for the API: _call_api_view).

    Every API response leaves with X-RateLimit-* headers: counted against the key
    when one authenticates, otherwise against the client address.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self._startup_frozen = False

    def __call__(self, request):
        if not self._startup_frozen:
            # After the process's first request has imported what serving needs (URLconf, views,
            # serializers), its objects live as long as the process: moved out of the cyclic
            # collector's generations, they are no longer traversed by every full collection. A
            # 100-product batch spent about a tenth of its CPU in collections walking them
            # (bench/README.md, product_upsert.py). The price: a startup object that later becomes cyclic
            # garbage is never freed.
            self._startup_frozen = True
            response = self.__call__(request)
            gc.freeze()
            return response
        if _is_under(request.path_info, ALIAS_PREFIX):
            rest = request.path_info[len(ALIAS_PREFIX) :]
            request.path_info = API_PREFIX + (rest or "/")
            request.path = request.META.get("SCRIPT_NAME", "").rstrip("/") + request.path_info
        if not _is_under(request.path_info, API_PREFIX) or request.path_info.startswith(PUBLIC_API_PATHS):
            return self.get_response(request)
        try:
            return self._handle_api(request)
        except Exception as exc:
            if isinstance(exc, ApiError) and exc.status_code == 503:
                # The key cannot be checked or the request counted (cache and its fallback, or the
                # database, unavailable): a passing state the client should retry, not a server bug.
                headers = {"Retry-After": str(cache.RETRY_SECONDS)}
                return error_response(503, str(exc.detail), exc.error, headers=headers)
            logger.exception("API gateway failed on %s", request.path)
            return error_response(500, "An unexpected error occurred. It has been logged.")

    def _handle_api(self, request):
        request.api_principal = None
        if request.path_info in SIGNED_API_PATHS:
            return self._handle_signed(request)
        try:
            principal, state = authenticate_request(request)
        except ApiError as exc:
            if exc.status_code == 503:
                raise
            # Behind the TLS proxy, the client's address rather than the proxy's: one bucket per client.
            bucket = f"ip:{client_ip(request) or 'unknown'}"
            state = ratelimit.hit(bucket, settings.API_ANONYMOUS_HOURLY_LIMIT)
            if state.exceeded:
                return self._too_many(state)
            response = error_response(
                exc.status_code, str(exc.detail), exc.error, headers={"WWW-Authenticate": 'Bearer realm="api"'}
            )
            return self._with_headers(response, state)

        if state.exceeded:
            return self._too_many(state)
        request.api_principal = principal
        return self._with_headers(_call_api_view(request), state)

    def _handle_signed(self, request):
        company_id = request.META.get("HTTP_X_COMPANY_ID", "").strip(OWS)
        if not COMPANY_ID_RE.fullmatch(company_id):
            company_id = "none"  # refused by the view; counted by address alone
        state = ratelimit.hit(f"webhook:{company_id}:{client_ip(request) or 'unknown'}", settings.WEBHOOK_HOURLY_LIMIT)
        if state.exceeded:
            return self._too_many(state)
        return self._with_headers(_call_api_view(request), state)

    def process_exception(self, request, exception):
        # DRF views answer their own errors and the gateway catches what its views raise; this
        # catches anything else under /api/ (the schema and docs pages).
        if _is_under(request.path_info, API_PREFIX):
            logger.exception("Unhandled error on %s", request.path, exc_info=exception)
            return error_response(500, "An unexpected error occurred. It has been logged.")
        return None

    @staticmethod
    def _with_headers(response, state: ratelimit.RateLimitState):
        for name, value in state.headers().items():
            response[name] = value
        return response

    def _too_many(self, state: ratelimit.RateLimitState):
        retry_after = state.retry_after()
        response = error_response(
            429,
            f"Rate limit of {state.limit} requests per hour exceeded. Retry after {retry_after} seconds.",
            "Rate limit exceeded",
            headers={"Retry-After": str(retry_after)},
        )
        return self._with_headers(response, state)


class CurrentCompanyMiddleware:
    """Sets request.company and request.membership for dashboard users (the company picked in the session)."""

    SESSION_KEY = "company_id"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.company = None
        request.membership = None
        if _is_under(request.path_info, API_PREFIX):
            return self.get_response(request)  # the API knows no sessions
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            memberships = list(Membership.objects.filter(user=user).select_related("company"))
            request.memberships = memberships
            chosen = request.session.get(self.SESSION_KEY)
            membership = next((m for m in memberships if m.company_id == chosen), None)
            if membership is None and memberships:
                membership = memberships[0]
            if membership is not None:
                request.membership = membership
                request.company = membership.company
        return self.get_response(request)


DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)


class ContentSecurityPolicyMiddleware:
    """A strict CSP on every page; a view may set its own header to relax it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = DEFAULT_CSP
        return response
