"""Hostile input never gets a 500 (issue 9).

Every API operation (read from the OpenAPI schema, so a new endpoint is covered when it is added)
and every dashboard page and form (read from the URL resolver and the pages' own HTML) is sent a
fixed corpus of hostile values: NUL, lone surrogates, unicode digits, huge and tiny exponents,
NaN/Infinity, nesting 1,000 deep, a 3 MB body, control characters, 10,000-character strings. Each
answer must be a 4xx (or a 2xx where the value is acceptable) within a second; API answers in the
error shape. Run on PostgreSQL too (CI does): it refuses NUL in text, SQLite does not.

Then the targeted repros: the schema cache, the export header, login throttling, deploy checks.
"""

import csv
import io
import json
import os
import re
import secrets
import string
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files import File
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from campaigns import services as campaign_services
from campaigns.mailcatcher import outbox_message_store
from connector import services as connector_services
from contacts import bulk_actions, consent, imports, services
from contacts.segments.services import segment_create
from events import webhooks
from salloq.core import invitations
from salloq.core.api.schema_views import CachedSchemaView
from tests.conftest import make_api_client
from tests.factories import (
    CollectionItemFactory,
    CompanyFactory,
    MembershipFactory,
    OrderFactory,
    ProductFactory,
    StoreFactory,
    UserFactory,
    make_api_key,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
# Each answer within a second of this process's CPU (the test client runs the view in it). Wall time
# gets a looser bound: the machine running the suite is shared (xdist workers, CI neighbours).
SECOND = 1.0
WALL_SECONDS = 5.0

# --- The corpus ---------------------------------------------------------------------------------

# JSON fragments (text, so NaN, 1e400 and lone surrogates are sent exactly as an attacker would).
JSON_VALUES = {
    "nul": '"a\\u0000b"',
    "nul_alone": '"\\u0000"',
    "surrogate": '"\\ud800"',
    "surrogate_low": '"x\\udfffy"',
    "unicode_digits": '"\u00b2\u00b9\u00b3"',
    "superscript_two": '"\u00b2"',
    "huge_exponent": "1e400",
    "tiny_exponent": "1e-999999999",
    "million_exponent": "1e1000000",
    "huge_exponent_text": '"1e1000000"',
    "tiny_exponent_text": '"1e-999999999"',
    "nan": "NaN",
    "infinity": "-Infinity",
    "nan_text": '"NaN"',
    "long_integer": "9" * 5000,
    "long_integer_text": '"' + "9" * 5000 + '"',
    "control_characters": '"News\\nBcc: attacker@evil.test\\r\\u0007\\u001b[2J"',
    "long_text": '"' + "x" * 10_000 + '"',
    "deep": "[" * 1000 + "]" * 1000,
    "hostile_keys": '{"\\ud800": 1, "a\\u0000": 2, "\u00b2": 3}',
}
# Whole bodies.
RAW_BODIES = {
    "deep_object": '{"a":' * 1000 + "1" + "}" * 1000,
    "deep_array": "[" * 1000 + "]" * 1000,
    "three_megabytes": '{"x": "' + "x" * 3_000_000 + '"}',
    "nan_body": "NaN",
    "surrogate_body": '"\\ud800"',
    "not_json": "{'a': 1",
    "invalid_utf8": b'{"email": "\xff\xfe"}',
}
# URL path and query values, already percent-encoded as they travel.
URL_VALUES = {
    "nul": "a%00b",
    "surrogate_bytes": "%ED%A0%80",
    "invalid_utf8": "%FF%FE",
    "unicode_digits": quote("\u00b2\u00b9\u00b3"),
    "huge_exponent": "1e400",
    "million_exponent": "1e1000000",
    "tiny_exponent": "1e-999999999",
    "nan": "NaN",
    "infinity": "-Infinity",
    "long_integer": "9" * 5000,
    "negative": "-1",
    "control_characters": "%07%1B%0D%0A",
    "long_text": "x" * 10_000,
}
# Form values (the test client encodes them). A lone surrogate cannot be encoded as UTF-8, so
# browsers send its replacement; "\ufffd" stands for it.
FORM_VALUES = {
    "nul": "a\x00b",
    "replacement": "\ufffd",
    "unicode_digits": "\u00b2\u00b9\u00b3",
    "huge_exponent": "1e400",
    "million_exponent": "1e1000000",
    "tiny_exponent": "1e-999999999",
    "nan": "NaN",
    "infinity": "Infinity",
    "long_integer": "9" * 5000,
    "control_characters": "News\nBcc: attacker@evil.test\r\x07",
    "long_text": "x" * 10_000,
}


# --- The world each test drives -----------------------------------------------------------------


class World:
    def __init__(self):
        self.company = CompanyFactory(name="Hostile Co")
        self.owner = UserFactory(username="hostile-owner")
        MembershipFactory(user=self.owner, company=self.company)
        # A second company, so the company switcher is on the pages.
        MembershipFactory(user=self.owner, company=CompanyFactory(name="Hostile Sister Co"))
        self.browser = Client()
        self.browser.force_login(self.owner)
        self.api = make_api_client(self.company, name="Hostile key", hourly_limit=1_000_000)
        self.decoy_key, _ = make_api_key(self.company, name="Decoy")
        # Double opt-in, so its page has the forms only such a list has (resend confirmations).
        self.contact_list = services.contact_list_create(company=self.company, name="Newsletter", double_opt_in=True)
        self.contact = services.contact_upsert(
            company=self.company, data={"email": "ann@example.com", "first_name": "Ann"}
        ).contact
        self.membership, _ = services.list_subscribe(contact=self.contact, contact_list=self.contact_list)
        # Ann confirmed; Bob's confirmation is owed, so the list page offers to resend it.
        consent.confirm_membership(membership_id=self.membership.pk, consent=services.NO_CONSENT)
        bob = services.contact_upsert(company=self.company, data={"email": "bob@example.com"}).contact
        services.list_subscribe(contact=bob, contact_list=self.contact_list)
        self.field = services.custom_field_create(company=self.company, name="Shoe size", field_type="number")
        self.segment = segment_create(
            company=self.company,
            name="Everyone",
            definition={"operator": "and", "rules": [{"field": "email", "comparison": "is_set"}]},
        )
        services.contact_list_create(company=self.company, name="Offers")  # a list to subscribe Ann to
        self.suppressed = "blocked@example.com"
        self.suppression, _ = services.suppression_add(company=self.company, email=self.suppressed)
        # A blacklisted contact: its page has the forms Ann's does not (unblacklist).
        self.blocked = services.contact_upsert(company=self.company, data={"email": self.suppressed}).contact
        self.contact_import = imports.contact_import_create(
            company=self.company,
            uploaded_file=File(io.BytesIO(b"email\nbob@example.com\n"), name="people.csv"),
            mapping={"email": "email"},
            enqueue=False,
        )
        self.bulk_action = bulk_actions.contact_bulk_action_create(
            company=self.company,
            action="tag",
            selection=bulk_actions.Selection(contact_ids=[self.contact.pk], filters={}),
            tags=["vip"],
        )
        self.invitation, _ = invitations.invitation_create(company=self.company, email="new@example.com", role="viewer")
        # Commerce data: a product in a collection, a store, an order with a line (the catalog pages).
        self.product = ProductFactory(catalog__company=self.company, name="Beans")
        self.collection = CollectionItemFactory(
            collection__catalog=self.product.catalog, contact=self.contact, product=self.product
        ).collection
        self.store = StoreFactory(company=self.company)
        self.order = OrderFactory(
            company=self.company, contact=self.contact, store=self.store, lines=[{"product": self.product}]
        )
        # A shop connection, so the Shop connection page shows its Test and Sync forms (a closed port:
        # nothing answers there, and a test of the connection says so at once).
        self.shop = connector_services.connection_save(
            company=self.company,
            base_url="http://127.0.0.1:9/api",
            api_key="ak_live_hostile",
            resources=["products"],
            sync_interval_minutes=60,
        )
        # A template and a draft campaign using it, sent to the newsletter (the campaign pages and
        # /api/campaigns/{id}; the API's send may well start it, after which its edits are refused).
        self.template = campaign_services.template_create(
            company=self.company, data={"name": "Layout", "html": "<div>{{ content }}</div>"}
        )
        self.campaign = campaign_services.campaign_create(
            company=self.company,
            data={
                "name": "Hostile sale",
                "subject": "Hi {{ contact.first_name }}",
                "content": "<p>Sale</p>",
                "template_id": self.template.pk,
                "list_id": self.contact_list.pk,
            },
        )
        # A message the embedded mail catcher kept for the company (the Outbox pages).
        self.outbox_message = outbox_message_store(
            raw=f"Subject: Hi\r\nFeedback-ID: 0:{self.company.pk}:consent:salloq\r\n\r\nHello\r\n".encode(),
            mail_from="news@example.com",
            recipients=["ann@example.com"],
        )


@pytest.fixture
def world(db, settings, tmp_path):
    settings.API_ANONYMOUS_HOURLY_LIMIT = 1_000_000
    settings.MEDIA_ROOT = tmp_path
    world = World()
    # Warm-up: the first request of a process imports and builds what later requests reuse.
    world.api.get("/api/")
    world.browser.get("/")
    return world


def _timed(send, *args, **kwargs):
    """The response and the seconds it took: CPU time, unless the wall time was far over budget.

    An answer over budget is sent once more and the faster of the two counts: on this shared
    machine a garbage collection or a descheduled core can put one lucky-slow request past the
    second, while a request that really pins a worker is slow both times."""
    response, elapsed = _timed_once(send, *args, **kwargs)
    if elapsed >= SECOND:
        response, elapsed = min((response, elapsed), _timed_once(send, *args, **kwargs), key=lambda pair: pair[1])
    return response, elapsed


def _timed_once(send, *args, **kwargs):
    started, started_cpu = time.monotonic(), time.thread_time()
    response = send(*args, **kwargs)
    if response.streaming:  # a CSV download does its work while it streams
        response.streamed = b"".join(response.streaming_content)
    wall, cpu = time.monotonic() - started, time.thread_time() - started_cpu
    return response, wall if wall > WALL_SECONDS else cpu


def assert_api_answer(response, elapsed: float, what: str):
    assert response.status_code < 500, f"{what}: {response.status_code} {response.content[:300]!r}"
    assert elapsed < SECOND, f"{what}: took {elapsed:.2f} s"
    if response.status_code >= 400:
        body = response.json()
        assert {"error", "code", "message"} <= set(body) and body["code"] == response.status_code, what


def assert_page_answer(response, elapsed: float, what: str):
    assert response.status_code < 500, f"{what}: {response.status_code} {response.content[:300]!r}"
    assert elapsed < SECOND, f"{what}: took {elapsed:.2f} s"


# --- API: every operation of the schema ---------------------------------------------------------

SCHEMA = json.loads(json.dumps(SchemaGenerator().get_schema(public=True), default=str))
OPERATIONS = [
    (method.upper(), path)
    for path, operations in SCHEMA["paths"].items()
    for method in operations
    if method in {"get", "post", "put", "patch", "delete"}
]


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for combined in ("allOf", "oneOf", "anyOf"):
        if combined in schema and schema[combined]:
            return _resolve(schema[combined][0])
    return schema


def _baseline(schema: dict, depth: int = 0):
    """A simple value of the schema's type, required properties filled (valid enough to get past
    "required" and reach the field under test)."""
    schema = _resolve(schema)
    kind = schema.get("type")
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        return {
            name: _baseline(schema["properties"][name], depth + 1)
            for name in schema.get("required", [])
            if name in schema.get("properties", {})
        }
    if kind == "array":
        return [_baseline(schema.get("items", {}), depth + 1)] if schema.get("minItems") else []
    if kind == "integer":
        return 1
    if kind == "number":
        return 1
    if kind == "boolean":
        return True
    if schema.get("format") == "email":
        return "hostile@example.com"
    return "x"


def _positions(schema: dict, depth: int = 0):
    """Where a hostile value can go in a body: each property, and one level into objects and arrays
    (("contacts", 0, "email")), as paths of keys and indexes."""
    schema = _resolve(schema)
    if depth > 2:
        return
    for name, sub in schema.get("properties", {}).items():
        yield (name,)
        sub = _resolve(sub)
        if sub.get("type") == "array":
            yield (name, 0)
            for rest in _positions(sub.get("items", {}), depth + 1):
                yield (name, 0, *rest)
        elif sub.get("type") == "object" or "properties" in sub:
            yield (name, "k")
            for rest in _positions(sub, depth + 1):
                yield (name, *rest)


MARK = "__HOSTILE__"


def _child(node, step):
    if isinstance(node, list):
        return node[0] if node else None
    return node.get(step)


def _put(node, step, value) -> None:
    if isinstance(node, list):
        node[:1] = [value]
    else:
        node[step] = value


def _body_with(base, position: tuple, fragment: str) -> str:
    """`base` as JSON text with the value at `position` replaced by the raw JSON `fragment`
    (an int step is the first item of a list, a str step a key of an object)."""
    body = json.loads(json.dumps(base)) if isinstance(base, dict) else {}
    node = body
    for step, following in zip(position, position[1:], strict=False):
        wanted = list if isinstance(following, int) else dict
        if not isinstance(_child(node, step), wanted):
            _put(node, step, wanted())
        node = _child(node, step)
    _put(node, position[-1], MARK)
    return json.dumps(body).replace(json.dumps(MARK), fragment)


def _path_values(world: World, path: str) -> dict[str, str]:
    """Real ids of the test company's objects for the path's parameters."""
    if path.startswith("/api/contacts/"):
        return {"id": str(world.contact.pk)}
    if path.startswith("/api/lists/"):
        return {"id": str(world.contact_list.pk), "contact_id": str(world.contact.pk)}
    if path.startswith("/api/segments/"):
        return {"id": str(world.segment.pk)}
    if path.startswith("/api/api-keys/"):
        return {"id": str(world.decoy_key.pk)}
    if path.startswith("/api/blacklist/"):
        return {"email": world.suppressed}
    if path.startswith("/api/campaigns/"):
        return {"id": str(world.campaign.pk), "campaign_id": str(world.campaign.pk)}
    if path.startswith("/api/templates/"):
        return {"id": str(world.template.pk)}
    return {}


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: values.get(match.group(1), "1"), path)


def _webhook_signature(world: World, body: str | bytes | None) -> dict[str, str]:
    """The webhook is authenticated by the HMAC of its body, not the key: signed, the hostile bodies
    reach its parser (unsigned, each would only be a 401)."""
    raw = body.encode() if isinstance(body, str) else body or b""
    return {"X-Webhook-Signature": webhooks.sign(world.company.webhook_secret, raw, int(time.time()))}


def _request_schema(operation: dict) -> dict | None:
    content = operation.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    return media["schema"] if media else None


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_api_operation_answers_hostile_input_with_a_4xx_in_the_error_shape(world, method, path):
    operation = SCHEMA["paths"][path][method.lower()]
    real = _path_values(world, path)
    url = _fill(path, real)

    def send(target: str, body=None):
        data = body if body is not None else ("{}" if method in {"POST", "PUT", "PATCH"} else None)
        headers = _webhook_signature(world, data) if path.startswith("/api/webhook") else None
        return _timed(
            lambda: world.api.request(method, target, data=data, content_type="application/json", headers=headers)
        )

    # Hostile path parameters, one at a time.
    for name in re.findall(r"\{(\w+)\}", path):
        for label, value in URL_VALUES.items():
            response, elapsed = send(_fill(path, {**real, name: value}))
            assert_api_answer(response, elapsed, f"{method} {path} {name}={label}")

    # Hostile query parameters: those the schema names, and the ones every view might read.
    names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    for name in sorted(names | {"page", "per_page", "version"}):
        for label, value in URL_VALUES.items():
            response, elapsed = send(f"{url}?{name}={value}")
            assert_api_answer(response, elapsed, f"{method} {path} ?{name}={label}")

    schema = _request_schema(operation)
    if method not in {"POST", "PUT", "PATCH"}:
        return
    for label, raw in RAW_BODIES.items():
        response, elapsed = send(url, raw)
        assert_api_answer(response, elapsed, f"{method} {path} body={label}")
        if label == "three_megabytes":
            assert response.status_code == 413, f"{method} {path}: {response.status_code}"
        elif label != "not_json" or response.status_code >= 400:
            assert response.status_code == 400 or label == "not_json", f"{method} {path} {label}"
    if schema is None:
        return
    base = _baseline(schema)
    for position in _positions(schema):
        for label, fragment in JSON_VALUES.items():
            body = _body_with(base, position, fragment)
            response, elapsed = send(url, body)
            assert_api_answer(response, elapsed, f"{method} {path} {'.'.join(map(str, position))}={label}")


def test_every_api_route_is_in_the_schema():
    """The enumeration above reads the schema; a route left out of it would escape the corpus."""
    documented = [re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", p.rstrip("/")) + "/?$") for p in SCHEMA["paths"]]
    probes = {"pk": "1", "id": "1", "contact_id": "1", "email": "a@example.com"}
    missing = []
    for route in _api_routes(get_resolver().url_patterns, ""):
        example = "/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: probes.get(m.group(1), "1"), route)
        example = re.sub(r"[\^$?]|\\\.|/\?", lambda m: "" if m.group(0) != "\\." else ".", example).rstrip("/")
        if not any(pattern.match(example) for pattern in documented):
            missing.append(example)
    assert not missing, f"API routes missing from the schema: {missing}"


def _api_routes(patterns, prefix: str):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_routes(entry.url_patterns, route)
        elif route.startswith(("api/", "^api")) and _is_api_view(entry):
            yield route


def _is_api_view(entry: URLPattern) -> bool:
    name = entry.name or ""
    view = getattr(entry.callback, "cls", None)
    if name in {"api-schema", "api-docs", "api-not-found", "api-root"} or view is None:
        return False
    return not str(entry.pattern).startswith("^(?P<format>")


# --- Dashboard: every page and every form -------------------------------------------------------


class _Forms(HTMLParser):
    """The forms of a page: action, method and fields with their current values; an htmx
    hx-post inside a form is one more action for the same fields."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._current: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {"action": attrs.get("action") or "", "method": (attrs.get("method") or "get").lower()}
            self._current["fields"] = {}
            self._current["also"] = [attrs["hx-post"]] if attrs.get("hx-post") else []
            self.forms.append(self._current)
            return
        if self._current is None:
            return
        if attrs.get("hx-post"):
            self._current["also"].append(attrs["hx-post"])
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in {"submit", "button", "file"}:
            if attrs.get("type") in {"checkbox", "radio"} and "checked" not in attrs:
                self._current["fields"].setdefault(name, None)
            else:
                self._current["fields"][name] = attrs.get("value", "")
        elif tag in {"textarea", "select"} and name:
            self._current["fields"].setdefault(name, "")
            self._select = name if tag == "select" else None
        elif tag == "option" and self._select and ("selected" in attrs or not self._current["fields"][self._select]):
            self._current["fields"][self._select] = attrs.get("value", "")
        elif tag == "button" and name:
            self._current["fields"].setdefault(name, attrs.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
        elif tag == "select":
            self._select = None


def _page_forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def _dashboard_patterns(patterns, prefix: str = ""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith(("api/", "admin/")):
                continue
            yield from _dashboard_patterns(entry.url_patterns, route)
        elif not route.startswith(("^api", "api", "static", "media")):
            yield route


DASHBOARD = sorted(_dashboard_patterns(get_resolver().url_patterns))


def _dashboard_url(world: World, client: Client, route: str, contact=None) -> str:
    values = {
        "contact_id": (contact or world.contact).pk,
        "list_id": world.contact_list.pk,
        "suppression_id": world.suppression.pk,
        "import_id": world.contact_import.pk,
        "segment_id": world.segment.pk,
        "key_id": world.decoy_key.pk,
        "field_id": world.field.pk,
        "bulk_action_id": world.bulk_action.pk,
        "invitation_id": world.invitation.pk,
        "product_id": world.product.pk,
        "collection_id": world.collection.pk,
        "store_id": world.store.pk,
        "order_id": world.order.pk,
        "campaign_id": world.campaign.pk,
        "template_id": world.template.pk,
        "outbox_message_id": world.outbox_message.pk,
    }
    if route.startswith("c/confirm/"):
        values["token"] = consent.confirmation_token(world.membership)
    elif route.startswith("c/unsubscribe/"):
        values["token"] = consent.unsubscribe_token(world.contact, world.contact_list)
    elif route.startswith("c/preferences/"):
        values["token"] = consent.preferences_token(world.contact)
    elif "<str:token>" in route:
        values["token"] = _staged_import(client)
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


def _staged_import(client: Client) -> str:
    upload = io.BytesIO(b"email,first_name,shoe\nzoe@example.com,Zoe,42\n")
    upload.name = "people.csv"
    response = client.post("/contacts/imports/", {"file": upload, "tags": ""})
    assert response.status_code == 302, response.content[:300]
    return response["Location"].rstrip("/").rsplit("/", 1)[1]


def _is_local(action: str) -> bool:
    return not urlsplit(action).netloc


@pytest.mark.parametrize("route", DASHBOARD)
def test_every_dashboard_page_and_form_answers_hostile_input_without_a_500(world, route):
    for contact in [world.contact, world.blocked] if "<int:contact_id>" in route else [None]:
        _drive_page(world, _dashboard_url(world, world.browser, route, contact))


def _drive_page(world: World, url: str):
    client = world.browser
    # Hostile query strings: the usual filter names and every field of the page's GET forms.
    page, elapsed = _timed(lambda: client.get(url))
    assert_page_answer(page, elapsed, f"GET {url}")
    html = page.status_code == 200 and not page.streaming and "html" in page.get("Content-Type", "")
    forms = _page_forms(page.content.decode()) if html else []
    names = {"q", "search", "page", "status", "list_id", "tag", "saved", "sort"}
    for form in forms:
        if form["method"] == "get":
            names |= set(form["fields"])
    for name in sorted(names):
        for label, value in URL_VALUES.items():
            response, elapsed = _timed(client.get, f"{url}?{name}={value}")
            assert_page_answer(response, elapsed, f"GET {url}?{name}={label}")

    # Every POST form on the page (and its htmx actions): each field in turn, the others as shown.
    posts = [form for form in forms if form["method"] == "post"]
    targets = {(urljoin(url, action), frozenset()) for form in posts for action in [form["action"], *form["also"]]}
    seen = set()
    for form in posts:
        for action in [form["action"], *form["also"]]:
            target = urljoin(url, action or url)
            if not _is_local(target) or (target, tuple(form["fields"])) in seen:
                continue
            seen.add((target, tuple(form["fields"])))
            shown = {name: value for name, value in form["fields"].items() if value is not None}
            for name in form["fields"]:
                for label, value in FORM_VALUES.items():
                    data = {**shown, name: value}
                    response, elapsed = _timed(client.post, target, data, HTTP_HX_REQUEST="true")
                    assert_page_answer(response, elapsed, f"POST {target} {name}={label}")
    # A body over the limit, sent to the page itself and to every form's action.
    for target in {url} | {target for target, _ in targets}:
        if not _is_local(target):
            continue
        response, elapsed = _timed(client.post, target, "a=" + "x" * 3_000_000, "application/x-www-form-urlencoded")
        assert response.status_code == 413 or (response.status_code in {403, 405}), f"POST {target}: {response}"
        assert elapsed < SECOND


def test_every_post_only_dashboard_route_is_the_action_of_a_form_the_crawl_reaches(world):
    """Views that only take a POST are reached through the forms of other pages (above); one that no
    page links to would escape the corpus."""
    client = world.browser
    actions = set()
    post_only = []
    for route in DASHBOARD:
        for contact in [world.contact, world.blocked]:
            url = _dashboard_url(world, client, route, contact)
            page = client.get(url)
            if page.status_code == 405:
                post_only.append((route, url))
            elif page.status_code == 200 and "html" in page.get("Content-Type", ""):
                for form in _page_forms(page.content.decode()):
                    actions |= {urlsplit(urljoin(url, a or url)).path for a in [form["action"], *form["also"]]}
    reached = {route for route, url in post_only if url in actions}
    unreached = {route for route, url in post_only if route not in reached and route != "accounts/logout/"}
    assert not unreached, f"POST-only routes no page has a form for: {unreached}"


# --- Targeted repros ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/blacklist/a%00b", "/api/contacts?search=%00", "/api/contacts?tag=a%00", "/api/lists/1%00", "/api.php/x%00"],
)
def test_a_nul_in_an_api_url_is_a_400_in_the_error_shape(api, path):
    response = api.get(path)
    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_a_nul_in_a_dashboard_search_is_a_400(world):
    response = world.browser.get("/contacts/?search=a%00b")
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_oversized_bodies_are_413_on_the_api_and_the_dashboard(world):
    big = "x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    api = world.api.request("POST", "/api/contacts", data=json.dumps({"email": "a@b.c", "p": big}))
    assert api.status_code == 413 and api.json()["code"] == 413
    page = world.browser.post("/contacts/lists/", data="name=" + big, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 413


def test_a_large_csv_upload_is_not_refused_by_the_body_limit(world):
    """Files are streamed to disk: the body limit is for form fields and JSON, not for imports."""
    rows = "".join(f"person{n}@example.com,{'x' * 40}\n" for n in range(60_000))
    upload = io.BytesIO(("email,note\n" + rows).encode())
    upload.name = "big.csv"
    assert upload.getbuffer().nbytes > django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = world.browser.post("/contacts/imports/", {"file": upload, "tags": ""})
    assert response.status_code == 302


def test_a_nul_in_an_import_header_is_a_400_naming_the_file(world):
    upload = io.BytesIO(b"email,na\x00me\nzoe@example.com,Zoe\n")
    upload.name = "nul.csv"
    response = world.browser.post("/contacts/imports/", {"file": upload, "tags": ""})
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_a_nul_in_an_import_mapping_target_is_a_400(world):
    token = _staged_import(world.browser)
    url = f"/contacts/imports/new/{token}/"
    response = world.browser.post(url, {"column-0": "email", "column-1": "property:a\x00b", "column-2": ""})
    assert response.status_code == 400
    assert b"NUL" in response.content
    response = world.browser.post(url, {"column-0": "email", "column-1": "first_name", "column-2": ""})
    assert response.status_code == 302


@pytest.mark.parametrize("value", ["1\x00", "9" * 5000, "99999999999999999999", "\u0661", "-1", "x"])
def test_preferences_refuse_list_ids_that_are_not_the_contacts_lists(world, value):
    url = f"/c/preferences/{consent.preferences_token(world.contact)}/"
    response = Client().post(url, {"lists": [str(world.contact_list.pk), value], "action": "save"})
    assert response.status_code == 400
    assert b"not your lists" in response.content
    world.membership.refresh_from_db()
    assert world.membership.status == "subscribed"


def test_preferences_still_save_the_contacts_own_lists(world):
    url = f"/c/preferences/{consent.preferences_token(world.contact)}/"
    response = Client().post(url, {"action": "save"})
    assert response.status_code == 302
    world.membership.refresh_from_db()
    assert world.membership.status == "unsubscribed"


def test_export_header_escapes_formula_custom_field_names(world):
    services.custom_field_create(company=world.company, name='=HYPERLINK("http://evil.test","x")', field_type="text")
    services.custom_field_create(company=world.company, name="@SUM(A1)", field_type="text")
    response = world.browser.get(f"/contacts/lists/{world.contact_list.pk}/export.csv")
    text = b"".join(response.streaming_content).decode()
    header = next(csv.reader(io.StringIO(text)))
    assert '\'=HYPERLINK("http://evil.test","x")' in header and "'@SUM(A1)" in header
    assert "Shoe size" in header


def test_the_schema_is_built_once_per_process(client, monkeypatch):
    # Built and rendered in both formats by now, whichever test came first.
    client.get("/api/schema/")
    client.get("/api/schema/?format=json")
    builds = []
    original = SchemaGenerator.get_schema
    monkeypatch.setattr(SchemaGenerator, "get_schema", lambda *a, **k: builds.append(1) or original(*a, **k))
    for query in ("", "?version=2", "?lang=de", "?format=json", "?x=%C2%B2"):
        started = time.monotonic()
        response = client.get("/api/schema/" + query)
        assert response.status_code == 200
        assert time.monotonic() - started < 0.2
    assert builds == []
    assert CachedSchemaView.built_schema()["info"]["title"] == "Salloq Marketing API"


def test_the_schema_with_a_nul_version_is_a_400(client):
    response = client.get("/api/schema/?version=%00")
    assert response.status_code == 400
    assert response.json()["code"] == 400


# --- Login throttling ---------------------------------------------------------------------------


def test_login_is_locked_after_repeated_failures_with_a_clear_message(db, settings):
    user = UserFactory(username="marketer-login")
    browser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = browser.post("/accounts/login/", {"username": user.username, "password": "wrong"})
        assert response.status_code == 200
    locked = browser.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    # Even the right password is refused while locked...
    right = browser.post("/accounts/login/", {"username": user.username, "password": "correct-horse-battery"})
    assert right.status_code == 429
    # ...for that username only: another user from the same address still logs in.
    other = UserFactory(username="other-login")
    response = browser.post("/accounts/login/", {"username": other.username, "password": "correct-horse-battery"})
    assert response.status_code == 302


def test_a_successful_login_resets_the_failure_count(db, settings):
    user = UserFactory(username="forgetful")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        Client().post("/accounts/login/", {"username": user.username, "password": "wrong"})
    browser = Client()
    response = browser.post("/accounts/login/", {"username": user.username, "password": "correct-horse-battery"})
    assert response.status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert Client().post("/accounts/login/", {"username": user.username, "password": "wrong"}).status_code == 200


def test_behind_the_proxy_lockouts_follow_the_address_the_proxy_saw(db, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    user = UserFactory(username="proxied")
    # The attacker forges a first X-Forwarded-For entry; the proxy appends the address it saw.
    attacker = Client(HTTP_X_FORWARDED_FOR="192.0.2.5, 198.51.100.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    assert attacker.post("/accounts/login/", {"username": user.username, "password": "wrong"}).status_code == 429
    owner = Client(HTTP_X_FORWARDED_FOR="192.0.2.5")
    response = owner.post("/accounts/login/", {"username": user.username, "password": "correct-horse-battery"})
    assert response.status_code == 302


# --- Deploy settings ----------------------------------------------------------------------------


def _production_env(**extra) -> dict:
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SECURE_"))}
    env.update(
        DEBUG="0",
        SECRET_KEY="".join(secrets.choice(alphabet) for _ in range(50)),
        ALLOWED_HOSTS="x",
        BEHIND_TLS_PROXY="1",
        **extra,
    )
    return env


def test_check_deploy_is_clean_behind_tls(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(SALLOQ_VAR_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_hsts_and_the_ssl_redirect_are_on_in_production_behind_tls(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SECURE_PROXY_SSL_HEADER)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_production_env(SALLOQ_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="salloq.settings"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["True", "31536000", "True"]
