"""Settings come from the environment with strict parsing and clear errors."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from salloq import settings as salloq_settings


def load_settings(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "-c", "import salloq.settings as s; print(s.DATABASES['default']['ENGINE'])"],
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_secret_key(tmp_path):
    done = load_settings({"DEBUG": "0", "SALLOQ_VAR_DIR": str(tmp_path)})
    assert done.returncode != 0
    assert "SECRET_KEY must be set when DEBUG=0" in done.stderr


def test_local_secret_key_is_generated_once_into_var(tmp_path):
    first = load_settings({"SALLOQ_VAR_DIR": str(tmp_path)})
    assert first.returncode == 0, first.stderr
    key = (tmp_path / "secret_key").read_text()
    assert load_settings({"SALLOQ_VAR_DIR": str(tmp_path)}).returncode == 0
    assert (tmp_path / "secret_key").read_text() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_default_database_is_sqlite_in_var(tmp_path):
    done = load_settings({"SALLOQ_VAR_DIR": str(tmp_path)})
    assert done.stdout.strip() == "django.db.backends.sqlite3"


def test_database_url_switches_to_postgresql(tmp_path):
    done = load_settings({"SALLOQ_VAR_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@127.0.0.1:5432/x"})
    assert done.stdout.strip() == "django.db.backends.postgresql"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT='smtp' is not an integer"),
        ({"CACHE_URL": "memcached://x"}, "CACHE_URL must be a redis:// URL"),
    ],
)
def test_bad_environment_values_fail_with_a_clear_message(tmp_path, env, message):
    done = load_settings({"SALLOQ_VAR_DIR": str(tmp_path), "SECRET_KEY": "x", **env})
    assert done.returncode != 0
    assert message in done.stderr


def test_env_helpers_parse_strictly(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert salloq_settings.env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_NUM", "-3")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        salloq_settings.env_int("X_NUM", 5, minimum=1)
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert salloq_settings.env_list("X_LIST", []) == ["a", "b", "c"]
