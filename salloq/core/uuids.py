"""A UUID as the API's schema states it (`format: uuid`): the canonical hyphenated form only.

uuid.UUID() also takes "{…}", "urn:uuid:…" and 32 bare hex digits, which the format refuses; reading
ids with `parse_uuid` keeps the server to what the schema says.
"""

import re
import uuid

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UUID_SCHEMA = {"type": "string", "format": "uuid", "pattern": UUID_PATTERN}
_UUID = re.compile(UUID_PATTERN)


def parse_uuid(raw: str) -> uuid.UUID:
    """ValueError for anything but the canonical form."""
    if not isinstance(raw, str) or not _UUID.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a UUID (8-4-4-4-12 hexadecimal digits)")
    return uuid.UUID(raw)
