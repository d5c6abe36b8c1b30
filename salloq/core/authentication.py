"""API key authentication (the Salloq Marketing API): `Authorization: Bearer <key>` plus `X-Company-ID`.

The gateway middleware resolves the key once per request (so it can rate-limit
before any view runs); DRF's authentication class only hands that result on.
"""

import contextlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from . import apikeys, cache, ratelimit, redis_access
from .errors import ApiError
from .models import ApiKey

logger = logging.getLogger("salloq.api")

PRINCIPAL_CACHE_SECONDS = 60
LAST_USED_RESOLUTION_SECONDS = 60


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling: the key and its company, as the API views see them."""

    key_id: int
    key_name: str
    key_prefix: str
    company_id: int
    company_name: str
    scopes: tuple[str, ...]
    hourly_limit: int
    expires_at: datetime | None

    is_authenticated = True  # DRF treats request.user as logged in

    def has_scope(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes


def _unauthorized(error: str, message: str) -> ApiError:
    return ApiError(401, error, message)


INVALID_KEY_MESSAGE = "The provided API key is invalid or has been revoked"
# HTTP's optional whitespace around a header value and between scheme and credentials (RFC 9110);
# nothing else is stripped, so a non-breaking space or a control character is refused.
OWS = " \t"
# ASCII digits only (int() also takes "²" and "١"), and no longer than a bigint id: int() of
# 4,300 digits raises rather than answer.
COMPANY_ID_RE = re.compile(r"[0-9]{1,19}")


def principal_cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


# The cached lookups this process decoded last, by their bytes in Redis. Redis is still read on every
# request (a revoked or deleted key's entry is gone at once); only unpickling the same bytes again
# is saved. An ApiPrincipal is immutable, so one instance can serve every request that reads them.
_decoded_principals: dict[bytes, ApiPrincipal] = {}
DECODED_PRINCIPALS_MAX = 1024


def _decode_principal(backend, raw: bytes):
    principal = _decoded_principals.get(raw)
    if principal is None:
        principal = redis_access.loads(backend, raw)
        if isinstance(principal, ApiPrincipal):
            if len(_decoded_principals) >= DECODED_PRINCIPALS_MAX:
                _decoded_principals.clear()
            _decoded_principals[raw] = principal
    return principal


def _principal_from_database(key_hash: str) -> ApiPrincipal | None:
    try:
        api_key = ApiKey.objects.select_related("company").filter(key_hash=key_hash, revoked_at__isnull=True).first()
    except DatabaseError:
        # Without the key's row nobody can be authenticated: a passing condition, not a bug.
        logger.exception("API key lookup failed")
        raise ApiError(
            503,
            "Service unavailable",
            f"The API is briefly unable to check API keys. Retry after {cache.RETRY_SECONDS} seconds.",
        ) from None
    if api_key is None:
        return None
    principal = ApiPrincipal(
        key_id=api_key.pk,
        key_name=api_key.name,
        key_prefix=api_key.prefix,
        company_id=api_key.company_id,
        company_name=api_key.company.name,
        scopes=tuple(api_key.scopes),
        hourly_limit=api_key.hourly_limit,
        expires_at=api_key.expires_at,
    )
    with contextlib.suppress(cache.CacheUnavailable):  # the next request reads the database again
        cache.call("set", principal_cache_key(key_hash), principal, PRINCIPAL_CACHE_SECONDS)
    return principal


# Keys whose cached lookup could not be dropped because the cache was unreachable (this process).
_unforgotten: set[str] = set()
_unforgotten_lock = threading.Lock()


def forget_principal(key_hash: str) -> None:
    """Drop a key's cached lookup (after revocation, deletion or a change of scopes/limit).

    While the cache is unreachable nothing cached is read, so the key is refused at once; the
    entry Redis may still hold is dropped as soon as it answers again (_forget_unforgotten).
    """
    try:
        cache.call("delete", principal_cache_key(key_hash))
    except cache.CacheUnavailable:
        with _unforgotten_lock:
            _unforgotten.add(key_hash)


def _forget_unforgotten() -> None:
    with _unforgotten_lock:
        pending = list(_unforgotten)
        _unforgotten.clear()
    for key_hash in pending:
        forget_principal(key_hash)


cache.on_recovery(_forget_unforgotten)


# key hash -> monotonic time this process last recorded a use; saves a cache round trip per request.
_last_touched: dict[str, float] = {}


def _touch_last_used(key_hash: str, principal: ApiPrincipal) -> None:
    # At most one write a minute per key (per process, then across processes through the cache):
    # the column is for humans, not for accounting.
    now = time.monotonic()
    if now - _last_touched.get(key_hash, -LAST_USED_RESOLUTION_SECONDS) < LAST_USED_RESOLUTION_SECONDS:
        return
    _last_touched[key_hash] = now
    try:
        first = cache.call("add", f"apikey-used:{principal.key_id}", 1, LAST_USED_RESOLUTION_SECONDS)
    except cache.CacheUnavailable:
        first = True  # each process then writes at most once a minute per key
    if first:
        ApiKey.objects.filter(pk=principal.key_id).update(last_used_at=timezone.now())


def authenticate_request(request) -> tuple[ApiPrincipal, ratelimit.RateLimitState]:
    """Resolve the caller of an API request and count the request against its key's hourly limit.

    Raises an ApiError (401) saying what is wrong; the caller then counts the request against
    the client address instead. A 503 ApiError means the key cannot be checked just now.
    """
    header = request.META.get("HTTP_AUTHORIZATION", "").strip(OWS)
    if not header:
        raise _unauthorized("Missing API key", "Send your API key in the header 'Authorization: Bearer <key>'.")
    scheme, _, raw_key = header.replace("\t", " ").partition(" ")
    raw_key = raw_key.strip(OWS)
    if scheme.lower() != "bearer" or not raw_key:
        raise _unauthorized("Invalid API key", "The Authorization header must be 'Bearer <key>'.")
    if not apikeys.is_well_formed(raw_key):
        raise _unauthorized(
            "Invalid API key", "The API key is malformed (wrong length or checksum): check it was copied whole."
        )

    company_header = request.META.get("HTTP_X_COMPANY_ID", "").strip(OWS)
    if not company_header:
        raise _unauthorized("Missing company ID", "Send your company ID in the X-Company-ID header.")
    if not COMPANY_ID_RE.fullmatch(company_header):
        raise _unauthorized("Invalid company ID", "The X-Company-ID header must be a positive integer (digits 0-9).")

    key_hash = apikeys.hash_key(raw_key)
    # One round trip: the cached lookup of the key and the count of this request.
    principal, count, reset = ratelimit.fetch_and_hit(
        principal_cache_key(key_hash),
        f"key:{key_hash[:32]}",
        fetch_ttl=PRINCIPAL_CACHE_SECONDS,
        decode=_decode_principal,
    )
    if principal is None:
        principal = _principal_from_database(key_hash)
    if principal is None:
        raise _unauthorized("Invalid API key", INVALID_KEY_MESSAGE)
    if principal.expires_at is not None and principal.expires_at <= timezone.now():
        raise _unauthorized("Expired API key", f"The provided API key expired at {principal.expires_at.isoformat()}.")
    if int(company_header) != principal.company_id:
        raise _unauthorized("Invalid company ID", "The API key does not belong to the company in X-Company-ID.")
    _touch_last_used(key_hash, principal)
    return principal, ratelimit.RateLimitState(limit=principal.hourly_limit, count=count, reset=reset)


class ApiKeyAuthentication(BaseAuthentication):
    """Hands DRF the principal the gateway middleware resolved."""

    def authenticate(self, request):
        principal = getattr(request, "api_principal", None)  # DRF reads it from the HttpRequest
        if principal is None:
            return None
        return principal, principal

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
