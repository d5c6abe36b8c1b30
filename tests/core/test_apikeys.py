from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from salloq.core import apikeys, services

pytestmark = pytest.mark.django_db


def test_generated_key_is_recognisable_and_well_formed():
    key = apikeys.generate_key()
    assert key.startswith("sqm_") and len(key) == 46
    assert apikeys.is_well_formed(key)
    assert apikeys.display_prefix(key) == key[:12]


@given(position=st.integers(min_value=4, max_value=45), replacement=st.sampled_from("0123456789abcXYZ"))
def test_any_single_character_typo_is_detected(position, replacement):
    key = apikeys.generate_key()
    typo = key[:position] + replacement + key[position + 1 :]
    if typo != key:
        assert not apikeys.is_well_formed(typo)


def test_truncated_or_padded_keys_are_malformed():
    key = apikeys.generate_key()
    assert not apikeys.is_well_formed(key[:-1])
    assert not apikeys.is_well_formed(key + "A")
    assert not apikeys.is_well_formed("")


def test_create_validates_every_field(company):
    with pytest.raises(ValidationError) as excinfo:
        services.api_key_create(
            company=company,
            name=" ",
            scopes=["contacts:read", "bogus:write"],
            hourly_limit=0,
            expires_at=timezone.now() - timedelta(minutes=1),
        )
    assert set(excinfo.value.message_dict) == {"name", "scopes", "hourly_limit", "expires_at"}
    assert "bogus:write" in excinfo.value.message_dict["scopes"][0]


def test_full_access_absorbs_other_scopes(company):
    api_key, _ = services.api_key_create(company=company, name="k", scopes=["*", "contacts:read"])
    assert api_key.scopes == ["*"]


def test_revoke_is_idempotent(company):
    api_key, _ = services.api_key_create(company=company, name="k", scopes=["*"])
    first = services.api_key_revoke(api_key=api_key).revoked_at
    assert services.api_key_revoke(api_key=api_key).revoked_at == first
    assert api_key.status == "revoked"
