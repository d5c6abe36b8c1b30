"""The one validation of a contact write, whatever it comes through: POST /api/contacts, PUT and PATCH
/api/contacts/{id}, every item of POST /api/contacts/bulk, every row of a CSV import and the
dashboard's forms. Each entry point hands its raw input to `clean_contact_input` and applies what it
returns, so a value one of them takes and another refuses (or stores differently) cannot exist.

Every field at fault is reported, each under its own key ("email", "tags", "fields.<name>",
"lists[2]", "consent.ip"), in one ValidationError. An optional value that cannot be normalized
(a phone such as the API document's own "+1-555-0123") never loses the record: it is kept as given,
marked unusable for SMS, and reported in `warnings` (SALESmanago's "gracefully accept, warn").

Public, for the entry points and the other apps:
- the attribute list, written once: ATTRIBUTE_LABELS, IDENTIFIERS, CONTACT_ATTRIBUTES,
  TEXT_ATTRIBUTES, CONTACT_COLUMNS, MAX_LENGTHS and the other MAX_* limits;
- the whole write: `clean_contact_input(raw, CompanyRefs(company_id), partial=...)` -> ContactInput;
- single values: `normalize_phone`, `phone_warning`, `normalize_tags`, `clean_tags`, `clean_consent`,
  `number_message`, `json_problem` (properties and other JSON), and the custom fields' pair:
  `field_refs` (a body's "fields" as (reference, value) pairs) and `coerce_field_value` (a value as
  its field type's column); `normalize_email` is salloq.core.emails' (imported here), and text the
  database cannot store is salloq.core.text's `text_problem`.
Everything named with a leading underscore is this module's own.

Plain Python rather than a DRF serializer: it runs for each of a bulk request's 1000 items, and
DRF's field machinery cost ten times what the checks themselves do (about 90 against 9 µs an
item), which the bulk endpoint's throughput target (bench/README.md) cannot afford.
"""

import json
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_date

from salloq.core.emails import normalize_email  # noqa: F401 (the one definition; importers use it from here)
from salloq.core.ip_addresses import parse_ip
from salloq.core.numbers import NumberError, parse_decimal
from salloq.core.text import text_problem

from .models import Contact, ContactList, ContactStatus, CustomField, FieldType

# The limits every entry point shares; the API schema states the same numbers.
MAX_TAGS = 200
MAX_TAG_LENGTH = 100
MAX_LISTS = 100
MAX_FIELD_VALUES = 200
MAX_LIST_NAME_LENGTH = 200
MAX_FIELD_NAME_LENGTH = 100  # CustomField.name
MAX_ID = 2**63 - 1  # BigAutoField
# Properties: nesting (a 300-deep object is no customer data) and size of the JSON text.
MAX_JSON_DEPTH = 20
MAX_PROPERTIES_CHARACTERS = 64 * 1024
# A phone is taken as sent up to this length (kept as given when it cannot be normalized).
PHONE_MAX_LENGTH = 40
LIST_ACTIONS = ("subscribe", "unsubscribe")
# The attributes an input may set directly on the contact row, written once (in reading order, with
# how the dashboard labels them): the serializers, import targets, admin, exports, segment fields and
# the segment builder all derive their lists from these.
ATTRIBUTE_LABELS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone",
    "lang": "Language",
    "source": "Source",
    "external_id": "External ID",
    "status": "Status",
}
IDENTIFIERS = ("email", "external_id", "phone")
# Identifiers first: the order of the API's contact objects, CSV exports and import targets.
CONTACT_ATTRIBUTES = (*IDENTIFIERS, *(name for name in ATTRIBUTE_LABELS if name not in IDENTIFIERS))
# The free-text attributes (status takes one of ContactStatus), in reading order.
TEXT_ATTRIBUTES = tuple(name for name in ATTRIBUTE_LABELS if name != "status")
# The contact's columns an input sets (phone_valid goes with phone).
CONTACT_COLUMNS = (*CONTACT_ATTRIBUTES, "phone_valid")
MAX_LENGTHS = {
    **{name: Contact._meta.get_field(name).max_length for name in CONTACT_ATTRIBUTES},
    "phone": PHONE_MAX_LENGTH,
}

NOT_NULL = "This field may not be null."
# What clearing an identifier stores.
CLEARED = {"email": {"email": ""}, "external_id": {"external_id": None}, "phone": {"phone": "", "phone_valid": True}}
NEEDS_IDENTIFIER = "A contact needs an email, an external_id or a phone."
NOT_STRING = "Must be a string."
FIELD_VALUE_SCALAR = "A field value is a text, a number, true/false or null."


@dataclass
class ContactInput:
    """A contact write, cleaned. `attributes` holds only what was given (normalized; "phone" comes
    with "phone_valid"); None for tags, properties or fields means "not given"."""

    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] | None = None
    properties: dict | None = None
    field_values: list[tuple[CustomField, dict]] | None = None
    lists: list[tuple[ContactList, str]] = field(default_factory=list)
    consent: dict | None = None
    warnings: list[str] = field(default_factory=list)


class CompanyRefs:
    """A company's custom fields and lists, each read once however many items of a request name them."""

    def __init__(self, company_id: int):
        self.company_id = company_id
        self._fields: dict[str, CustomField] | None = None
        self._lists: dict[str, ContactList] | None = None

    def custom_field(self, ref: dict) -> CustomField | None:
        if self._fields is None:
            self._fields = {}
            for custom_field in CustomField.objects.for_company(self.company_id):
                self._fields[f"id:{custom_field.pk}"] = custom_field
                self._fields[f"name:{custom_field.name}"] = custom_field
        return self._fields.get(f"id:{ref['id']}" if "id" in ref else f"name:{ref.get('name')}")

    def contact_list(self, ref: dict) -> ContactList | None:
        if self._lists is None:
            self._lists = {}
            for contact_list in ContactList.objects.for_company(self.company_id):
                self._lists[f"id:{contact_list.pk}"] = contact_list
                self._lists[f"name:{contact_list.name}"] = contact_list
        return self._lists.get(f"id:{ref['id']}" if "id" in ref else f"name:{ref['name']}")


# --- Single values ------------------------------------------------------------------------------


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 (+33612345678). Accepts the 00 international prefix (Splio) and national numbers
    when a default region is given. ValidationError on "phone" for a number that cannot exist."""
    text = (raw or "").strip()
    if not text:
        return ""
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            {"phone": f"'{raw}' is not a phone number; use the international form, e.g. +33612345678."}
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError({"phone": f"'{raw}' is not a valid phone number."})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_warning(raw: str) -> str:
    return (
        f"phone: '{raw}' is not a valid phone number in international form (e.g. +16502530000); "
        "it is kept as given and not used for SMS."
    )


def number_message(raw, exc: NumberError) -> str:
    """ "'big' is not a number.", "'1e400' must be between …": the value, then what is wrong with it."""
    message = str(exc)
    return f"{message}." if message.startswith("'") else f"'{str(raw)[:40]}' {message}."


def _text(errors: dict, key: str, value, *, max_length: int, blank: bool = True) -> str | None:
    """A string attribute, trimmed; None (with an error recorded) when it is not acceptable."""
    if not isinstance(value, str):
        errors.setdefault(key, []).append(NOT_STRING)
        return None
    problem = text_problem(value)
    if problem:
        errors.setdefault(key, []).append(problem)
        return None
    # The limit counts what was sent, as the schema's maxLength does.
    if len(value) > max_length:
        errors.setdefault(key, []).append(f"Ensure this value has at most {max_length} characters.")
        return None
    value = value.strip()
    if not value and not blank:
        errors.setdefault(key, []).append("This field may not be blank.")
        return None
    return value


def _attribute(errors: dict, warnings: list, name: str, value, *, partial: bool) -> dict | None:
    """The columns `name: value` sets, or None when it is at fault (the error is recorded)."""
    if value is None:
        if partial and name in IDENTIFIERS:  # PATCH: null clears an identifier
            return dict(CLEARED[name])
        errors.setdefault(name, []).append(NOT_NULL)
        return None
    if name == "status":
        if value not in ContactStatus.values:
            errors.setdefault(name, []).append(
                f"Unknown status '{str(value)[:40]}'; use {', '.join(ContactStatus.values)}."
            )
            return None
        return {"status": value}
    # An external_id "" clears it in a PATCH (and in the dashboard's form); elsewhere it must say something.
    text = _text(errors, name, value, max_length=MAX_LENGTHS[name], blank=name != "external_id" or partial)
    if text is None:
        return None
    if name == "email":
        try:
            return {"email": normalize_email(text)}
        except ValidationError as exc:
            errors.setdefault(name, []).extend(exc.message_dict["email"])
            return None
    if name == "external_id":
        return {"external_id": text or None}
    if name == "phone":
        try:
            return {"phone": normalize_phone(text), "phone_valid": True}
        except ValidationError:
            warnings.append(phone_warning(text))
            return {"phone": text, "phone_valid": False}
    return {name: text}


def normalize_tags(tags) -> list[str]:
    """Tags as stored (trimmed, de-duplicated ignoring case); None is no tags."""
    return [] if tags is None else clean_tags(tags)


def clean_tags(raw) -> list[str]:
    """Trimmed, without blanks and repeats, in the order given. ValidationError on "tags"."""
    errors: dict[str, list[str]] = {}
    tags = _tags(errors, raw)
    if errors:
        raise ValidationError(errors)
    return tags


def _tags(errors: dict, raw) -> list[str]:
    if not isinstance(raw, list | tuple) or not all(isinstance(tag, str) for tag in raw):
        errors["tags"] = ["Tags must be a list of strings."]
        return []
    if len(raw) > MAX_TAGS:
        errors["tags"] = [f"At most {MAX_TAGS} tags at once."]
        return []
    cleaned: dict[str, None] = {}
    for tag in raw:
        problem = text_problem(tag)
        if problem:
            errors["tags"] = [problem]
            return []
        if len(tag) > MAX_TAG_LENGTH:
            errors["tags"] = [f"Tag '{tag[:20]}…' is longer than {MAX_TAG_LENGTH} characters."]
            return []
        tag = tag.strip()
        if tag:
            cleaned[tag] = None
    return list(cleaned)


def json_problem(value, label: str, max_characters: int | None = None) -> str | None:
    """What a JSON column cannot store, or what is no sane data: NUL, lone surrogates, numbers out
    of range, nesting deeper than MAX_JSON_DEPTH, more than `max_characters` of JSON text.
    Iterative, so depth costs no recursion."""
    root = value
    stack = [(value, label, 0)]
    # An upper bound of the JSON text's length, so only a value that may be too big is encoded
    # to measure it: escapes write at most 6 characters per character, a number at most 40.
    bound = 0
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            bound += 6 * len(value) + 2
            problem = text_problem(value)
            if problem:
                return f"{path}: {problem}"
        elif isinstance(value, bool) or value is None:
            bound += 5
        elif isinstance(value, int | float):
            bound += 40
            # Free JSON data keeps any finite double (the API's parser already read it as one);
            # an int larger than the largest double is refused like the parser refuses it.
            if isinstance(value, float) and not math.isfinite(value):
                return f"{path}: must be a finite number (not NaN or Infinity)."
            if isinstance(value, int) and value.bit_length() > 1024:
                return f"{path}: is out of range (larger than the largest double, about 1.8e308)."
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return f"{path} is nested more than {MAX_JSON_DEPTH} levels deep."
            bound += 2
            if isinstance(value, dict):
                for key, item in value.items():
                    bound += 6 * len(str(key)) + 4
                    child = f"{path}.{str(key)[:40]}"
                    problem = text_problem(key) if isinstance(key, str) else None
                    if problem:
                        return f"{child}: {problem}"
                    stack.append((item, child, depth + 1))
            else:
                bound += len(value)
                stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
        else:
            return f"{path}: not a JSON value."
    too_big = max_characters is not None and bound > max_characters
    if too_big and len(json.dumps(root, ensure_ascii=False)) > max_characters:
        return f"{label} must be at most {max_characters} characters of JSON."
    return None


def _properties(errors: dict, raw) -> dict | None:
    if not isinstance(raw, dict):
        errors["properties"] = ["Properties must be an object of keys and values."]
        return None
    if not raw:
        return raw
    problem = json_problem(raw, "properties", MAX_PROPERTIES_CHARACTERS)
    if problem:
        errors["properties"] = [problem]
        return None
    return raw


# --- Custom fields ------------------------------------------------------------------------------


def field_refs(errors: dict, values) -> list[tuple[dict, Any]]:
    """Splio's list form [{"id"|"name", "value"}] or a plain {"name": value} object, as (ref, value)."""
    if not isinstance(values, dict | list):
        errors["fields"] = ["Fields must be an object of name to value, or a list of id or name and value."]
        return []
    if len(values) > MAX_FIELD_VALUES:
        errors["fields"] = [f"At most {MAX_FIELD_VALUES} field values at once."]
        return []
    if isinstance(values, dict):
        return [({"name": name}, value) for name, value in values.items()]
    refs = []
    for index, item in enumerate(values):
        ok = isinstance(item, dict) and ("id" in item or "name" in item) and "value" in item
        if ok and "id" in item:
            ok = type(item["id"]) is int and 1 <= item["id"] <= MAX_ID
        if ok and "name" in item:
            ok = isinstance(item["name"], str) and len(item["name"]) <= MAX_FIELD_NAME_LENGTH
        if not ok:
            errors[f"fields[{index}]"] = [
                f"Each field needs an 'id' (a whole number) or a 'name' (at most {MAX_FIELD_NAME_LENGTH} characters), "
                "and a 'value'."
            ]
            continue
        refs.append(({k: item[k] for k in ("id", "name") if k in item}, item["value"]))
    return refs


def coerce_field_value(custom_field: CustomField, raw) -> dict:
    """The typed column values for `raw` under the field's type; a ValidationError names the field."""
    columns = {"text_value": None, "number_value": None, "date_value": None, "bool_value": None}
    if raw is None or raw == "":
        return columns
    label = f"fields.{custom_field.name}"
    if isinstance(raw, dict | list):  # str() of it would be stored as Python's repr
        raise ValidationError({label: FIELD_VALUE_SCALAR})
    if isinstance(raw, str) and (problem := text_problem(raw)):
        raise ValidationError({label: problem})
    kind = custom_field.field_type
    if kind == FieldType.NUMBER:
        try:
            columns["number_value"] = parse_decimal(raw)
        except NumberError as exc:
            raise ValidationError({label: number_message(raw, exc)}) from None
    elif kind == FieldType.DATE:
        text = str(raw).strip()
        try:
            value = raw if isinstance(raw, date) else parse_date(text[:10]) if text else None
        except ValueError:  # well formed but no such day, e.g. 2024-02-30
            value = None
        if value is None:
            raise ValidationError({label: f"'{text[:40]}' is not a date (YYYY-MM-DD)."})
        columns["date_value"] = value
    elif kind == FieldType.BOOLEAN:
        word = str(raw).strip().lower()
        if isinstance(raw, bool):
            columns["bool_value"] = raw
        elif word in {"1", "true", "yes", "y", "on"}:
            columns["bool_value"] = True
        elif word in {"0", "false", "no", "n", "off"}:
            columns["bool_value"] = False
        else:
            raise ValidationError({label: f"'{str(raw)[:40]}' is not yes/no (true/false, 1/0)."})
    elif kind == FieldType.CHOICE:
        if str(raw) not in custom_field.choices:
            raise ValidationError({label: f"'{str(raw)[:40]}' is not one of: {', '.join(custom_field.choices)}."})
        columns["text_value"] = str(raw)
    else:
        columns["text_value"] = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
    return columns


# A custom field or list the company does not have (a typo, or one deleted since the shop was set
# up) does not lose the rest of the write: it is skipped with a warning naming it, the way an
# unusable phone is kept with one.


def _field_values(errors: dict, warnings: list, raw, refs: CompanyRefs) -> list[tuple[CustomField, dict]]:
    values = []
    for ref, value in field_refs(errors, raw):
        custom_field = refs.custom_field(ref)
        if custom_field is None:
            # The value is still judged for its shape: a value no field could hold is a 400 whether
            # or not the field exists, so fixing the field's name never turns a 200 into a 400.
            label = f"fields.{ref.get('name', ref.get('id'))}"
            if isinstance(value, dict | list):
                errors.setdefault(label, []).append(FIELD_VALUE_SCALAR)
                continue
            if isinstance(value, str) and (problem := text_problem(value)):
                errors.setdefault(label, []).append(problem)
                continue
            what = f"id {ref['id']}" if "id" in ref else f"named '{ref['name']}'"
            warnings.append(f"fields: no custom field {what}; its value was not stored (see POST /api/fields).")
            continue
        try:
            values.append((custom_field, coerce_field_value(custom_field, value)))
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
    return values


# --- Lists and consent ----------------------------------------------------------------------------


def _lists(errors: dict, warnings: list, raw, refs: CompanyRefs) -> list[tuple[ContactList, str]]:
    if not isinstance(raw, list):
        errors["lists"] = ['Lists must be a list of {"id" or "name", "action"?}.']
        return []
    if len(raw) > MAX_LISTS:
        errors["lists"] = [f"At most {MAX_LISTS} lists at once."]
        return []
    resolved = []
    for index, ref in enumerate(raw):
        key = f"lists[{index}]"
        if not isinstance(ref, dict):
            errors[key] = ['Each list is an object: {"id" or "name", "action"?}.']
            continue
        wrong = {}
        if "id" in ref and not (type(ref["id"]) is int and 1 <= ref["id"] <= MAX_ID):
            wrong[f"{key}.id"] = ["A list id is a whole number of at least 1."]
        if "name" in ref:
            name = _text(wrong, f"{key}.name", ref["name"], max_length=MAX_LIST_NAME_LENGTH, blank=False)
            ref = {**ref, "name": name}
        if "id" not in ref and "name" not in ref:
            wrong[key] = ["Give the list's id or its name."]
        action = ref.get("action", "subscribe")
        if action not in LIST_ACTIONS:
            wrong[f"{key}.action"] = [f"Use {' or '.join(LIST_ACTIONS)}."]
        if wrong:
            errors.update(wrong)
            continue
        found = refs.contact_list(ref)
        if found is None:
            what = f"id {ref['id']}" if "id" in ref else f"name '{ref['name']}'"
            warnings.append(f"{key}: no list with {what}; skipped (see GET /api/lists).")
            continue
        resolved.append((found, action))
    return resolved


def clean_consent(raw, label: str = "consent") -> dict | None:
    """{"source", "ip", "user_agent"} of fresh consent sent with a write. ValidationError on
    "<label>.<name>" (just "<name>" when the label is "")."""
    errors: dict[str, list[str]] = {}
    consent = _consent(errors, raw, label)
    if errors:
        raise ValidationError(errors)
    return consent


def _consent(errors: dict, raw, label: str = "consent") -> dict | None:
    if not isinstance(raw, dict):
        errors[label or "non_field_errors"] = ["Consent is an object: {source, ip, user_agent}, each optional."]
        return None
    prefix = f"{label}." if label else ""
    consent: dict[str, Any] = {}
    for name, max_length in (("source", 100), ("user_agent", 400)):
        if name in raw:
            value = _text(errors, f"{prefix}{name}", raw[name], max_length=max_length)
            if value:
                consent[name] = value
    ip = raw.get("ip")
    if ip is not None:
        try:
            if not isinstance(ip, str):
                raise ValueError
            consent["ip"] = parse_ip(ip)
        except ValueError:
            errors[f"{prefix}ip"] = ["Enter a valid IPv4 or IPv6 address."]
    return consent


# --- The whole input -------------------------------------------------------------------------------


def clean_contact_input(raw, refs: CompanyRefs, *, partial: bool = False) -> ContactInput:
    """The cleaned write, or a ValidationError naming every field at fault.

    `partial` (PATCH, the dashboard's edit form): nothing is required, and null or "" clears an
    identifier. Otherwise (upsert, PUT, bulk items, import rows) an email, external_id or phone is
    required. Keys the API does not know are ignored."""
    if not isinstance(raw, dict):
        raise ValidationError({"non_field_errors": ["Expected an object of contact attributes."]})
    errors: dict[str, list[str]] = {}
    cleaned = ContactInput()
    for name in CONTACT_ATTRIBUTES:
        if name in raw:
            columns = _attribute(errors, cleaned.warnings, name, raw[name], partial=partial)
            if columns is not None:
                cleaned.attributes.update(columns)
    given = any(cleaned.attributes.get(name) or name in errors for name in IDENTIFIERS)
    if not partial and not given:
        errors["email"] = [NEEDS_IDENTIFIER]
    # Null for any of these means "not given", as leaving the key out does.
    if raw.get("tags") is not None:
        cleaned.tags = _tags(errors, raw["tags"])
    if raw.get("properties") is not None:
        cleaned.properties = _properties(errors, raw["properties"])
    if raw.get("fields") is not None:
        cleaned.field_values = _field_values(errors, cleaned.warnings, raw["fields"], refs)
    if raw.get("lists") is not None:
        cleaned.lists = _lists(errors, cleaned.warnings, raw["lists"], refs)
    if raw.get("consent") is not None:
        cleaned.consent = _consent(errors, raw["consent"])
    if errors:
        raise ValidationError(errors)
    return cleaned
