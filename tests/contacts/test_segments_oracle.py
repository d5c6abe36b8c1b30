"""Segments checked against a Python oracle on generated data (hypothesis).

Each example builds a small company (contacts with attributes, properties, tags, custom field values,
key information, list memberships and events, plus decoys: an erased contact, another company, events
without a contact), then draws random rule trees and compares the ids the SQL returns with the ids a
pure-Python evaluation of the same rules selects. The oracle below is written from the rule language's
documentation, not from the compiler. Runs on SQLite and on PostgreSQL.

Generated text is ASCII: case-insensitive matching folds only ASCII letters on SQLite.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import (
    Contact,
    ContactList,
    CustomField,
    CustomFieldValue,
    KeyInformation,
    ListMembership,
)
from contacts.segments import segment_contacts, validate_definition
from contacts.segments.budget import over_budget
from events.models import Event
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
MISSING = object()
NUMERIC_TEXT = re.compile(r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")

WORDS = ["ann", "Ann", "anna", "bob", "BOB", "carla", "x", ""]
SEARCH = ["ann", "AN", "a", "bob", "o", "carla", "zed", "nn"]
TAGS = ["vip", "VIP", "news", "newsletter", "promo"]
EVENT_TYPES = ["order_placed", "product_viewed"]
PRODUCTS = ["P1", "p1", "P2"]
JSON_TEXT = ["paris", "Paris", "lyon", "", "12", "-3.5", "+7", ".5", "5.", "abc", "1e3"]
NUMBERS = [-3, 0, 1, 5, 7, 12, 12.5, 29, 30, 100]
AGES = [0, 0.5, 1, 2, 29.9, 30, 30.1, 31, 100, 400]  # days before NOW
EVENT_AGES = [-1, 0.25, 1, 6.9, 7, 7.1, 29.99, 30, 30.01, 100]  # -1: recorded in the future

# --- The data model of one example ----------------------------------------------------------------


@dataclass
class Person:
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    lang: str = ""
    source: str = ""
    external_id: str | None = None
    status: str = "subscribed"
    created_at: datetime = NOW
    properties: dict = field(default_factory=dict)
    tags: list = field(default_factory=list)
    custom: dict = field(default_factory=dict)  # field name -> value, or None for a row without a value
    key_info: dict = field(default_factory=dict)  # name -> Decimal | str | None
    lists: dict = field(default_factory=dict)  # list index -> membership status
    events: list = field(default_factory=list)  # (type, occurred_at, value | None, data)
    erased: bool = False


CUSTOM = {"Plan": "choice", "Points": "number", "Birthday": "date", "Opt in": "boolean", "Nick": "text"}
CUSTOM_VALUES = {
    "Plan": st.sampled_from(["gold", "Gold", "silver"]),
    "Points": st.sampled_from([Decimal(n) for n in ("-3", "0", "5", "12.5", "100")]),
    "Birthday": st.sampled_from([TODAY - timedelta(days=d) for d in (0, 1, 29, 30, 31, 400)]),
    "Opt in": st.booleans(),
    "Nick": st.sampled_from(WORDS[:-1]),
}
json_scalar = st.one_of(
    st.sampled_from(JSON_TEXT), st.sampled_from(NUMBERS), st.booleans(), st.none(), st.just([]), st.just({"a": 1})
)


@st.composite
def people(draw) -> list[Person]:
    result = []
    for index in range(draw(st.integers(min_value=2, max_value=8))):
        person = Person(
            email=f"c{index}@example.com" if draw(st.booleans()) else f"ann{index}@example.com",
            first_name=draw(st.sampled_from(WORDS)),
            last_name=draw(st.sampled_from(WORDS)),
            phone=draw(st.sampled_from(["", "+33612345678", "+14155550100"])),
            lang=draw(st.sampled_from(["", "fr", "FR", "en"])),
            source=draw(st.sampled_from(["", "shop", "pos"])),
            external_id=draw(st.sampled_from([None, f"A-{index}", f"b-{index}"])),
            status=draw(st.sampled_from(["subscribed", "unsubscribed", "bounced"])),
            created_at=NOW - timedelta(days=draw(st.sampled_from(AGES))),
            properties=draw(
                st.dictionaries(st.sampled_from(["city", "age", "score", "vip"]), json_scalar, max_size=4)
                | st.just({"address": {"zip": "75001"}})
            ),
            tags=draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3)),
            custom={
                name: draw(st.none() | CUSTOM_VALUES[name])
                for name in draw(st.lists(st.sampled_from(list(CUSTOM)), unique=True))
            },
            key_info={
                name: draw(st.none() | st.sampled_from([Decimal(38), Decimal("41.5"), "blue", "Blue", ""]))
                for name in draw(st.lists(st.sampled_from(["size", "color"]), unique=True))
            },
            lists={
                index: draw(st.sampled_from(["pending", "subscribed", "unsubscribed"]))
                for index in draw(st.lists(st.sampled_from([0, 1, 2]), unique=True))  # 2: another company's
            },
            events=[
                (
                    draw(st.sampled_from(EVENT_TYPES)),
                    NOW - timedelta(days=draw(st.sampled_from(EVENT_AGES))),
                    draw(st.none() | st.sampled_from([Decimal(n) for n in ("0", "10", "50.5", "200")])),
                    draw(st.dictionaries(st.sampled_from(["product_id", "qty"]), st.sampled_from([*PRODUCTS, 2, "2"]))),
                )
                for _ in range(draw(st.integers(min_value=0, max_value=4)))
            ],
            erased=draw(st.booleans()) and draw(st.booleans()),
        )
        result.append(person)
    return result


# --- Rules ------------------------------------------------------------------------------------------


def iso_day(days_ago: float) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def iso_instant(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


moments = st.one_of(
    st.sampled_from(AGES + EVENT_AGES).map(iso_instant), st.sampled_from([0, 1, 7, 30, 31, 100]).map(iso_day)
)
days = st.sampled_from([1, 7, 30, 31, 100]) | st.sampled_from([7, 30]).map(lambda n: {"days": n})
numbers = st.sampled_from(NUMBERS)
NO_EXTRAS = st.just({})


def rule(field_, comparison, value=MISSING, **extra):
    node = {"field": field_, "comparison": comparison, **extra}
    if value is not MISSING:
        node["value"] = value
    return st.just(node)


@st.composite
def text_rule(draw, field_, search=SEARCH):
    comparison = draw(
        st.sampled_from(["equals", "not_equals", "contains", "starts_with", "in", "is_set", "is_not_set"])
    )
    if comparison in ("is_set", "is_not_set"):
        return draw(rule(field_, comparison))
    if comparison == "in":
        return draw(rule(field_, comparison, draw(st.lists(st.sampled_from(search), min_size=1, max_size=3))))
    return draw(rule(field_, comparison, draw(st.sampled_from(search))))


@st.composite
def number_rule(draw, field_, values=numbers, extra=NO_EXTRAS, setness=True, in_=True):
    options = ["equals", "not_equals", "greater_than", "less_than", "between"]
    options += ["in"] * in_ + ["is_set", "is_not_set"] * setness
    comparison = draw(st.sampled_from(options))
    more = draw(extra)
    if comparison in ("is_set", "is_not_set"):
        return draw(rule(field_, comparison, **more))
    if comparison == "in":
        return draw(rule(field_, comparison, draw(st.lists(values, min_size=1, max_size=3)), **more))
    if comparison == "between":
        return draw(rule(field_, comparison, [draw(values), draw(values)], **more))
    return draw(rule(field_, comparison, draw(values), **more))


@st.composite
def moment_rule(draw, field_, values=moments, extra=NO_EXTRAS):
    comparison = draw(
        st.sampled_from(["equals", "not_equals", "before", "after", "between", "within_last", "is_set", "is_not_set"])
    )
    more = draw(extra)
    if comparison in ("is_set", "is_not_set"):
        return draw(rule(field_, comparison, **more))
    if comparison == "within_last":
        return draw(rule(field_, comparison, draw(days), **more))
    if comparison == "between":
        return draw(rule(field_, comparison, [draw(values), draw(values)], **more))
    return draw(rule(field_, comparison, draw(values), **more))


@st.composite
def property_rule(draw):
    key = draw(st.sampled_from(["city", "age", "score", "vip", "address.zip", "nothere"]))
    name = f"properties.{key}"
    kind = draw(st.sampled_from(["text", "number", "boolean"]))
    if kind == "text":
        return draw(text_rule(name, SEARCH + ["paris", "12", "75001"]))
    if kind == "number":
        return draw(number_rule(name))
    return draw(rule(name, draw(st.sampled_from(["equals", "not_equals"])), draw(st.booleans())))


event_extras = st.fixed_dictionaries(
    {},
    optional={
        "within_last_days": st.sampled_from([1, 7, 30]),
        "where": st.dictionaries(
            st.sampled_from(["product_id", "qty"]), st.sampled_from(["p1", "P2", 2, "2", True]), min_size=1
        ),
    },
)


@st.composite
def event_rule(draw):
    event_type = draw(st.sampled_from([*EVENT_TYPES, "never_seen"]))
    metric = draw(st.sampled_from(["count", "total", "last"]))
    name = f"events.{event_type}.{metric}"
    if metric == "count":
        return draw(number_rule(name, st.integers(min_value=0, max_value=4), event_extras, setness=False, in_=False))
    if metric == "total":
        return draw(number_rule(name, st.sampled_from([0, 10, 50, 60.5, 200, 500]), event_extras, False, False))
    return draw(moment_rule(name, extra=event_extras))


@st.composite
def leaf(draw, list_ids):
    kind = draw(st.sampled_from(["attr", "status", "created", "prop", "custom", "key", "tags", "lists", "events"]))
    if kind == "attr":
        return draw(
            text_rule(draw(st.sampled_from(["email", "first_name", "last_name", "phone", "lang", "external_id"])))
        )
    if kind == "status":
        comparison = draw(st.sampled_from(["equals", "not_equals", "in"]))
        statuses = st.sampled_from(["subscribed", "unsubscribed", "bounced"])
        value = draw(st.lists(statuses, min_size=1, max_size=2)) if comparison == "in" else draw(statuses)
        return draw(rule("status", comparison, value))
    if kind == "created":
        return draw(moment_rule("created_at"))
    if kind == "prop":
        return draw(property_rule())
    if kind == "custom":
        name = draw(st.sampled_from(list(CUSTOM)))
        kind = CUSTOM[name]
        if kind in ("text", "choice"):
            return draw(text_rule(f"fields.{name}", ["gold", "GOLD", "ol", "silver", "ann", "x"]))
        if kind == "number":
            return draw(number_rule(f"fields.{name}"))
        if kind == "date":
            return draw(moment_rule(f"fields.{name}", st.sampled_from([0, 1, 29, 30, 31, 400]).map(iso_day)))
        return draw(rule(f"fields.{name}", draw(st.sampled_from(["equals", "not_equals"])), draw(st.booleans())))
    if kind == "key":
        name = draw(st.sampled_from(["size", "color"]))
        if draw(st.booleans()):
            return draw(text_rule(f"key_information.{name}", ["blue", "BLUE", "lu", "38"]))
        return draw(number_rule(f"key_information.{name}", st.sampled_from([38, 40, 41.5, 50])))
    if kind == "tags":
        return draw(text_rule("tags", ["vip", "VIP", "news", "newsletter", "pro", "zzz"]))
    if kind == "lists":
        comparison = draw(st.sampled_from(["equals", "not_equals", "in", "is_set", "is_not_set"]))
        ids = st.sampled_from(list_ids)
        if comparison in ("is_set", "is_not_set"):
            return draw(rule("lists", comparison))
        value = draw(st.lists(ids, min_size=1, max_size=3)) if comparison == "in" else draw(ids)
        return draw(rule("lists", comparison, value))
    return draw(event_rule())


def groups_of(children):
    return st.fixed_dictionaries({"operator": st.sampled_from(["and", "or"]), "rules": st.lists(children, max_size=3)})


def definitions(list_ids):
    tree = st.recursive(leaf(list_ids), groups_of, max_leaves=6)
    return st.fixed_dictionaries(
        {"operator": st.sampled_from(["and", "or"]), "rules": st.lists(tree, min_size=1, max_size=3)}
    )


# --- The oracle -------------------------------------------------------------------------------------


def fold(text: str) -> str:
    return text.lower()


def text_test(value, comparison, target) -> bool:
    """Positive text comparisons on a value that may be missing (None)."""
    if value is None or value == "":
        return False if comparison != "equals" or value is None else fold(value) == fold(target)
    if comparison == "equals":
        return fold(value) == fold(target)
    if comparison == "contains":
        return fold(target) in fold(value)
    if comparison == "starts_with":
        return fold(value).startswith(fold(target))
    if comparison == "in":
        return any(fold(value) == fold(item) for item in target)
    raise AssertionError(comparison)


def number_test(value, comparison, target) -> bool:
    if value is None:
        return False
    if comparison == "equals":
        return value == Decimal(str(target))
    if comparison == "greater_than":
        return value > Decimal(str(target))
    if comparison == "less_than":
        return value < Decimal(str(target))
    if comparison == "between":
        low, high = sorted(Decimal(str(b)) for b in target)
        return low <= value <= high
    if comparison == "in":
        return any(value == Decimal(str(item)) for item in target)
    raise AssertionError(comparison)


def instant_bounds(text: str) -> tuple[datetime, datetime, bool]:
    """(start, end, end included): a date is its whole UTC day, a datetime one instant."""
    if len(text) == 10:
        start = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return start, start + timedelta(days=1), False
    instant = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return instant, instant, True


def moment_test(value: datetime | None, comparison, target) -> bool:
    if value is None:
        return False
    if comparison == "within_last":
        n = target["days"] if isinstance(target, dict) else target
        return NOW - timedelta(days=n) <= value <= NOW
    if comparison == "before":
        return value < instant_bounds(target)[0]
    if comparison == "after":
        _, end, included = instant_bounds(target)
        return value > end if included else value >= end
    low, high = (target, target) if comparison == "equals" else sorted(target, key=lambda t: instant_bounds(t)[0])
    _, end, included = instant_bounds(high)
    return instant_bounds(low)[0] <= value and (value <= end if included else value < end)


def day_test(value: date | None, comparison, target) -> bool:
    if value is None:
        return False
    if comparison == "within_last":
        return TODAY - timedelta(days=target if isinstance(target, int) else target["days"]) <= value <= TODAY
    if comparison == "between":
        low, high = sorted(date.fromisoformat(t) for t in target)
        return low <= value <= high
    day = date.fromisoformat(target)
    return {"before": value < day, "after": value > day, "equals": value == day}[comparison]


def json_at(properties, dotted: str):
    node = properties
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


def json_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and NUMERIC_TEXT.match(value):
        return Decimal(value)
    return None


def json_test(value, comparison, target) -> bool:
    """`value` is a JSON value or MISSING; the target's type picks text, number or boolean."""
    if comparison == "is_set":
        return value is not MISSING and value is not None and value != ""
    sample = target[0] if isinstance(target, list) and comparison in ("in", "between") else target
    if isinstance(sample, bool):
        return isinstance(value, bool) and value == target
    if isinstance(sample, str):
        return isinstance(value, str) and text_test(value, comparison, target)
    return number_test(json_number(value), comparison, target)


def positive(node, person: Person, world) -> bool:
    """Whether the person matches `node` under one of the positive comparisons."""
    name, comparison, target = node["field"], node["comparison"], node.get("value")
    if name in ("email", "first_name", "last_name", "phone", "lang", "source", "external_id"):
        value = getattr(person, name)
        return (value not in (None, "")) if comparison == "is_set" else text_test(value, comparison, target)
    if name == "status":
        return person.status in target if comparison == "in" else person.status == target
    if name == "created_at":
        return True if comparison == "is_set" else moment_test(person.created_at, comparison, target)
    if name.startswith("properties."):
        return json_test(json_at(person.properties, name.removeprefix("properties.")), comparison, target)
    if name.startswith("fields."):
        custom = name.removeprefix("fields.")
        value = person.custom.get(custom)
        kind = CUSTOM[custom]
        if comparison == "is_set":
            return value is not None and value != ""
        if kind in ("text", "choice"):
            return text_test(value, comparison, target)
        if kind == "number":
            return number_test(value, comparison, target)
        if kind == "date":
            return day_test(value, comparison, target)
        return value is not None and value == target
    if name.startswith("key_information."):
        value = person.key_info.get(name.removeprefix("key_information."))
        if comparison == "is_set":
            return value is not None and value != ""
        sample = target[0] if isinstance(target, list) else target
        if isinstance(sample, str):
            return isinstance(value, str) and text_test(value, comparison, target)
        return isinstance(value, Decimal) and number_test(value, comparison, target)
    if name == "tags":
        if comparison == "is_set":
            return bool(person.tags)
        if comparison == "in":
            return any(fold(tag) == fold(item) for tag in person.tags for item in target)
        if comparison == "starts_with":
            return any(fold(tag).startswith(fold(target)) for tag in person.tags)
        return any(fold(tag) == fold(target) for tag in person.tags)  # equals / contains: has the tag
    if name == "lists":
        subscribed = {world["list_ids"][i] for i, status in person.lists.items() if status == "subscribed" and i < 2}
        if comparison == "is_set":
            return bool(subscribed)
        return bool(subscribed & set(target if comparison == "in" else [target]))
    _, event_type, metric = name.split(".")
    events = [e for e in person.events if e[0] == event_type]
    if "within_last_days" in node:
        events = [e for e in events if NOW - timedelta(days=node["within_last_days"]) <= e[1] <= NOW]
    for key, wanted in node.get("where", {}).items():
        events = [e for e in events if json_test(e[3].get(key, MISSING), "equals", wanted)]
    if metric == "count":
        return number_test(Decimal(len(events)), comparison, target)
    if metric == "total":
        return number_test(sum((e[2] or Decimal(0) for e in events), Decimal(0)), comparison, target)
    last = max((e[1] for e in events), default=None)
    return last is not None if comparison == "is_set" else moment_test(last, comparison, target)


def evaluate(node, person: Person, world) -> bool:
    if "rules" in node:
        results = [evaluate(child, person, world) for child in node["rules"]]
        return all(results) if node["operator"] == "and" else any(results)
    comparison = node["comparison"]
    if comparison in ("not_equals", "is_not_set"):
        flipped = {**node, "comparison": "equals" if comparison == "not_equals" else "is_set"}
        return not positive(flipped, person, world)
    return positive(node, person, world)


# --- Writing an example to the database ----------------------------------------------------------------


def store(persons: list[Person]) -> tuple:
    company = CompanyFactory(name=f"oracle {uuid.uuid4().hex}")
    rival = CompanyFactory(name=f"rival {uuid.uuid4().hex}")
    lists = [ContactList.objects.create(company=c, name=f"list {i}") for i, c in enumerate((company, company, rival))]
    fields = {
        name: CustomField.objects.create(company=company, name=name, field_type=kind) for name, kind in CUSTOM.items()
    }
    # Same names at the rival: a rule on them must never read the rival's values.
    for name, kind in CUSTOM.items():
        CustomField.objects.create(company=rival, name=name, field_type=kind)
    rows = Contact.objects.bulk_create(
        Contact(
            company=company,
            email=p.email,
            first_name=p.first_name,
            last_name=p.last_name,
            phone=p.phone,
            lang=p.lang,
            source=p.source,
            external_id=p.external_id,
            status=p.status,
            created_at=p.created_at,
            properties=p.properties,
            tags=p.tags,
            erased_at=NOW if p.erased else None,
        )
        for p in persons
    )
    # The rival's twin of every contact: same data, never in our segments.
    twins = Contact.objects.bulk_create(
        Contact(
            company=rival,
            email=p.email,
            first_name=p.first_name,
            properties=p.properties,
            tags=p.tags,
            created_at=p.created_at,
        )
        for p in persons
    )
    column = {"choice": "text_value", "text": "text_value", "number": "number_value", "date": "date_value"}
    values, infos, memberships, events = [], [], [], []
    for person, contact, twin in zip(persons, rows, twins, strict=True):
        for name, value in person.custom.items():
            typed = {column.get(CUSTOM[name], "bool_value"): value} if value is not None else {}
            values.append(CustomFieldValue(contact=contact, field=fields[name], **typed))
        for name, value in person.key_info.items():
            kind = "numeric_value" if isinstance(value, Decimal) else "text_value"
            infos.append(KeyInformation(contact=contact, name=name, **({kind: value} if value is not None else {})))
        memberships += [
            ListMembership(contact=contact, contact_list=lists[i], status=status) for i, status in person.lists.items()
        ]
        for event_type, when, value, data in person.events:
            events.append(
                Event(company=company, contact=contact, event_type=event_type, occurred_at=when, value=value, data=data)
            )
            events.append(Event(company=rival, contact=twin, event_type=event_type, occurred_at=when, value=value))
    # Events whose contact was deleted: a contact_id of NULL must not upset NOT IN.
    events.append(Event(company=company, contact=None, event_type="order_placed", occurred_at=NOW, value=1))
    CustomFieldValue.objects.bulk_create(values)
    KeyInformation.objects.bulk_create(infos)
    ListMembership.objects.bulk_create(memberships)
    Event.objects.bulk_create(events)
    world = {"list_ids": [lists[0].pk, lists[1].pk, lists[2].pk, 10**9]}
    return company, rows, world


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
@given(persons=people(), data=st.data())
def test_segments_select_exactly_what_the_oracle_selects(persons, data):
    company, rows, world = store(persons)
    ids = {row.pk: person for row, person in zip(rows, persons, strict=True)}
    for _ in range(8):
        # Inside the complexity budget (a definition over it is refused before any SQL: test_segment_budget).
        inside = definitions(world["list_ids"]).filter(lambda definition: not over_budget(definition))
        definition = data.draw(inside, label="definition")
        validate_definition(company, definition)
        got = set(segment_contacts(company, definition, now=NOW).values_list("pk", flat=True))
        expected = {pk for pk, person in ids.items() if not person.erased and evaluate(definition, person, world)}
        assert got == expected


def containers_of(children):
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    containers_of,
    max_leaves=12,
)
rule_keys = st.sampled_from(["field", "comparison", "value", "within_last_days", "where", "rules", "operator", "x"])
almost_rules = st.dictionaries(
    rule_keys,
    st.one_of(
        st.sampled_from(["email", "status", "created_at", "tags", "lists", "properties.a", "fields.Points"]),
        st.sampled_from(["events.order_placed.count", "events.x.last", "key_information.k", "and", "or"]),
        st.sampled_from(["equals", "in", "between", "within_last", "is_set", "before", "greater_than"]),
        json_values,
    ),
)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    definition=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"operator": st.sampled_from(["and", "or", "nand"]), "rules": st.lists(almost_rules | json_values)}
        ),
    )
)
def test_any_json_is_either_a_segment_or_a_validation_error(company, other_company, definition):
    """Nothing a client sends makes the compiler fail other than with a ValidationError naming paths,
    and whatever it accepts runs on the database and selects only the company's live contacts."""
    CustomField.objects.get_or_create(company=company, name="Points", defaults={"field_type": "number"})
    live, _ = Contact.objects.get_or_create(company=company, email="ann@example.com", defaults={"tags": ["vip"]})
    erased, _ = Contact.objects.get_or_create(company=company, email="gone@example.com", defaults={"erased_at": NOW})
    rival, _ = Contact.objects.get_or_create(company=other_company, email="ann@example.com", defaults={"tags": ["vip"]})
    try:
        contacts = segment_contacts(company, definition, now=NOW)
    except ValidationError as exc:
        assert exc.message_dict and all(isinstance(key, str) for key in exc.message_dict)
    else:
        # Evaluated, so SQL the database refuses fails here; the decoys are never in a segment.
        assert set(contacts.values_list("pk", flat=True)) <= {live.pk}
