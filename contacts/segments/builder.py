"""The dashboard's rule builder: a definition as rows of form inputs, and back.

The builder is a plain form: each rule is a row of inputs (`r<id>-field`, `r<id>-comparison`, ...), a
group is a row with an operator whose children name it as `r<id>-parent`. Adding or removing a row
posts the whole form with an `_action` (see `Builder.apply`). The same rows become a definition for
the compiler, whose error paths ("rules[1].rules[0].value") are mapped back to the rows they came
from; where the compiler's message is written for API clients (a field name in its JSON form), the
row gets one in the builder's own words instead.

Dates are typed and shown in one format, YYYY-MM-DD (DATE_FORMAT_HINT), the one the compiler's messages
name and the date picker beside each date input writes.
"""

import dataclasses
from dataclasses import dataclass
from itertools import count

from django.core.exceptions import ValidationError

from salloq.core.numbers import NumberError, as_json_number, parse_decimal

from .. import contact_input
from ..models import ContactList, CustomField, FieldType
from . import rules
from .rules import COMPARISONS, CUSTOM_FIELD_KINDS, OPERATORS, TEXT_ATTRIBUTES

EVENT_TYPES = ("order_placed", "product_viewed", "cart_abandoned", "customer_created", "page_viewed")
DATE_FORMAT_HINT = "YYYY-MM-DD"

# Field choices whose rule field needs a name typed beside them.
NAMED_FIELDS = {
    "properties": "Property key",
    "key_information": "Key information name",
    "events.count": "Event type",
    "events.total": "Event type",
    "events.last": "Event type",
    "collections": "Collection name",
}
# What a row says when its name is missing or not one the rule language takes.
NAME_MISSING = {
    "properties": "Enter the property key, e.g. favourite_color (address.city for a nested one).",
    "key_information": "Enter the key information name.",
    "events": "Enter the event type, e.g. order_placed.",
    "collections": "Enter the collection's name, e.g. Wishlist.",
}
NAME_INVALID = {
    "properties": "A property key is letters, digits, '_' and '-', with '.' between nested keys.",
    "key_information": "A key information name has at most 255 characters.",
    "events": "An event type is letters, digits, '_', '.', ':' and '-', at most 100 characters.",
    "collections": "A collection name has at most 255 characters.",
}
COMPARISON_LABELS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "starts_with": "starts with",
    "greater_than": "is more than",
    "less_than": "is less than",
    "between": "is between",
    "in": "is one of",
    "is_set": "is set",
    "is_not_set": "is not set",
    "before": "is before",
    "after": "is after",
    "within_last": "is within the last (days)",
}
ATTRIBUTE_LABELS = {**contact_input.ATTRIBUTE_LABELS, "created_at": "Created"}
COMMERCE_LABELS = {
    "total_spent": "Total spent",
    "order_count": "Number of orders",
    "first_order_at": "First order",
    "last_order_at": "Last order",
    "average_order_value": "Average order value",
    "open_cart_value": "Open cart value",
    "open_cart_count": "Number of open carts",
    "last_cart_at": "Last open cart",
    "loyalty_balance": "Loyalty points balance",
    "lifetime_points": "Lifetime loyalty points",
    "active_subscriptions": "Active subscriptions",
}
EVENT_KINDS = (rules.EVENT_COUNT, rules.EVENT_TOTAL, rules.EVENT_LAST)
DATE_KINDS = (rules.DATE, rules.DATETIME, rules.EVENT_LAST)


@dataclass
class Row:
    """One line of the builder: a rule (field, comparison, value...) or a group (operator)."""

    id: str
    parent: str = ""
    kind: str = "rule"
    operator: str = "and"
    field: str = "email"
    name: str = ""
    comparison: str = "contains"
    value: str = ""
    value2: str = ""
    values: list[str] = dataclasses.field(default_factory=list)
    days: str = ""
    where: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    children: list["Row"] = dataclasses.field(default_factory=list)
    depth: int = 1
    # How the row is shown (set by Builder.tree)
    label: str = ""  # "2", or "3.1" inside a group
    comparisons: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    name_label: str = ""
    widget: str = "text"
    choices: list[str] = dataclasses.field(default_factory=list)  # a choice field's values
    is_event: bool = False


class Builder:
    """The rows of a definition being edited, for one company (its custom fields and lists)."""

    def __init__(self, company, operator: str = "and", rows: list[Row] | None = None):
        self.company = company
        self.operator = operator if operator in OPERATORS else "and"
        self.rows = rows or []
        self.errors: list[str] = []  # about the definition as a whole
        self.focus_row = ""  # the row whose field was just changed: its name input gets the focus
        self.custom_fields = {f.name: f for f in CustomField.objects.for_company(company)}
        self.lists = list(ContactList.objects.for_company(company).order_by("name"))

    # The field catalogue

    def field_kind(self, row: Row) -> str:
        if row.field in TEXT_ATTRIBUTES:
            return rules.TEXT
        if row.field.startswith("fields."):
            custom_field = self.custom_field(row)
            return CUSTOM_FIELD_KINDS[custom_field.field_type] if custom_field else rules.TEXT
        if row.field.startswith("commerce."):
            return rules.COMMERCE_FIELDS.get(row.field.removeprefix("commerce."), rules.NUMBER)
        return {
            "status": rules.STATUS,
            "created_at": rules.DATETIME,
            "properties": rules.PROPERTY,
            "key_information": rules.KEY_INFO,
            "tags": rules.TAGS,
            "lists": rules.LISTS,
            "events.count": rules.EVENT_COUNT,
            "events.total": rules.EVENT_TOTAL,
            "events.last": rules.EVENT_LAST,
            "collections": rules.COLLECTION,
        }.get(row.field, rules.TEXT)

    def custom_field(self, row: Row) -> CustomField | None:
        return self.custom_fields.get(row.field.removeprefix("fields.")) if row.field.startswith("fields.") else None

    def field_choices(self) -> list[tuple[str, list[tuple[str, str]]]]:
        custom = [
            (f"fields.{name}", f"{name} ({f.get_field_type_display()})") for name, f in self.custom_fields.items()
        ]
        return [
            ("Contact", list(ATTRIBUTE_LABELS.items())),
            ("Data", [("properties", "Property…"), ("key_information", "Key information…"), ("tags", "Tags")]),
            ("Lists", [("lists", "Subscribed to list")]),
            *([("Custom fields", custom)] if custom else []),
            (
                "Commerce",
                [
                    *((f"commerce.{name}", label) for name, label in COMMERCE_LABELS.items()),
                    ("collections", "Products in collection…"),
                ],
            ),
            (
                "Behaviour",
                [
                    ("events.count", "Number of events…"),
                    ("events.total", "Total value of events…"),
                    ("events.last", "Date of last event…"),
                ],
            ),  # fmt: skip
        ]

    def comparisons(self, row: Row) -> list[tuple[str, str]]:
        return [(c, COMPARISON_LABELS[c]) for c in COMPARISONS[self.field_kind(row)]]

    def normalize(self, row: Row) -> None:
        """A comparison that does not apply to the (new) field falls back to the field's first one."""
        valid = COMPARISONS[self.field_kind(row)]
        if row.comparison not in valid:
            row.comparison = valid[0]

    # The tree

    def tree(self) -> list[Row]:
        by_id = {row.id: row for row in self.rows}
        top: list[Row] = []
        for row in self.rows:
            row.children = []
        for row in self.rows:
            parent = by_id.get(row.parent)
            if parent is not None and parent.kind == "group" and parent is not row:
                parent.children.append(row)
            else:
                row.parent = ""
                top.append(row)

        def walk(rows: list[Row], depth: int, prefix: str, seen: set[str]) -> None:
            for position, row in enumerate(rows, 1):
                if row.id in seen:  # a parent loop from a forged form: cut it
                    row.children = []
                    continue
                seen.add(row.id)
                row.depth, row.label = depth, f"{prefix}{position}"
                if row.kind == "rule":
                    self.decorate(row)
                walk(row.children, depth + 1, f"{row.label}.", seen)

        walk(top, 1, "", set())
        return top

    def decorate(self, row: Row) -> None:
        self.normalize(row)
        kind = self.field_kind(row)
        custom_field = self.custom_field(row)
        row.comparisons = self.comparisons(row)
        row.name_label = NAMED_FIELDS.get(row.field, "")
        row.is_event = kind in EVENT_KINDS
        row.choices = list(custom_field.choices) if custom_field and custom_field.field_type == FieldType.CHOICE else []
        if row.comparison in ("is_set", "is_not_set"):
            row.widget = "none"
        elif row.comparison == "within_last":
            row.widget = "days"
        elif kind in (rules.STATUS, rules.LISTS, rules.BOOLEAN) or (
            row.choices and row.comparison in ("equals", "not_equals", "in")
        ):
            row.widget = ("choice" if row.choices else kind) + ("-many" if row.comparison == "in" else "")
            if row.widget == "choice-many" and not row.values and row.value:
                row.values = [item.strip() for item in row.value.split(",") if item.strip()]
        elif kind in DATE_KINDS:
            row.widget = "date"
        elif kind in (rules.NUMBER, rules.EVENT_COUNT, rules.EVENT_TOTAL) and row.comparison != "in":
            row.widget = "number"
        else:
            row.widget = "text"

    def next_id(self) -> str:
        used = {int(row.id) for row in self.rows if row.id.isdigit()}
        return str(next(n for n in count(1) if n not in used))

    def apply(self, action: str) -> None:
        """Add a rule or a group (at the top or inside a group), or remove a row and what it holds."""
        verb, _, target = action.partition(":")
        groups = {row.id for row in self.rows if row.kind == "group"}
        parent = target if target in groups else ""
        if verb == "add":
            self.rows.append(Row(id=self.next_id(), parent=parent, comparison="is_set"))
        elif verb == "add-group" and not parent:  # the builder nests one level; the API goes deeper
            group = Row(id=self.next_id(), kind="group")
            self.rows.append(group)
            self.rows.append(Row(id=self.next_id(), parent=group.id, comparison="is_set"))
        elif verb == "remove":
            doomed = {target}
            while True:
                more = {row.id for row in self.rows if row.parent in doomed} - doomed
                if not more:
                    break
                doomed |= more
            self.rows = [row for row in self.rows if row.id not in doomed]

    # Rows <-> definition

    def definition(self) -> tuple[dict, dict[str, Row]]:
        """The definition the rows say, and which row each rule path came from."""
        paths: dict[str, Row] = {}

        def group(rows: list[Row], path: str) -> list:
            items = []
            for index, row in enumerate(rows):
                row_path = f"{path}rules[{index}]"
                paths[row_path] = row
                if row.kind == "group":
                    items.append({"operator": row.operator, "rules": group(row.children, f"{row_path}.")})
                else:
                    self.normalize(row)
                    items.append(self.rule(row))
            return items

        return {"operator": self.operator, "rules": group(self.tree(), "")}, paths

    def rule(self, row: Row) -> dict:
        kind = self.field_kind(row)
        name = row.name.strip()
        if row.field in ("properties", "key_information", "collections"):
            rule_field = f"{row.field}.{name}"
        elif row.field.startswith("events."):
            rule_field = f"events.{name}.{row.field.removeprefix('events.')}"
        else:
            rule_field = row.field
        rule: dict = {"field": rule_field, "comparison": row.comparison}
        comparison = row.comparison
        if comparison == "within_last":
            rule["value"] = whole_number(row.value)
        elif comparison == "between":
            rule["value"] = [typed_value(kind, row.value), typed_value(kind, row.value2)]
        elif comparison == "in":
            custom_field = self.custom_field(row)
            many = kind in (rules.LISTS, rules.STATUS) or (custom_field and custom_field.field_type == FieldType.CHOICE)
            items = row.values if many else [item.strip() for item in row.value.split(",")]
            rule["value"] = [typed_value(kind, item) for item in items if item]
        elif comparison not in ("is_set", "is_not_set"):
            rule["value"] = typed_value(kind, row.value)
        if kind in EVENT_KINDS:
            if row.days.strip():
                rule["within_last_days"] = whole_number(row.days)
            where = {key.strip(): typed_value(rules.PROPERTY, value) for key, value in row.where if key.strip()}
            if where:
                rule["where"] = where
        if rule.get("value") == "":
            del rule["value"]  # "is required", from the compiler
        return rule

    def show_errors(self, error: ValidationError, paths: dict[str, Row]) -> None:
        """Put each compiler message on the row it is about (its deepest known path prefix)."""
        for path, messages in error.message_dict.items():
            path = path.removeprefix("definition.")
            row, probe = None, path
            while probe and row is None:
                row = paths.get(probe)
                if row is None:
                    probe = probe.rpartition(".")[0]
            if row is None:
                self.errors += messages
            elif path == f"{probe}.field" and row.kind == "rule" and self.field_message(row):
                row.errors.append(self.field_message(row))
            else:
                row.errors += messages

    def field_message(self, row: Row) -> str:
        """The builder's own words for a field the compiler refused, where the compiler's are the API's."""
        prefix = row.field.partition(".")[0]
        if prefix in NAME_MISSING:
            return NAME_INVALID[prefix] if row.name.strip() else NAME_MISSING[prefix]
        if row.field.startswith("fields.") and self.custom_field(row) is None:
            return f"There is no custom field {row.field.removeprefix('fields.')} any more: choose another field."
        return ""


def number_value(text: str) -> int | float | str:
    """Text typed as a number, as the JSON number a definition holds. Anything else, including numbers
    out of bounds (1e1000000, NaN), stays text: the compiler's message for the rule then says why."""
    try:
        return as_json_number(parse_decimal(text))
    except NumberError:
        return text


def whole_number(text: str):
    number = number_value(text.strip())
    return number if isinstance(number, int) else text.strip()


def typed_value(kind: str, text: str):
    """A form value as the JSON type the rule needs; text that does not convert stays text, so the
    compiler's message says what was expected."""
    text = (text or "").strip()
    if kind == rules.STATUS:
        return text
    if kind in (rules.NUMBER, rules.EVENT_TOTAL, rules.EVENT_COUNT, rules.LISTS):
        return number_value(text)
    if kind == rules.BOOLEAN:
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind in (rules.PROPERTY, rules.KEY_INFO):
        # Free-form data: plain decimals compare as numbers (matching numeric strings too), true/false
        # as booleans; anything else (1e5, a 200-digit code) as text.
        if kind == rules.PROPERTY and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if text.lstrip("+-").replace(".", "", 1).isdigit():
            return number_value(text)
    return text


def builder_from_post(company, post) -> Builder:
    rows = []
    for row_id in post.getlist("row"):
        if not row_id.isdigit():
            continue
        p = f"r{row_id}-"
        rows.append(
            Row(
                id=row_id,
                parent=post.get(f"{p}parent", ""),
                kind="group" if post.get(f"{p}kind") == "group" else "rule",
                operator=post.get(f"{p}operator", "and"),
                field=post.get(f"{p}field", "email"),
                name=post.get(f"{p}name", ""),
                comparison=post.get(f"{p}comparison", ""),
                value=post.get(f"{p}value", ""),
                value2=post.get(f"{p}value2", ""),
                values=post.getlist(f"{p}values"),
                days=post.get(f"{p}days", ""),
                where=[
                    (key, value)
                    for key, value in zip(post.getlist(f"{p}where-key"), post.getlist(f"{p}where-value"), strict=False)
                    if key.strip() or value.strip()
                ],
            )
        )
    return Builder(company, post.get("operator", "and"), rows)


def builder_from_definition(company, definition) -> Builder:
    rows: list[Row] = []
    ids = count(1)

    def text(value) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    def add(nodes, parent: str) -> None:
        for node in nodes if isinstance(nodes, list) else []:
            if not isinstance(node, dict):
                continue
            row = Row(id=str(next(ids)), parent=parent)
            rows.append(row)
            if "rules" in node:
                row.kind, row.operator = "group", node.get("operator", "and")
                add(node.get("rules"), row.id)
                continue
            name = str(node.get("field", ""))
            prefix, _, rest = name.partition(".")
            if prefix in ("properties", "key_information", "collections"):
                row.field, row.name = prefix, rest
            elif prefix == "events":
                event_type, _, metric = rest.rpartition(".")
                row.field, row.name = f"events.{metric}", event_type
            else:
                row.field = name
            row.comparison = str(node.get("comparison", ""))
            value = node.get("value")
            if row.comparison == "between" and isinstance(value, list) and len(value) == 2:
                row.value, row.value2 = text(value[0]), text(value[1])
            elif row.comparison == "in" and isinstance(value, list):
                row.values = [text(v) for v in value]
                row.value = ", ".join(row.values)
            elif isinstance(value, dict):
                row.value = text(value.get("days"))
            else:
                row.value = text(value)
            row.days = text(node.get("within_last_days"))
            where = node.get("where")
            row.where = [(str(k), text(v)) for k, v in where.items()] if isinstance(where, dict) else []

    add(definition.get("rules") if isinstance(definition, dict) else [], "")
    operator = definition.get("operator", "and") if isinstance(definition, dict) else "and"
    return Builder(company, operator, rows)
