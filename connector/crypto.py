"""The shop's API key at rest: Fernet (AES-128-CBC + HMAC-SHA256) with CONNECTOR_ENCRYPTION_KEY, or
a key derived from SECRET_KEY when that is not set."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    key = settings.CONNECTOR_ENCRYPTION_KEY
    if not key:
        digest = hashlib.sha256(b"salloq.connector.api-key:" + settings.SECRET_KEY.encode()).digest()
        key = base64.urlsafe_b64encode(digest).decode()
    return Fernet(key)


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    """The plain key; ValueError when it was encrypted with another key (the setting changed)."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "The stored shop API key cannot be decrypted (CONNECTOR_ENCRYPTION_KEY or SECRET_KEY changed): "
            "enter it again."
        ) from None
