"""The OpenAPI schema of an event as POST /api/events and /api/events/batch take it, stated as
exactly as events.event_input checks it: one branch per event type of the Salloq Marketing API with its required
data, one for custom types, one for upper-case (SALESmanago API v3) types, and SALESmanago API v3's own body."""

from contacts.contact_input import MAX_LENGTHS
from salloq.core.api.fields import EMAIL_SCHEMA, NO_NUL, NOT_BLANK

from ..event_input import (
    CUSTOM_TYPE_PATTERN,
    EVENT_TYPES,
    EXTERNAL_CREDENTIALS,
    EXTERNAL_TYPE_PATTERN,
    FIELD_KINDS,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_INTEGER_ID,
    MAX_TEXT_LENGTH,
    MONEY_LIMIT,
    OCCURRED_AT_PATTERN,
    identifier_max_length,
)

IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "pattern": f"^[!-~]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}$"}
OCCURRED_AT_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "pattern": f"^{OCCURRED_AT_PATTERN.pattern}$",
    "description": "When it happened (RFC 3339 with its offset, years 1900 to 2199; default: now).",
}
MONEY_SCHEMA = {
    "type": "number",
    "minimum": -float(MONEY_LIMIT),
    "maximum": float(MONEY_LIMIT),
    "exclusiveMinimum": True,
    "exclusiveMaximum": True,
    "description": "A JSON number, read exactly (never as a float); Event.value keeps it to the cent.",
}


def _identifier(name: str) -> dict:
    return {
        "anyOf": [
            {"type": "string", "pattern": NOT_BLANK, "maxLength": identifier_max_length(name)},
            {"type": "integer", "minimum": -MAX_INTEGER_ID, "maximum": MAX_INTEGER_ID},
        ]
    }


def _kind_schema(name: str, *, required: bool) -> dict:
    kind = FIELD_KINDS[name]
    if kind == "email":
        schema = dict(EMAIL_SCHEMA)
    elif kind == "identifier":
        schema = _identifier(name)
    elif kind == "text":
        schema = {
            "type": "string",
            "pattern": NOT_BLANK if required else NO_NUL,
            "maxLength": MAX_LENGTHS.get(name, MAX_TEXT_LENGTH),
        }
    elif kind == "money":
        schema = dict(MONEY_SCHEMA)
    else:
        line = {**MONEY_SCHEMA, "nullable": True}
        schema = {
            "type": "array",
            "items": {"type": "object", "properties": {"price": line, "quantity": line}, "additionalProperties": True},
        }
    if not required:
        schema = {**schema, "nullable": True} if "anyOf" not in schema else {"anyOf": schema["anyOf"], "nullable": True}
    return schema


def _data_schema(required: tuple[str, ...], *, external: bool = False) -> dict:
    properties = {name: _kind_schema(name, required=name in required) for name in FIELD_KINDS}
    schema = {
        "type": "object",
        "properties": properties,
        "additionalProperties": True,
        "required": list(required),
        "description": "The event's data, stored as sent. Known fields are checked wherever they appear.",
    }
    if external:
        properties["parameters"] = {"type": "object", "nullable": True, "additionalProperties": True}
        properties["currency"] = {"type": "string", "pattern": "^[A-Z]{3}$", "nullable": True}
    if "email" not in required:
        # The contact: its email, else its customer_id (external id).
        schema["anyOf"] = [
            {"required": ["email"], "properties": {"email": dict(EMAIL_SCHEMA)}},
            {"required": ["customer_id"], "properties": {"customer_id": _identifier("customer_id")}},
        ]
    if not schema["required"]:
        del schema["required"]
    return schema


def _envelope(event_type: dict, data: dict) -> dict:
    return {
        "type": "object",
        "required": ["event_type", "event_data"],
        "properties": {
            "event_type": event_type,
            "event_data": data,
            "occurred_at": OCCURRED_AT_SCHEMA,
            "idempotency_key": IDEMPOTENCY_KEY_SCHEMA,
        },
        "additionalProperties": False,
    }


def _external_body() -> dict:
    event = {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": {"type": "string", "pattern": f"^{EXTERNAL_TYPE_PATTERN.pattern}$"},
            "details": {"type": "string", "pattern": NO_NUL, "maxLength": MAX_TEXT_LENGTH, "nullable": True},
            "parameters": {"type": "object", "nullable": True, "additionalProperties": True},
            "value": {**MONEY_SCHEMA, "nullable": True},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "nullable": True},
            "eventId": {**_identifier("event_id"), "nullable": True},
        },
        "additionalProperties": True,
    }
    contact = {
        "type": "object",
        "required": ["email"],
        "properties": {"email": dict(EMAIL_SCHEMA), "externalId": {**_identifier("customer_id"), "nullable": True}},
        "additionalProperties": True,
    }
    properties = {
        "contact": contact,
        "event": event,
        "occurred_at": OCCURRED_AT_SCHEMA,
        "idempotency_key": IDEMPOTENCY_KEY_SCHEMA,
        **{
            name: {"description": "Accepted and ignored (SALESmanago API v3 sends credentials in the body)."}
            for name in EXTERNAL_CREDENTIALS
        },
    }
    return {"type": "object", "required": ["contact", "event"], "properties": properties, "additionalProperties": False}


EVENT_SCHEMA = {
    "description": (
        'One event: {"event_type", "event_data"} (the Salloq Marketing API: a documented type with its '
        "required data, a custom lower-case type, or an upper-case external type such as PURCHASE), or "
        "SALESmanago API v3's body "
        '{"contact": {"email"}, "event": {"type", "details", "parameters", "value", "currency"}}.'
    ),
    "anyOf": [
        *(
            _envelope({"type": "string", "enum": [name]}, _data_schema(required))
            for name, required in EVENT_TYPES.items()
        ),
        _envelope(
            {
                "type": "string",
                "pattern": f"^{CUSTOM_TYPE_PATTERN.pattern}$",
                "not": {"enum": list(EVENT_TYPES)},
                "description": "A custom event type, e.g. loyalty_tier_changed.",
            },
            _data_schema(()),
        ),
        _envelope(
            {"type": "string", "pattern": f"^{EXTERNAL_TYPE_PATTERN.pattern}$", "description": "e.g. PURCHASE, CART"},
            _data_schema((), external=True),
        ),
        _external_body(),
    ],
}
