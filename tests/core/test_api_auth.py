"""Authentication (the Salloq Marketing API): every refusal has the document's error shape and a specific message."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from salloq.core import apikeys, services
from salloq.core.models import ApiKey
from tests.conftest import ApiClient, make_api_client
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, error: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"error", "code", "message"}
    assert body["code"] == status
    assert body["error"] == error
    assert body["message"]
    return body


def test_valid_key_reports_company_scopes_and_limit(api, company, api_key):
    response = api.get("/api/")
    assert response.status_code == 200
    body = response.json()
    assert body["company"] == {"company_id": company.pk, "name": "Acme Shop"}
    assert body["scopes"] == ["*"]
    assert body["hourly_limit"] == 1000
    assert body["api_key"]["prefix"] == api_key[0].prefix


def test_missing_authorization_header_is_401(company):
    response = Client().get("/api/", headers={"X-Company-ID": str(company.pk)})
    body = assert_error(response, 401, "Missing API key")
    assert "Authorization: Bearer" in body["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_non_bearer_scheme_is_401(company, api_key):
    response = Client().get("/api/", headers={"Authorization": f"Token {api_key[1]}", "X-Company-ID": str(company.pk)})
    assert_error(response, 401, "Invalid API key")


def test_mistyped_key_is_caught_by_checksum(company, api_key, django_assert_num_queries):
    plain = api_key[1]
    typo = plain[:10] + ("a" if plain[10] != "a" else "b") + plain[11:]
    assert not apikeys.is_well_formed(typo)
    with django_assert_num_queries(0):
        response = ApiClient(typo, company.pk).get("/api/")
    body = assert_error(response, 401, "Invalid API key")
    assert "checksum" in body["message"]


def test_unknown_well_formed_key_is_401_with_the_documented_message(company):
    response = ApiClient(apikeys.generate_key(), company.pk).get("/api/")
    body = assert_error(response, 401, "Invalid API key")
    assert body["message"] == "The provided API key is invalid or has been revoked"


def test_revoked_key_is_refused_at_once_even_after_a_cached_lookup(api, api_key):
    assert api.get("/api/").status_code == 200  # lookup is now cached
    services.api_key_revoke(api_key=api_key[0])
    assert_error(api.get("/api/"), 401, "Invalid API key")


def test_expired_key_is_401(company):
    api_key, plain = make_api_key(company, expires_at=timezone.now() + timedelta(days=1))
    client = ApiClient(plain, company.pk)
    assert client.get("/api/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        body = assert_error(client.get("/api/"), 401, "Expired API key")
    assert "expired" in body["message"]


def test_missing_company_header_is_401(api_key):
    response = Client().get("/api/", headers={"Authorization": f"Bearer {api_key[1]}"})
    assert_error(response, 401, "Missing company ID")


def test_non_numeric_company_header_is_401(api_key):
    response = ApiClient(api_key[1], "abc").get("/api/")
    assert_error(response, 401, "Invalid company ID")


def test_key_used_with_another_company_id_is_refused(api_key, other_company):
    response = ApiClient(api_key[1], other_company.pk).get("/api/")
    assert_error(response, 401, "Invalid company ID")


def test_session_login_does_not_authenticate_the_api(company, admin_client):
    response = admin_client.get("/api/", headers={"X-Company-ID": str(company.pk)})
    assert_error(response, 401, "Missing API key")


def test_key_without_needed_scope_is_403(company):
    client = make_api_client(company, scopes=["contacts:read"])
    assert client.get("/api/").status_code == 200  # no scope needed to check credentials
    body = assert_error(client.get("/api/api-keys"), 403, "Insufficient scope")
    assert "'*'" in body["message"]


def test_last_used_at_is_recorded(api, api_key):
    assert api_key[0].last_used_at is None
    api.get("/api/")
    assert ApiKey.objects.get(pk=api_key[0].pk).last_used_at is not None


def test_plain_key_is_never_stored(company):
    api_key, plain = make_api_key(company)
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert plain not in {str(value) for value in stored.values()}
    assert stored["key_hash"] == apikeys.hash_key(plain)


def test_plain_key_is_not_logged(api, caplog):
    import logging

    with caplog.at_level(logging.DEBUG):
        api.get("/api/")
        api.get("/api/nowhere")
    assert api.headers["Authorization"].split()[1] not in caplog.text


# Hostile X-Company-ID values: each must be a 401 in the error shape, never a 500 and never
# another company ("١" is an Arabic-Indic one that int() would read as company 1).
HOSTILE_COMPANY_IDS = [
    "²",
    "¹",
    "³",
    "١",
    "１",  # fullwidth digit one
    "9" * 4301,
    "1" * 20,
    "1\x00",
    "\x00",
    "\ud800",
    "1\ud800",
    "\u00a01",  # a non-breaking space is not HTTP's whitespace
    "1\u2003",
    "\x0b1",
    "1\n",
    "1 2",
    "-1",
    "+1",
    "1.0",
    "0x1",
]


@pytest.mark.parametrize("company_id", HOSTILE_COMPANY_IDS, ids=lambda value: repr(value)[:24])
def test_hostile_company_header_is_401(api_key, company_id):
    assert_error(ApiClient(api_key[1], company_id).get("/api/"), 401, "Invalid company ID")


def test_company_header_keeps_http_whitespace_and_leading_zeros(api_key, company):
    assert ApiClient(api_key[1], f" \t{company.pk}\t ").get("/api/").status_code == 200
    assert ApiClient(api_key[1], f"000{company.pk}").get("/api/").status_code == 200


def test_unicode_digits_of_the_right_company_do_not_authenticate(company):
    # The company's id written in Arabic-Indic digits: int() would accept it.
    arabic = "".join(chr(0x0660 + int(d)) for d in str(company.pk))
    _, plain = make_api_key(company)
    assert_error(ApiClient(plain, arabic).get("/api/"), 401, "Invalid company ID")


def hostile_authorizations(plain: str) -> list[str]:
    return [
        "\x00",
        f"Bearer {plain}\x00",
        f"Bearer \x00{plain}",
        f"Bearer {plain}\n",
        f"Bearer\u00a0{plain}",
        f"Bearer {plain[:-1]}\ud800",
        f"Bearer {plain[:-1]}²",
        f"Bearer {plain[:10]}ａ{plain[11:]}",  # fullwidth a
        "Bearer " + "sqm_" + "9" * 10_000,
        "Bearer " + "²" * 5000,
        "\ud800 " + plain,
        "Bearer",
        "Bearer \t ",
    ]


def test_hostile_authorization_headers_are_401(api_key, company):
    for value in hostile_authorizations(api_key[1]):
        response = Client().get("/api/", headers={"Authorization": value, "X-Company-ID": str(company.pk)})
        assert_error(response, 401, "Invalid API key")


def test_authorization_takes_tabs_and_any_case_of_bearer(api_key, company):
    for value in [f"bearer {api_key[1]}", f"BEARER\t{api_key[1]}", f"  Bearer   {api_key[1]} \t"]:
        response = Client().get("/api/", headers={"Authorization": value, "X-Company-ID": str(company.pk)})
        assert response.status_code == 200, value
