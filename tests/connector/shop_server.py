"""A real HTTP server on loopback speaking the Salloq Ecommerce API (version 1.25 as documented):
`X-API-Key` with scopes (401 without a valid key, 403 without the scope), the {"success", "data",
"meta"} envelope and its error shape, page/per_page pagination (per_page at most 100), the list
filters (date_from, date_to, customer_id, status, is_subscription, category, search, in_stock,
subscription_enabled), 404 for what does not exist, 422 for a bad parameter, and switchable faults:
failing answers (a 429 with Retry-After, a 503) for the next requests matching a path, and a crash
point that drops connections.

Orders in the list carry their items (as GET /orders/{id} does) unless `list_items` is off, and
subscription orders carry the `subscription_id` they were billed for unless `order_subscription_ids`
is off: the documentation shows neither, so the connector copes without them.

Used by the connector's tests (the `shop` fixture) and by bench/shop_sync.py."""

import json
import math
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FULL_KEY = "ak_live_full_access_0123456789abcd"
ALL_SCOPES = {"*"}
CATEGORIES = ["perfume", "floral", "woody", "citrus", "gift", "travel"]
STATUSES = ["pending", "processing", "shipped", "delivered", "cancelled"]
EPOCH = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


def _money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


@dataclass
class Fault:
    status: int
    path: re.Pattern
    times: int
    retry_after: str | None = None
    message: str = "Service temporarily unavailable"


@dataclass
class ShopData:
    products: dict[int, dict] = field(default_factory=dict)
    customers: dict[int, dict] = field(default_factory=dict)
    loyalty: dict[int, dict] = field(default_factory=dict)
    orders: dict[int, dict] = field(default_factory=dict)
    subscriptions: dict[int, dict] = field(default_factory=dict)

    @classmethod
    def generate(cls, *, customers: int, orders: int, products: int, subscriptions: int = 0) -> "ShopData":
        """Deterministic data: customer n has email customer{n}@example.com and a US phone such as
        555-0123; orders go round the customers (so each has one at least when orders >= customers),
        one a day apart going back from 2025-01-01 + orders minutes; every 10th order is a subscription
        order when subscriptions are asked for."""
        data = cls()
        for n in range(1, products + 1):
            pid = 100 + n
            data.products[pid] = {
                "id": pid,
                "name": f"Fragrance {n}",
                "slug": f"fragrance-{n}",
                "price": _money(Decimal(20) + Decimal(n % 50) + Decimal("0.99")),
                "description": f"Fragrance number {n}.",
                "stock_qty": 0 if n % 7 == 0 else n % 40 + 1,
                "subscription_enabled": n % 5 == 0,
                "categories": [CATEGORIES[n % len(CATEGORIES)], CATEGORIES[(n + 2) % len(CATEGORIES)]],
                "images": [
                    {"url": f"https://cdn.example.com/p/{pid}/side.jpg", "is_primary": False},
                    {"url": f"https://cdn.example.com/p/{pid}/front.jpg", "is_primary": True},
                ],
            }
        for n in range(1, customers + 1):
            cid = 2000 + n
            data.customers[cid] = {
                "id": cid,
                "email": f"customer{n}@example.com",
                "first_name": f"First{n}",
                "last_name": f"Last{n}",
                "phone": f"555-{n % 10000:04d}",
                "created_at": _iso(EPOCH - timedelta(days=400) + timedelta(minutes=n)),
            }
            data.loyalty[cid] = {
                "customer_id": cid,
                "current_balance": n * 10,
                "lifetime_points": n * 25,
                "dollar_value": _money(Decimal(n * 10) / 100),
            }
        product_ids = sorted(data.products)
        subscription_products = [pid for pid in product_ids if data.products[pid]["subscription_enabled"]]
        for n in range(1, orders + 1):
            customer_id = 2000 + (n - 1) % customers + 1
            product_id = product_ids[n % len(product_ids)] if product_ids else 101
            subscription_id = None
            if subscriptions and n % 10 == 0 and len(data.subscriptions) < subscriptions and subscription_products:
                subscription_id = 40 + len(data.subscriptions) + 1
                product_id = subscription_products[n % len(subscription_products)]
                data.subscriptions[subscription_id] = {
                    "id": subscription_id,
                    "customer_id": customer_id,
                    "product_id": product_id,
                    "frequency_id": 2,
                    "frequency_name": "Every 30 days",
                    "quantity": 1,
                    "price": _money(data.products[product_id]["price"] * Decimal("0.9")),
                    "status": "active" if subscription_id % 3 else "cancelled",
                    "next_billing_date": "2026-01-08",
                    "created_at": _iso(EPOCH + timedelta(minutes=n)),
                }
            data.add_order(
                order_id=300 + n,
                customer_id=customer_id,
                product_id=product_id,
                qty=1 + n % 3,
                status=STATUSES[n % len(STATUSES)],
                created_at=EPOCH + timedelta(minutes=n),
                subscription_id=subscription_id,
            )
        return data

    def add_order(self, *, order_id, customer_id, product_id, qty, status, created_at, subscription_id=None) -> dict:
        product = self.products.get(product_id, {"name": f"Product {product_id}", "price": Decimal("10.00")})
        subtotal = _money(product["price"] * qty)
        tax = _money(subtotal * Decimal("0.084"))
        shipping = Decimal("8.00")
        order = {
            "id": order_id,
            "customer_id": customer_id,
            "status": status,
            "subtotal": subtotal,
            "tax": tax,
            "shipping": shipping,
            "total": subtotal + tax + shipping,
            "tracking_number": f"1Z999AA1{order_id:09d}" if status in ("shipped", "delivered") else None,
            "items": [
                {
                    "product_id": product_id,
                    "product_name": product["name"],
                    "qty": qty,
                    "price": product["price"],
                    "subtotal": subtotal,
                }
            ],
            "shipping_address": f"{order_id} Main St",
            "shipping_city": "San Francisco",
            "shipping_state": "CA",
            "shipping_zip": "94102",
            "is_subscription": subscription_id is not None,
            "subscription_id": subscription_id,
            "created_at": _iso(created_at),
        }
        self.orders[order_id] = order
        return order


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal):
            return float(o)  # the wire is JSON numbers; the client reads them back as Decimal
        return super().default(o)


def _dumps(body) -> bytes:
    text = json.dumps(body, cls=_Encoder)
    return text.encode()


class ShopServer:
    """The server and its switches. `requests` logs (method, path, query) of every request answered."""

    def __init__(self, data: ShopData, keys: dict[str, set[str]] | None = None):
        self.data = data
        self.keys = keys if keys is not None else {FULL_KEY: ALL_SCOPES}
        self.requests: list[tuple[str, str, dict]] = []
        self.faults: list[Fault] = []
        self.crash_path: re.Pattern | None = None
        self.list_items = True
        self.order_subscription_ids = True
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"shop": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api"

    def start(self) -> "ShopServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, status: int, *, path: str = ".*", times: int = 1, retry_after: str | None = None, message=None):
        """The next `times` requests whose path matches `path` (a regex) are answered `status`."""
        with self.lock:
            self.faults.append(Fault(status, re.compile(path), times, retry_after, message or _reason(status)))

    def crash_on(self, path: str | None) -> None:
        """Requests whose path matches `path` get their connection closed without an answer (None: off)."""
        self.crash_path = re.compile(path) if path else None

    def paths(self, prefix: str = "") -> list[str]:
        return [path for _, path, _ in self.requests if path.startswith(prefix)]

    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def _fault_for(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path.search(path):
                    fault.times -= 1
                    return fault
        return None


def _reason(status: int) -> str:
    return {
        429: "Rate limit exceeded",
        500: "Internal server error",
        503: "Service temporarily unavailable",
    }.get(status, f"HTTP {status}")


class ApiError(Exception):
    def __init__(self, status: int, message: str, details=None):
        self.status, self.message, self.details = status, message, details


SCOPES = [
    (re.compile(r"^/api/products(/|$)"), "products:read"),
    (re.compile(r"^/api/orders(/|$)"), "orders:read"),
    (re.compile(r"^/api/customers(/|$)"), "customers:read"),
    (re.compile(r"^/api/subscriptions(/|$)"), "subscriptions:read"),
    (re.compile(r"^/api/loyalty(/|$)"), "loyalty:read"),
]


class _Handler(BaseHTTPRequestHandler):
    shop: ShopServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the client's delayed ACK holds each
    # answer 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # quiet: the tests read `shop.requests`
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        path, query = parts.path.rstrip("/") or "/", {k: v[-1] for k, v in parse_qs(parts.query).items()}
        shop = self.shop
        if shop.crash_path is not None and shop.crash_path.search(path):
            self.close_connection = True
            self.connection.shutdown(2)  # no answer at all: the client sees the connection drop
            return
        with shop.lock:
            shop.requests.append(("GET", path, query))
        try:
            scopes = shop.keys.get(self.headers.get("X-API-Key", ""))
            if scopes is None:
                raise ApiError(401, "Invalid or missing API key")
            scope = next((needed for pattern, needed in SCOPES if pattern.search(path)), None)
            if scope is None:
                raise ApiError(404, "Endpoint not found")
            if "*" not in scopes and scope not in scopes:
                raise ApiError(403, f"Insufficient permissions: this key lacks the {scope} scope")
            fault = shop._fault_for(path)
            if fault is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                return self._send(fault.status, _error_body(fault.status, fault.message), headers)
            body = self._route(path, query)
        except ApiError as error:
            return self._send(error.status, _error_body(error.status, error.message, error.details))
        self._send(200, body)

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        payload = _dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    # --- Routes -----------------------------------------------------------------------------------

    def _route(self, path: str, query: dict) -> dict:
        data = self.shop.data
        segments = path.split("/")[2:]  # after "", "api"
        match segments:
            case ["products"]:
                return self._list(self._products(query), query)
            case ["products", key]:
                return _ok(self._product(key))
            case ["products", key, "inventory"]:
                product = self._product(key)
                stock = product["stock_qty"]
                return _ok({"product_id": product["id"], "stock_qty": stock, "in_stock": stock > 0})
            case ["orders"]:
                return self._list([self._order_in_list(o) for o in self._orders(query)], query)
            case ["orders", key]:
                return _ok(self._order_detail(_lookup(data.orders, key, "Order")))
            case ["customers", key]:
                return _ok(_lookup(data.customers, key, "Customer"))
            case ["customers", key, "orders"]:
                customer = _lookup(data.customers, key, "Customer")
                orders = self._orders({**query, "customer_id": str(customer["id"])})
                return self._list([self._order_in_list(o) for o in orders], query)
            case ["customers", key, "loyalty"]:
                customer = _lookup(data.customers, key, "Customer")
                return _ok(data.loyalty[customer["id"]])
            case ["subscriptions", key]:
                return _ok(_lookup(data.subscriptions, key, "Subscription"))
            case ["subscriptions", key, "upcoming"]:
                subscription = _lookup(data.subscriptions, key, "Subscription")
                product = data.products.get(subscription["product_id"], {})
                return _ok(
                    {
                        "subscription_id": subscription["id"],
                        "billing_date": subscription["next_billing_date"],
                        "items": [{"product_id": product.get("id"), "qty": subscription["quantity"]}],
                        "total": subscription["price"],
                    }
                )
            case ["loyalty", "settings"]:
                return _ok({"points_per_dollar": 100, "point_value": Decimal("0.01"), "min_redeem_points": 500})
        raise ApiError(404, "Endpoint not found")

    def _product(self, key: str) -> dict:
        products = self.shop.data.products
        if key.isdigit() and int(key) in products:
            return products[int(key)]
        for product in products.values():
            if product["slug"] == key:
                return product
        raise ApiError(404, "Product not found")

    def _products(self, query: dict) -> list[dict]:
        products = sorted(self.shop.data.products.values(), key=lambda p: p["id"])
        if "category" in query:
            products = [p for p in products if query["category"] in p["categories"]]
        if "search" in query:
            needle = query["search"].lower()
            products = [p for p in products if needle in p["name"].lower() or needle in p["description"].lower()]
        if "in_stock" in query:
            wanted = _bool(query, "in_stock")
            products = [p for p in products if (p["stock_qty"] > 0) == wanted]
        if "subscription_enabled" in query:
            wanted = _bool(query, "subscription_enabled")
            products = [p for p in products if p["subscription_enabled"] == wanted]
        return products

    def _orders(self, query: dict) -> list[dict]:
        orders = sorted(self.shop.data.orders.values(), key=lambda o: o["id"])
        if "customer_id" in query:
            customer_id = _int(query, "customer_id")
            orders = [o for o in orders if o["customer_id"] == customer_id]
        if "status" in query:
            if query["status"] not in STATUSES:
                raise ApiError(422, "Validation failed", {"status": [f"Must be one of {', '.join(STATUSES)}"]})
            orders = [o for o in orders if o["status"] == query["status"]]
        # "Orders created after this date": from the start of date_from, up to the end of date_to.
        if "date_from" in query:
            since = _date(query, "date_from")
            orders = [o for o in orders if o["created_at"][:10] >= since.isoformat()]
        if "date_to" in query:
            until = _date(query, "date_to")
            orders = [o for o in orders if o["created_at"][:10] <= until.isoformat()]
        if "is_subscription" in query:
            wanted = _bool(query, "is_subscription")
            orders = [o for o in orders if o["is_subscription"] == wanted]
        return orders

    def _order_detail(self, order: dict) -> dict:
        answer = dict(order)
        if not self.shop.order_subscription_ids:
            answer.pop("subscription_id")
        return answer

    def _order_in_list(self, order: dict) -> dict:
        answer = self._order_detail(order)
        if not self.shop.list_items:
            answer.pop("items")
        return answer

    def _list(self, records: list[dict], query: dict) -> dict:
        page = _int(query, "page", 1)
        per_page = min(_int(query, "per_page", 25), 100)
        total = len(records)
        start = (page - 1) * per_page
        return {
            "success": True,
            "data": records[start : start + per_page],
            "meta": {
                "pagination": {
                    "page": page,
                    "per_page": per_page,
                    "total": total,
                    "total_pages": max(1, math.ceil(total / per_page)),
                }
            },
        }


def _ok(data: dict) -> dict:
    return {"success": True, "data": data}


def _error_body(status: int, message: str, details=None) -> dict:
    return {"success": False, "error": {"message": message, "code": status, "details": details or {}}}


def _lookup(records: dict, key: str, name: str) -> dict:
    if key.isdigit() and int(key) in records:
        return records[int(key)]
    raise ApiError(404, f"{name} not found")


def _int(query: dict, name: str, default: int | None = None) -> int:
    if name not in query:
        return default
    raw = query[name]
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(422, "Validation failed", {name: ["Must be a positive integer"]})
    return int(raw)


def _bool(query: dict, name: str) -> bool:
    raw = query[name].lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(422, "Validation failed", {name: ["Must be true or false"]})
    return raw in ("true", "1")


def _date(query: dict, name: str) -> date:
    try:
        return date.fromisoformat(query[name])
    except ValueError:
        raise ApiError(422, "Validation failed", {name: ["Must be a date (YYYY-MM-DD)"]}) from None
