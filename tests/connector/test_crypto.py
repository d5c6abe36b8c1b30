"""The shop API key's encryption: a strict setting, a key derived from SECRET_KEY by default, and a
key encrypted under another key read as a clear error, not a crash."""

import pytest
from cryptography.fernet import Fernet

from connector import crypto
from tests.core.test_settings import load_settings


@pytest.mark.parametrize("value", ["not-a-key", "c2hvcnQ=", "x" * 44])
def test_a_bad_encryption_key_stops_start_up_naming_the_variable(tmp_path, value):
    finished = load_settings({"CONNECTOR_ENCRYPTION_KEY": value, "SALLOQ_VAR_DIR": str(tmp_path)})
    assert finished.returncode != 0 and "CONNECTOR_ENCRYPTION_KEY must be a Fernet key" in finished.stderr


def test_a_real_fernet_key_is_accepted(tmp_path):
    finished = load_settings(
        {"CONNECTOR_ENCRYPTION_KEY": Fernet.generate_key().decode(), "SALLOQ_VAR_DIR": str(tmp_path)}
    )
    assert finished.returncode == 0, finished.stderr


def test_round_trip_with_the_derived_and_a_configured_key(settings):
    settings.CONNECTOR_ENCRYPTION_KEY = ""
    token = crypto.encrypt("ak_live_secret")
    assert "ak_live_secret" not in token and crypto.decrypt(token) == "ak_live_secret"
    settings.CONNECTOR_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(ValueError, match="cannot be decrypted"):
        crypto.decrypt(token)
    assert crypto.decrypt(crypto.encrypt("ak_live_other")) == "ak_live_other"


@pytest.mark.django_db
def test_a_key_stored_under_another_encryption_key_fails_the_run_asking_for_it_again(connection, settings):
    from connector import services, sync
    from connector.models import SyncStatus

    settings.CONNECTOR_ENCRYPTION_KEY = Fernet.generate_key().decode()
    run = services.sync_start(connection=connection, enqueue=False)
    run = sync.sync_run(run_id=run.pk)
    assert run.status == SyncStatus.FAILED and "enter it again" in run.failure
