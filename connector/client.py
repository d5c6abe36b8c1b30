"""A client for the Salloq Ecommerce API: `X-API-Key`, the {"success", "data", "meta"} envelope,
page/per_page pagination, its errors as exceptions carrying the shop's message, retries with
exponential backoff and full jitter on 429 (honouring Retry-After), 5xx and network failures, and a
limiter that keeps the client under the shop's hourly request limit.

Money arrives as JSON numbers: they are parsed as Decimal, never float."""

import json
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from email.utils import parsedate_to_datetime

import httpx
from django.conf import settings

PER_PAGE = 100  # the API's maximum
RETRIED_STATUSES = {429, 500, 502, 503, 504}


class ShopApiError(Exception):
    """An answer the shop gave instead of data (or no answer at all)."""

    title = "The shop answered with an error"
    retryable = False

    def __init__(self, message: str, *, status: int | None = None, details=None, path: str = ""):
        self.message, self.status, self.details, self.path = message, status, details, path
        where = f" ({status} on {path})" if status else (f" ({path})" if path else "")
        super().__init__(f"{self.title}: {message}{where}")


class ShopAuthError(ShopApiError):
    title = "The shop refused the API key"


class ShopPermissionError(ShopApiError):
    title = "The API key lacks a permission (scope)"


class ShopNotFound(ShopApiError):
    title = "The shop does not have this"


class ShopInvalidRequest(ShopApiError):
    title = "The shop refused the request as invalid"


class ShopRateLimited(ShopApiError):
    title = "The shop's rate limit was reached"
    retryable = True


class ShopServerError(ShopApiError):
    title = "The shop had an internal error"
    retryable = True


class ShopUnavailable(ShopApiError):
    title = "The shop could not be reached"
    retryable = True


class ShopProtocolError(ShopApiError):
    title = "The shop's answer is not the Salloq Ecommerce API's"


ERRORS_BY_STATUS = {401: ShopAuthError, 403: ShopPermissionError, 404: ShopNotFound, 400: ShopInvalidRequest}
ERRORS_BY_STATUS[422] = ShopInvalidRequest
ERRORS_BY_STATUS[429] = ShopRateLimited


@dataclass
class Page:
    items: list[dict]
    page: int
    total: int
    total_pages: int


@dataclass
class HourlyLimiter:
    """At most `limit` requests in any hour: before each request, wait until the oldest of the last
    `limit` is an hour old. Kept per client, i.e. per sync run (a connection has one at a time)."""

    limit: int
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    sent: deque = field(default_factory=deque)

    def acquire(self, on_wait: Callable[[], None] | None = None) -> None:
        while True:
            now = self.clock()
            while self.sent and self.sent[0] <= now - 3600:
                self.sent.popleft()
            if len(self.sent) < self.limit:
                self.sent.append(now)
                return
            # Waits in slices so the run keeps telling it is alive (its heartbeat).
            self.sleep(min(30.0, self.sent[0] + 3600 - now))
            if on_wait:
                on_wait()


class ShopClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        hourly_limit: int | None = None,
        timeout: float | None = None,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
        on_wait: Callable[[], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        timeout = timeout if timeout is not None else settings.CONNECTOR_TIMEOUT_SECONDS
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"X-API-Key": api_key, "Accept": "application/json", "User-Agent": "Salloq-Marketing-Connector"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )
        self.limiter = HourlyLimiter(hourly_limit or settings.CONNECTOR_HOURLY_LIMIT, clock=clock, sleep=sleep)
        self.max_retries, self.backoff_base, self.backoff_cap = max_retries, backoff_base, backoff_cap
        self.sleep, self.jitter, self.on_wait = sleep, jitter, on_wait
        self.requests_made = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "ShopClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- The API's operations the connector uses -------------------------------------------------

    def products_page(self, page: int, *, per_page: int = PER_PAGE, **filters) -> Page:
        return self._page("products", page, per_page, filters)

    def orders_page(self, page: int, *, date_from: date | None = None, per_page: int = PER_PAGE, **filters) -> Page:
        if date_from is not None:
            filters["date_from"] = date_from.isoformat()
        return self._page("orders", page, per_page, filters)

    def order(self, order_id) -> dict:
        return self.get(f"orders/{order_id}")

    def customer(self, customer_id) -> dict:
        return self.get(f"customers/{customer_id}")

    def customer_loyalty(self, customer_id) -> dict:
        return self.get(f"customers/{customer_id}/loyalty")

    def subscription(self, subscription_id) -> dict:
        return self.get(f"subscriptions/{subscription_id}")

    def pages(self, fetch: Callable[[int], Page], start: int = 1) -> Iterator[Page]:
        """Pages from `start` until the last one the shop announces (no request past it)."""
        number = start
        while True:
            page = fetch(number)
            yield page
            if number >= page.total_pages or not page.items:
                return
            number += 1

    # --- Envelope, errors, retries -----------------------------------------------------------------

    def _page(self, resource: str, page: int, per_page: int, filters: dict) -> Page:
        params = {**{k: _param(v) for k, v in filters.items()}, "page": page, "per_page": per_page}
        body = self.request(resource, params)
        items = body.get("data")
        pagination = (body.get("meta") or {}).get("pagination") or {}
        if not isinstance(items, list):
            raise ShopProtocolError("a list answer without a list in `data`", path=resource)
        try:
            total = int(pagination.get("total", len(items)))
            total_pages = int(pagination.get("total_pages", page))
        except (TypeError, ValueError):
            raise ShopProtocolError("`meta.pagination` holds something that is not a number", path=resource) from None
        return Page(items=items, page=page, total=total, total_pages=total_pages)

    def get(self, path: str, params: dict | None = None) -> dict:
        data = self.request(path, params).get("data")
        if not isinstance(data, dict):
            raise ShopProtocolError("an answer without an object in `data`", path=path)
        return data

    def request(self, path: str, params: dict | None = None) -> dict:
        """GET `path` and return the envelope; retried on 429, 5xx and network failures."""
        attempt = 0
        while True:
            self.limiter.acquire(self.on_wait)
            self.requests_made += 1
            try:
                response = self.http.get(path, params=params)
            except httpx.TransportError as exc:
                error: ShopApiError = ShopUnavailable(f"{type(exc).__name__}: {exc}", path=path)
                retry_after = None
            else:
                if response.status_code == 200:
                    return self._envelope(response, path)
                error = self._error(response, path)
                retry_after = _retry_after(response.headers.get("Retry-After"))
            if not error.retryable or attempt >= self.max_retries:
                raise error
            # Full jitter (a random wait up to the exponential bound) spreads out clients that failed
            # together; a Retry-After the shop sends is the least we wait.
            delay = self.jitter(0, min(self.backoff_cap, self.backoff_base * 2**attempt))
            if retry_after is not None:
                delay = max(delay, retry_after)
            self.sleep(delay)
            attempt += 1

    def _envelope(self, response: httpx.Response, path: str) -> dict:
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise ShopProtocolError("the answer is not JSON", status=response.status_code, path=path) from None
        if not isinstance(body, dict) or body.get("success") is not True:
            raise ShopProtocolError("the answer is not a success envelope", status=response.status_code, path=path)
        return body

    def _error(self, response: httpx.Response, path: str) -> ShopApiError:
        status = response.status_code
        message, details = response.reason_phrase or f"HTTP {status}", None
        try:
            body = json.loads(response.content, parse_float=Decimal)
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                message = str(error.get("message") or message)
                details = error.get("details")
        except ValueError:
            pass
        kind = ERRORS_BY_STATUS.get(status)
        if kind is None:
            kind = ShopServerError if status >= 500 else ShopProtocolError
        return kind(message, status=status, details=details, path=path)


def _param(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
