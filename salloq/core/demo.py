"""The demo company, login and API key that `manage.py up` prints on the embedded default."""

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from . import apikeys, services
from .models import ApiKey, Role

DEMO_COMPANY = "Demo Shop"
DEMO_USERNAME = "admin"


def _credentials_file() -> Path:
    return settings.VAR_DIR / "demo-credentials.json"


def _read_saved() -> dict:
    try:
        return json.loads(_credentials_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _save(credentials: dict) -> None:
    path = _credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(credentials, handle)


def ensure_demo() -> dict:
    """Create (once) the demo company, an owner login and a full-access key; return their credentials.

    The plain password and key are kept in var/demo-credentials.json (mode 600) so
    that every start can print them: the database only holds their hashes.
    """
    saved = _read_saved()
    company, _ = services.company_get_or_create(name=DEMO_COMPANY)

    User = get_user_model()
    user, _ = User.objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "admin@example.com"})
    password = saved.get("password")
    if not password or not user.check_password(password):
        password = secrets.token_urlsafe(12)
        user.set_password(password)
    user.is_staff = user.is_superuser = True
    user.save()
    services.membership_set(user=user, company=company, role=Role.OWNER)

    api_key = saved.get("api_key")
    live = api_key and ApiKey.objects.for_company(company).active().filter(key_hash=apikeys.hash_key(api_key)).exists()
    if not live:
        _, api_key = services.api_key_create(company=company, name="Demo key", scopes=["*"])

    credentials = {"company_id": company.pk, "username": DEMO_USERNAME, "password": password, "api_key": api_key}
    _save(credentials)
    return credentials
