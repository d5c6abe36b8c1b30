"""One client address for everything that records or counts it (salloq.core.client_ip).

Behind the TLS proxy (BEHIND_TLS_PROXY=1) REMOTE_ADDR is the proxy: the consent records, the
gateway's per-address limit and login throttling take the last X-Forwarded-For entry, the one the
proxy appended. Without the proxy the header is the client's own word and changes nothing.
"""

import pytest
from django.test import Client, RequestFactory

from contacts import consent, services
from contacts.models import ConsentAction, ConsentRecord, ListMembership
from salloq.core.client_ip import client_ip
from salloq.core.models import Role
from tests.conftest import csrf_token
from tests.factories import ContactFactory, ContactListFactory, MembershipFactory

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"
CLIENT = "198.51.100.7"
# What the proxy passes on when the client sent a forged header of its own: the proxy appends the
# address it saw, so only the last entry is the client's.
FORGED_THEN_REAL = f"192.0.2.66, {CLIENT}"
SIGNUP = services.ConsentContext(source="signup form", fresh=True)


@pytest.fixture
def behind_proxy(settings):
    # What BEHIND_TLS_PROXY=1 sets (salloq/settings.py).
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def through_proxy(**extra) -> Client:
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=FORGED_THEN_REAL, **extra)


def pending_confirmation_path(company) -> tuple[ListMembership, str]:
    contact = ContactFactory(company=company, email="ann@example.com")
    news = ContactListFactory(company=company, name="News", double_opt_in=True)
    membership, _ = services.list_subscribe(contact=contact, contact_list=news, consent=SIGNUP)
    return membership, consent.confirm_url(membership).removeprefix("http://127.0.0.1:8000")


def confirm(client: Client, path: str) -> None:
    response = client.post(path, {"csrfmiddlewaretoken": csrf_token(client.get(path))})
    assert response.status_code == 200 and b"Subscription confirmed" in response.content


# --- The function ---------------------------------------------------------------------------------


def test_without_the_proxy_the_forwarded_header_is_ignored():
    request = RequestFactory().get("/", REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_FOR="192.0.2.66")
    assert client_ip(request) == CLIENT


def test_behind_the_proxy_the_last_forwarded_entry_is_the_client(behind_proxy):
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{FORGED_THEN_REAL} ")
    assert client_ip(request) == CLIENT
    # A request that reached the server without the proxy adding the header: the peer itself.
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR=PROXY)) == PROXY


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),  # one spelling per address
        ("fe80::1%eth0", "fe80::1"),  # the interface zone is the proxy's, and no address column takes it
        ("not-an-address", None),
        ("203.0.113.5:4711", None),
        ("x" * 5000, None),
    ],
)
def test_an_address_is_normalized_and_anything_else_is_none(behind_proxy, forwarded, expected):
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)) == expected


# --- Consent records ------------------------------------------------------------------------------


def test_behind_the_proxy_a_double_opt_in_confirmation_records_the_clients_address(behind_proxy, company):
    membership, path = pending_confirmation_path(company)
    confirm(through_proxy(enforce_csrf_checks=True), path)
    membership.refresh_from_db()
    assert membership.confirmed_ip == CLIENT
    record = ConsentRecord.objects.get(contact=membership.contact, action=ConsentAction.CONFIRMED)
    assert record.ip_address == CLIENT


def test_without_the_proxy_a_confirmation_records_the_peer_whatever_the_header_says(company):
    membership, path = pending_confirmation_path(company)
    confirm(through_proxy(enforce_csrf_checks=True), path)
    membership.refresh_from_db()
    assert membership.confirmed_ip == PROXY


def test_behind_the_proxy_a_one_click_unsubscribe_records_the_clients_address(behind_proxy, company):
    contact = ContactFactory(company=company, email="bob@example.com")
    news = ContactListFactory(company=company, name="News")
    services.list_subscribe(contact=contact, contact_list=news, consent=SIGNUP)
    path = consent.unsubscribe_url(contact, news).removeprefix("http://127.0.0.1:8000")
    assert through_proxy().post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    record = ConsentRecord.objects.get(contact=contact, action=ConsentAction.UNSUBSCRIBED)
    assert record.ip_address == CLIENT


def test_behind_the_proxy_an_api_write_records_the_callers_address(behind_proxy, company, api_key):
    news = ContactListFactory(company=company, name="News")
    headers = {"Authorization": f"Bearer {api_key[1]}", "X-Company-ID": str(company.pk)}
    response = through_proxy().post(
        "/api/contacts",
        {"email": "cleo@example.com", "lists": [{"id": news.pk}]},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 201, response.content
    records = ConsentRecord.objects.filter(contact_id=response.json()["contact_id"])
    assert {(record.source, record.ip_address) for record in records} == {("api", CLIENT)}
    assert records.filter(action=ConsentAction.SUBSCRIBED, contact_list=news).exists()


def test_behind_the_proxy_a_dashboard_change_records_the_users_address(behind_proxy, company):
    contact = ContactFactory(company=company, email="dan@example.com")
    services.list_subscribe(contact=contact, contact_list=ContactListFactory(company=company), consent=SIGNUP)
    browser = through_proxy()
    browser.force_login(MembershipFactory(company=company, role=Role.MARKETER).user)
    assert browser.post(f"/contacts/{contact.pk}/unsubscribe-all/").status_code in (200, 302)
    record = ConsentRecord.objects.get(contact=contact, action=ConsentAction.UNSUBSCRIBED)
    assert (record.source, record.ip_address) == ("dashboard", CLIENT)


# --- The gateway's per-address limit --------------------------------------------------------------


def anonymous_statuses(client: Client, company, times: int) -> list[int]:
    return [client.get("/api/", headers={"X-Company-ID": str(company.pk)}).status_code for _ in range(times)]


def test_behind_the_proxy_each_client_has_its_own_anonymous_allowance(behind_proxy, company, settings):
    settings.API_ANONYMOUS_HOURLY_LIMIT = 2
    assert anonymous_statuses(through_proxy(), company, 3) == [401, 401, 429]
    # Another client through the same proxy is not held to the first one's count...
    other = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.20")
    assert anonymous_statuses(other, company, 1) == [401]
    # ...and the first cannot escape its own by forging earlier entries.
    forger = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.1, 192.0.2.2, {CLIENT}")
    assert anonymous_statuses(forger, company, 1) == [429]


def test_without_the_proxy_a_forged_header_does_not_escape_the_limit(company, settings):
    settings.API_ANONYMOUS_HOURLY_LIMIT = 2
    statuses = [
        Client(REMOTE_ADDR=CLIENT, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        .get("/api/", headers={"X-Company-ID": str(company.pk)})
        .status_code
        for n in range(3)
    ]
    assert statuses == [401, 401, 429]
