"""One definition of an email address (salloq.core.emails): every API input accepts a value exactly when
the schema's pattern matches it, and stores it trimmed and lower-cased."""

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from contacts.models import Contact, Suppression
from salloq.core import emails
from salloq.core.api.fields import BLANKABLE_EMAIL_SCHEMA, EMAIL_SCHEMA, BlankableEmailField, NormalizedEmailField
from tests.factories import StoreFactory

SCHEMA = Draft4Validator(EMAIL_SCHEMA)
BLANKABLE_SCHEMA = Draft4Validator(BLANKABLE_EMAIL_SCHEMA)

# Each of these, lower-cased or trimmed the way Python does it, looked like an address to a check that
# came after the lower-casing, or Django's validator took it; the schema's pattern never did.
REFUSED = [
    "\u212aelvin@example.com",  # KELVIN SIGN: lower() makes it "k"
    "\u017fam@example.com",  # LONG S: matches "s" under re.IGNORECASE
    "\u0131nfo@example.com",  # DOTLESS I: matches "i" under re.IGNORECASE
    "\u0130nfo@example.com",  # I WITH DOT: lower() gives "i" and a combining dot
    '"john doe"@example.com',  # a quoted local part
    "jürgen@müller.de",  # non-ASCII, an internationalized domain
    "a@müller.de",
    "a@[127.0.0.1]",  # an address literal
    "a@example.c0m",  # a top-level label with a digit
    "a..b@example.com",
    "a@example",
    "@example.com",
    f"{'a' * 243}@example.com",  # 255 characters
    " " * 3,
    "",
]
ACCEPTED = {
    "Jane.Doe+news@Example.COM": "jane.doe+news@example.com",
    "  jane@example.com\t": "jane@example.com",
    "jane@example.com\n": "jane@example.com",
    "\u00a0jane@example.com\u3000": "jane@example.com",
    "o'brien/x{y}|z@example.co.uk": "o'brien/x{y}|z@example.co.uk",
    "ivan@xn--80akhbyknj4f.XN--P1AI": "ivan@xn--80akhbyknj4f.xn--p1ai",  # испытание.рф in ASCII
    f"{'a' * 242}@example.com": f"{'a' * 242}@example.com",  # 254 characters
}


def _accepted(field, value) -> bool:
    try:
        field.run_validation(value)
    except Exception as exc:  # noqa: BLE001 - DRF's ValidationError is the only expected one
        assert exc.__class__.__name__ == "ValidationError", exc
        return False
    return True


@pytest.mark.parametrize("value", REFUSED)
def test_what_the_pattern_refuses_every_entry_point_refuses(value):
    assert not SCHEMA.is_valid(value)
    assert not _accepted(NormalizedEmailField(), value)
    if value.strip():
        with pytest.raises(Exception, match="not a valid email address"):
            emails.normalize_email(value)


@pytest.mark.parametrize(("value", "stored"), ACCEPTED.items())
def test_what_the_pattern_accepts_is_stored_trimmed_and_lower_cased(value, stored):
    assert SCHEMA.is_valid(value)
    assert NormalizedEmailField().run_validation(value) == stored
    assert emails.normalize_email(value) == stored


SPACES = st.sampled_from(["", " ", "\t", "\n", "\u00a0", "\u2028", "\u3000", "\x1c"])
ANY_CHARACTER = st.characters(codec="utf-8", exclude_characters="\x00")
ADDRESSES = st.from_regex(emails.ADDRESS, fullmatch=True)
# Near-addresses: a valid one with a character changed, added or dropped (any character, the Kelvin
# sign and friends included), or plain random text.
MUTATED = st.builds(
    lambda address, index, character, how: (
        address[:index] + character + address[index + 1 :]
        if how == "replace"
        else address[:index] + character + address[index:]
        if how == "insert"
        else address[:index] + address[index + 1 :]
    ),
    ADDRESSES,
    st.integers(0, 40),
    st.one_of(ANY_CHARACTER, st.sampled_from(["\u212a", "\u017f", "\u0131", "\u0130", '"', "[", "@", ".", " "])),
    st.sampled_from(["replace", "insert", "drop"]),
)
CANDIDATES = st.one_of(
    st.builds(lambda before, address, after: before + address + after, SPACES, ADDRESSES, SPACES),
    MUTATED,
    st.text(ANY_CHARACTER, max_size=30),
    st.builds(lambda local: f"{local}@example.com", st.text(ANY_CHARACTER, min_size=1, max_size=10)),
)


@settings(max_examples=500, deadline=None)
@given(CANDIDATES)
def test_the_server_accepts_an_address_exactly_when_the_schema_does(value):
    accepted = _accepted(NormalizedEmailField(), value)
    assert accepted == SCHEMA.is_valid(value), value
    assert _accepted(BlankableEmailField(), value) == BLANKABLE_SCHEMA.is_valid(value), value
    if accepted:
        stored = emails.normalize_email(value)
        assert stored == value.strip().lower() and stored.isascii()
        assert re.fullmatch(emails.ADDRESS, stored)


@pytest.mark.django_db
def test_a_300_character_email_in_an_event_or_an_order_is_a_400_naming_it(api, company):
    long_email = f"{'a' * 288}@example.com"
    response = api.post(
        "/api/events", json.dumps({"event_type": "customer_created", "event_data": {"email": long_email}})
    )
    assert response.status_code == 400, response.content
    assert "event_data.email" in response.json()["details"]
    StoreFactory(company=company, external_id="1")
    response = api.post("/api/orders", {"external_id": "o-1", "store_id": "1", "email": long_email})
    assert response.status_code == 400, response.content
    assert "email" in response.json()["details"]
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_an_address_with_a_slash_is_blacklisted_and_found_through_its_path(api):
    path = "/api/blacklist/" + "a%2Fb%40example.com"
    assert api.put(path, {}).status_code == 201
    assert api.get(path).json()["email"] == "a/b@example.com"
    assert Suppression.objects.filter(email="a/b@example.com").exists()
    assert api.delete(path).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["Jürgen@Müller.de", "\u212aelvin@example.com", "a@[127.0.0.1]"])
def test_key_information_and_the_blacklist_refuse_what_the_pattern_refuses(api, value):
    assert api.get("/api/key-information", {"email": value}).status_code == 400
    assert api.put(f"/api/blacklist/{quote(value, safe='')}", {}).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("ip", [" 192.0.2.1", "192.0.2.1 ", "fe80::1%eth0", "192.0.2.01"])
def test_a_consent_ip_the_schema_formats_refuse_is_a_400(api, ip):
    response = api.post("/api/contacts", {"email": "ip@example.com", "consent": {"ip": ip}})
    assert response.status_code == 400, response.content
    assert "consent.ip" in response.json()["details"]


@pytest.mark.django_db
def test_a_consent_ip_is_stored_compressed(api):
    response = api.post("/api/contacts", {"email": "ip@example.com", "consent": {"ip": "2001:db8:0::1"}})
    assert response.status_code == 201, response.content
