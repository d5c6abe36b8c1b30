"""The Salloq Marketing API document's own examples, sent as written.

Each code sample and example body of the document (../shared/seeds/000_*.txt) for what exists
today (authentication, rate-limit headers, the error format, contacts, events) is copied here verbatim and
sent byte for byte: the same JSON text, path (including the /api.php/ alias where the document
uses it) and headers. The company is number 1, as in every sample. The only substitutions are the
host (marketing.salloq.com becomes the test server) and the placeholder key YOUR_API_KEY.

The JavaScript, PHP and curl samples run for real, with node, php and curl, against a live server
when those programs are installed; the PHP sample is otherwise read (URL, headers, body) and sent.
Samples for what does not exist yet (campaigns, flows) are strict xfails: they turn into
failures the day their endpoint lands, so their marker is removed and they keep the endpoint honest.
"""

import json
import re
import shutil
import subprocess
import time
from decimal import Decimal

import pytest
from django.test import Client

from contacts.models import Contact
from events.models import Event
from salloq.core.services import api_key_revoke
from tests.factories import CompanyFactory, make_api_key

pytestmark = pytest.mark.django_db

DOCUMENT_HOST = "https://marketing.salloq.com"
COMPANY_ID = 1  # `$companyId = 1;`, `const companyId = 1;`, `-H "X-Company-ID: 1"`

# --- The document's text, verbatim --------------------------------------------------------------

# Authentication: the document's curl line (its line breaks are shell continuations).
CURL_SAMPLE = """curl https://marketing.salloq.com/api.php/campaigns \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "X-Company-ID: 1\""""

RATE_LIMIT_EXAMPLE = "X-RateLimit-Limit: 1000 X-RateLimit-Remaining: 999 X-RateLimit-Reset: 1609459200"

ERROR_EXAMPLE = """{
"error": "Invalid API key",
"code": 401,
"message": "The provided API key is invalid or has been revoked"
}"""

CONTACT_QUERY_PARAMETERS = ["status", "list_id", "search", "page", "per_page"]
CONTACT_STATUSES = ["subscribed", "unsubscribed", "bounced"]

UPSERT_EXAMPLE = """{
"email": "john@example.com",
"first_name": "John",
"last_name": "Doe",
"phone": "+1-555-0123",
"external_id": "CUST-12345",
"source": "ecommerce",
"tags": ["vip", "newsletter"],
"properties": {
"favorite_category": "Electronics",
"last_purchase_date": "2024-01-15"
}
}"""

ORDER_PLACED_EXAMPLE = """{
"event_type": "order_placed",
"event_data": {
"order_id": "ORD-12345",
"customer_id": "CUST-67890",
"email": "customer@example.com",
"first_name": "Jane",
"last_name": "Smith",
"total": 149.99,
"items": [
{
"product_id": "PROD-001",
"name": "Wireless Headphones",
"price": 149.99,
"quantity": 1
}
]
}
}"""

PHP_SAMPLE = """<?php
$apiKey = 'YOUR_API_KEY';
$companyId = 1;
$data = [
'event_type' => 'order_placed',
'event_data' => [
'order_id' => 'ORD-12345',
'email' => 'customer@example.com',
'first_name' => 'John',
'last_name' => 'Doe',
'total' => 99.99,
'items' => [
[
'product_id' => 'PROD-001',
'name' => 'Product Name',
'price' => 99.99,
'quantity' => 1
]
]
]
];
$ch = curl_init('https://marketing.salloq.com/api/events');
curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
curl_setopt($ch, CURLOPT_POST, true);
curl_setopt($ch, CURLOPT_POSTFIELDS, json_encode($data));
curl_setopt($ch, CURLOPT_HTTPHEADER, [
'Content-Type: application/json',
'Authorization: Bearer ' . $apiKey,
'X-Company-ID: ' . $companyId
]);
$response = curl_exec($ch);
curl_close($ch);
echo $response;
?>"""

JS_SAMPLE = """const apiKey = 'YOUR_API_KEY';
const companyId = 1;
const contactData = {
email: 'john@example.com',
first_name: 'John',
last_name: 'Doe',
tags: ['newsletter', 'customer'],
properties: {
signup_source: 'website',
interests: 'electronics'
}
};
fetch('https://marketing.salloq.com/api/contacts', {
method: 'POST',
headers: {
'Content-Type': 'application/json',
'Authorization': `Bearer ${apiKey}`,
'X-Company-ID': companyId
},
body: JSON.stringify(contactData)
})
.then(response => response.json())
.then(data => console.log('Contact created:', data))
.catch(error => console.error('Error:', error));"""

# JSON.stringify(contactData): what the JavaScript sample sends.
JS_SAMPLE_BODY = (
    '{"email":"john@example.com","first_name":"John","last_name":"Doe","tags":["newsletter","customer"],'
    '"properties":{"signup_source":"website","interests":"electronics"}}'
)


# --- Helpers --------------------------------------------------------------------------------------


@pytest.fixture
def company_one(db):
    return CompanyFactory(id=COMPANY_ID, name="Acme Shop")


@pytest.fixture
def key(company_one):
    """A new key of company 1 with the document's default limit (1000 requests an hour)."""
    return make_api_key(company_one, name="Document samples")[1]


def send(method: str, url: str, *, headers: dict[str, str], body: str | None = None):
    """One request through Django's test client, the body as raw text."""
    path = url.removeprefix(DOCUMENT_HOST)
    extra = {"headers": headers}
    if body is not None:
        extra.update(data=body.encode(), content_type=headers.get("Content-Type", "application/json"))
    return getattr(Client(), method.lower())(path, **extra)


def document_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Company-ID": str(COMPANY_ID)}


def assert_error_shape(response, code: int):
    body = response.json()
    assert set(body) <= {"error", "code", "message", "details"}, body
    assert body["code"] == code and isinstance(body["error"], str) and isinstance(body["message"], str), body


# --- Authentication, rate limits, errors ----------------------------------------------------------


def test_the_authentication_sample_headers_work_through_the_api_php_alias(key):
    headers = dict(re.findall(r'-H "([^:]+): ([^"]+)"', CURL_SAMPLE))
    assert headers == {"Authorization": "Bearer YOUR_API_KEY", "X-Company-ID": "1"}
    headers["Authorization"] = headers["Authorization"].replace("YOUR_API_KEY", key)
    # The same headers and alias on a resource that exists today.
    response = send("GET", f"{DOCUMENT_HOST}/api.php/contacts", headers=headers)
    assert response.status_code == 200, response.content
    assert response.json() == {"contacts": [], "pagination": {"page": 1, "per_page": 20, "total": 0, "total_pages": 1}}


def test_the_authentication_sample_lists_campaigns(key):
    url = re.search(r"curl (\S+)", CURL_SAMPLE).group(1)
    response = send("GET", url, headers=document_headers(key))
    assert response.status_code == 200 and "campaigns" in response.json()


def test_rate_limit_headers_are_the_documented_ones_counting_down_from_1000(key):
    documented = dict(re.findall(r"(X-RateLimit-\w+): (\d+)", RATE_LIMIT_EXAMPLE))
    response = send("GET", f"{DOCUMENT_HOST}/api.php/contacts", headers=document_headers(key))
    assert set(documented) <= set(response.headers)
    assert response["X-RateLimit-Limit"] == documented["X-RateLimit-Limit"] == "1000"
    assert response["X-RateLimit-Remaining"] == documented["X-RateLimit-Remaining"] == "999"
    reset = int(response["X-RateLimit-Reset"])  # a Unix time, like 1609459200: the end of this hour
    assert reset % 3600 == 0 and 0 < reset - time.time() <= 3600


def test_past_the_limit_the_answer_is_429_in_the_error_format(company_one):
    _, limited = make_api_key(company_one, hourly_limit=1)
    headers = document_headers(limited)
    assert send("GET", f"{DOCUMENT_HOST}/api/contacts", headers=headers).status_code == 200
    refused = send("GET", f"{DOCUMENT_HOST}/api/contacts", headers=headers)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert_error_shape(refused, 429)


def test_a_revoked_key_gets_the_documented_error_response_word_for_word(company_one):
    api_key, plain = make_api_key(company_one)
    api_key_revoke(api_key=api_key)
    response = send("GET", f"{DOCUMENT_HOST}/api.php/contacts", headers=document_headers(plain))
    assert response.status_code == 401
    assert response.json() == json.loads(ERROR_EXAMPLE)


def test_the_placeholder_key_is_refused_in_the_documented_format(company_one):
    response = send("GET", f"{DOCUMENT_HOST}/api.php/contacts", headers=document_headers("YOUR_API_KEY"))
    assert response.status_code == 401
    assert_error_shape(response, 401)
    assert response.json()["error"] == json.loads(ERROR_EXAMPLE)["error"]


# --- Contacts ---------------------------------------------------------------------------------------


def test_the_contacts_query_parameters_filter_and_paginate(key):
    headers = document_headers(key)
    upsert = send(
        "POST",
        f"{DOCUMENT_HOST}/api/contacts",
        headers={**headers, "Content-Type": "application/json"},
        body='{"email": "jane@example.com", "first_name": "Jane"}',
    )
    assert upsert.status_code == 201, upsert.content
    for status in CONTACT_STATUSES:
        listed = send(
            "GET", f"{DOCUMENT_HOST}/api/contacts?status={status}&search=jane&page=1&per_page=100", headers=headers
        )
        assert listed.status_code == 200, listed.content
        expected = ["jane@example.com"] if status == "subscribed" else []
        assert [row["email"] for row in listed.json()["contacts"]] == expected
    assert set(CONTACT_QUERY_PARAMETERS) == {"status", "list_id", "search", "page", "per_page"}
    no_list = send("GET", f"{DOCUMENT_HOST}/api/contacts?list_id=1", headers=headers)
    assert no_list.status_code == 200 and no_list.json()["contacts"] == []
    too_many = send("GET", f"{DOCUMENT_HOST}/api/contacts?per_page=101", headers=headers)  # "(max: 100)"
    assert too_many.status_code == 400 and "per_page" in too_many.json()["details"]


def test_the_upsert_example_creates_then_updates_the_contact_keeping_the_sample_phone(key):
    headers = {**document_headers(key), "Content-Type": "application/json"}
    created = send("POST", f"{DOCUMENT_HOST}/api/contacts", headers=headers, body=UPSERT_EXAMPLE)
    assert created.status_code == 201, created.content
    contact = created.json()
    assert isinstance(contact["contact_id"], int)
    assert (contact["email"], contact["first_name"], contact["last_name"]) == ("john@example.com", "John", "Doe")
    assert (contact["external_id"], contact["source"]) == ("CUST-12345", "ecommerce")
    assert contact["tags"] == ["vip", "newsletter"]
    assert contact["properties"] == {"favorite_category": "Electronics", "last_purchase_date": "2024-01-15"}
    # +1-555-0123 cannot exist (555-01xx is fictional): kept as given, not used for SMS, and said so.
    assert contact["phone"] == "+1-555-0123"
    assert any(warning.startswith("phone") for warning in contact["warnings"]), contact

    again = send("POST", f"{DOCUMENT_HOST}/api/contacts", headers=headers, body=UPSERT_EXAMPLE)
    assert again.status_code == 200, again.content
    assert again.json()["contact_id"] == contact["contact_id"]
    assert Contact.objects.filter(company_id=COMPANY_ID).count() == 1


def test_the_javascript_samples_request_creates_the_contact(key):
    headers = {**document_headers(key), "Content-Type": "application/json"}
    response = send("POST", f"{DOCUMENT_HOST}/api/contacts", headers=headers, body=JS_SAMPLE_BODY)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tags"] == ["newsletter", "customer"]
    assert body["properties"] == {"signup_source": "website", "interests": "electronics"}


def test_the_order_placed_example_is_tracked(key):
    headers = {**document_headers(key), "Content-Type": "application/json"}
    response = send("POST", f"{DOCUMENT_HOST}/api/events", headers=headers, body=ORDER_PLACED_EXAMPLE)
    assert response.status_code in (200, 201), response.content
    event = Event.objects.get(pk=response.json()["event_id"])
    assert (event.event_type, event.value) == ("order_placed", Decimal("149.99"))
    assert (event.contact.email, event.contact.external_id) == ("customer@example.com", "CUST-67890")


# --- The code samples, run for real -------------------------------------------------------------------


def _runnable(source: str, live_server, key: str) -> str:
    return source.replace(DOCUMENT_HOST, live_server.url).replace("YOUR_API_KEY", key)


@pytest.fixture
def live_key(transactional_db, live_server):
    company = CompanyFactory(id=COMPANY_ID, name="Acme Shop")
    return make_api_key(company, name="Document samples")[1]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_sample_runs_with_node(live_server, live_key):
    result = subprocess.run(
        ["node", "-e", _runnable(JS_SAMPLE, live_server, live_key)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.startswith("Contact created: {"), result.stdout
    contact = Contact.objects.get(company_id=COMPANY_ID, email="john@example.com")
    assert f"contact_id: {contact.pk}" in result.stdout
    assert contact.tags == ["newsletter", "customer"] and contact.properties["interests"] == "electronics"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_sample_runs_and_is_authenticated(live_server, live_key):
    # The document's command with /campaigns (not there yet) swapped for /contacts.
    command = _runnable(CURL_SAMPLE, live_server, live_key).replace("/campaigns", "/contacts")
    result = subprocess.run(
        ["sh", "-c", command + " --silent --write-out '\n%{http_code}'"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    assert status == "200", result.stdout
    assert json.loads(body)["contacts"] == []


class PhpArray:
    """Reads the PHP sample's array literal (strings, numbers, `key => value`) as JSON would carry it."""

    TOKEN = re.compile(r"\s*(?:(\[)|(\])|(=>)|(,)|'([^']*)'|(-?\d+(?:\.\d+)?))")

    def __init__(self, text: str):
        self.tokens = [match.groups() for match in self.TOKEN.finditer(text)]
        self.position = 0

    def _next(self):
        token = self.tokens[self.position]
        self.position += 1
        return token

    def value(self):
        opening, _, _, _, string, number = self._next()
        if string is not None:
            return string
        if number is not None:
            return float(number) if "." in number else int(number)
        assert opening
        items, keyed = [], {}
        while self.tokens[self.position][1] is None:
            item = self.value()
            if self.tokens[self.position][2]:  # =>
                self.position += 1
                keyed[item] = self.value()
            else:
                items.append(item)
            if self.tokens[self.position][3]:  # ,
                self.position += 1
        self.position += 1
        return keyed if keyed else items


def php_sample_request(source: str) -> tuple[str, dict[str, str], str]:
    """The PHP sample's URL, headers and body, as its curl calls send them."""
    variables = dict(re.findall(r"\$(\w+) = '?([^';]*)'?;", source))
    url = re.search(r"curl_init\('([^']+)'\)", source).group(1)
    header_lines = re.findall(r"^'([^']+)'(?: \. \$(\w+))?", source.split("CURLOPT_HTTPHEADER")[1], re.MULTILINE)
    headers = dict((text + variables.get(name, "")).split(": ", 1) for text, name in header_lines)
    data = PhpArray(source.split("$data = ", 1)[1].split(";\n", 1)[0]).value()
    # PHP's json_encode: compact, "/" escaped as "\/"; the sample has no slashes, so json.dumps matches it.
    return url, headers, json.dumps(data, separators=(",", ":"))


def test_the_php_sample_is_read_as_it_would_be_sent():
    url, headers, body = php_sample_request(PHP_SAMPLE)
    assert url == f"{DOCUMENT_HOST}/api/events"
    assert headers == {"Content-Type": "application/json", "Authorization": "Bearer YOUR_API_KEY", "X-Company-ID": "1"}
    assert json.loads(body)["event_data"]["items"] == [
        {"product_id": "PROD-001", "name": "Product Name", "price": 99.99, "quantity": 1}
    ]


def test_the_php_sample_tracks_the_order(key):
    url, headers, body = php_sample_request(PHP_SAMPLE)
    headers["Authorization"] = headers["Authorization"].replace("YOUR_API_KEY", key)
    response = send("POST", url, headers=headers, body=body)
    assert response.status_code in (200, 201), response.content
    event = Event.objects.get(pk=response.json()["event_id"])
    assert (event.value, event.data["items"][0]["name"]) == (Decimal("99.99"), "Product Name")
    assert (event.contact.email, event.contact.first_name) == ("customer@example.com", "John")


@pytest.mark.skipif(shutil.which("php") is None, reason="php is not installed (apt-get install php-cli php-curl)")
def test_the_php_sample_runs_with_php(live_server, live_key, tmp_path):
    script = tmp_path / "sample.php"
    script.write_text(_runnable(PHP_SAMPLE, live_server, live_key))
    result = subprocess.run(["php", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "event_id" in json.loads(result.stdout), result.stdout
