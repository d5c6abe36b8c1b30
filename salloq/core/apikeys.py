"""API key format: ``sqm_`` + 36 random base62 characters + a 6-character checksum.

The recognisable prefix lets secret scanners spot a leaked key; the CRC32
checksum catches a mistyped or truncated key without a database lookup.
Only the SHA-256 of a key is stored: keys carry 214 bits of entropy, so a
slow password hash would add latency without adding safety.
"""

import hashlib
import re
import secrets
import zlib

KEY_PREFIX = "sqm_"
RANDOM_LENGTH = 36
CHECKSUM_LENGTH = 6
# What lists show to tell keys apart: "sqm_" and the first 8 random characters.
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 8

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KEY_RE = re.compile(rf"{KEY_PREFIX}[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode()), CHECKSUM_LENGTH)


def generate_key() -> str:
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(RANDOM_LENGTH))
    return f"{KEY_PREFIX}{random_part}{_checksum(random_part)}"


def is_well_formed(key: str) -> bool:
    """True when the key has the right shape and its checksum matches."""
    # fullmatch: "$" would let a trailing newline through; ASCII only, as compare_digest needs.
    if not _KEY_RE.fullmatch(key):
        return False
    body = key[len(KEY_PREFIX) :]
    return secrets.compare_digest(_checksum(body[:RANDOM_LENGTH]), body[RANDOM_LENGTH:])


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]
