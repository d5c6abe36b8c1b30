"""Dashboard pages for segments: the list with live counts, and the rule builder with a live count and preview.

The builder is a plain form: each rule is a row of inputs (`r<id>-field`, `r<id>-comparison`, ...), a
group is a row with an operator whose children name it as `r<id>-parent`. Adding or removing a row
posts the whole form with an `_action`: htmx swaps the re-rendered builder in place, and without
JavaScript the same request re-renders the page. The same rows become a definition for the compiler,
whose error paths ("rules[1].rules[0].value") are mapped back to the rows they came from.
"""

import dataclasses
from dataclasses import dataclass
from itertools import count

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from salloq.core.db import is_statement_timeout, timeout_message
from salloq.core.htmx import htmx_partial, render_page
from salloq.core.models import Role
from salloq.core.numbers import NumberError, as_json_number, parse_decimal
from salloq.core.views import company_view

from .. import contact_input, segments
from ..models import ContactList, ContactStatus, CustomField, FieldType, Segment
from ..segments import services as segment_services

PREVIEW_SIZE = 20
EVENT_TYPES = ("order_placed", "product_viewed", "cart_abandoned", "customer_created", "page_viewed")

# Field choices whose rule field needs a name typed beside them.
NAMED_FIELDS = {
    "properties": "Property key",
    "key_information": "Key information name",
    "events.count": "Event type",
    "events.total": "Event type",
    "events.last": "Event type",
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


# --- Builder rows --------------------------------------------------------------------------


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
    is_event: bool = False


class Builder:
    """The rows of a definition being edited, for one company (its custom fields and lists)."""

    def __init__(self, company, operator: str = "and", rows: list[Row] | None = None):
        self.company = company
        self.operator = operator if operator in segments.OPERATORS else "and"
        self.rows = rows or []
        self.errors: list[str] = []  # about the definition as a whole
        self.custom_fields = {f.name: f for f in CustomField.objects.for_company(company)}
        self.lists = list(ContactList.objects.for_company(company).order_by("name"))

    # The field catalogue

    def field_kind(self, row: Row) -> str:
        if row.field in segments.TEXT_ATTRIBUTES:
            return segments.TEXT
        if row.field.startswith("fields."):
            custom_field = self.custom_fields.get(row.field.removeprefix("fields."))
            return segments.CUSTOM_FIELD_KINDS[custom_field.field_type] if custom_field else segments.TEXT
        return {
            "status": segments.STATUS,
            "created_at": segments.DATETIME,
            "properties": segments.PROPERTY,
            "key_information": segments.KEY_INFO,
            "tags": segments.TAGS,
            "lists": segments.LISTS,
            "events.count": segments.EVENT_COUNT,
            "events.total": segments.EVENT_TOTAL,
            "events.last": segments.EVENT_LAST,
        }.get(row.field, segments.TEXT)

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
                "Behaviour",
                [
                    ("events.count", "Number of events…"),
                    ("events.total", "Total value of events…"),
                    ("events.last", "Date of last event…"),
                ],
            ),  # fmt: skip
        ]

    def comparisons(self, row: Row) -> list[tuple[str, str]]:
        return [(c, COMPARISON_LABELS[c]) for c in segments.COMPARISONS[self.field_kind(row)]]

    def normalize(self, row: Row) -> None:
        """A comparison that does not apply to the (new) field falls back to the field's first one."""
        valid = segments.COMPARISONS[self.field_kind(row)]
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
        row.comparisons = self.comparisons(row)
        row.name_label = NAMED_FIELDS.get(row.field, "")
        row.is_event = kind in (segments.EVENT_COUNT, segments.EVENT_TOTAL, segments.EVENT_LAST)
        if row.comparison in ("is_set", "is_not_set"):
            row.widget = "none"
        elif row.comparison == "within_last":
            row.widget = "days"
        elif kind in (segments.STATUS, segments.LISTS, segments.BOOLEAN):
            row.widget = kind + ("-many" if row.comparison == "in" else "")
        elif kind in (segments.DATE, segments.DATETIME, segments.EVENT_LAST):
            # A date picker for dates; a timestamp written through the API stays editable as text.
            plain = all(not v or (len(v) == 10 and v[4] == "-") for v in (row.value, row.value2))
            row.widget = "date" if plain else "text"
        elif kind in (segments.NUMBER, segments.EVENT_COUNT, segments.EVENT_TOTAL) and row.comparison != "in":
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
            rules = []
            for index, row in enumerate(rows):
                row_path = f"{path}rules[{index}]"
                paths[row_path] = row
                if row.kind == "group":
                    rules.append({"operator": row.operator, "rules": group(row.children, f"{row_path}.")})
                else:
                    self.normalize(row)
                    rules.append(self.rule(row))
            return rules

        return {"operator": self.operator, "rules": group(self.tree(), "")}, paths

    def rule(self, row: Row) -> dict:
        kind = self.field_kind(row)
        name = row.name.strip()
        if row.field in ("properties", "key_information"):
            rule_field = f"{row.field}.{name}"
        elif row.field.startswith("events."):
            rule_field = f"events.{name}.{row.field.removeprefix('events.')}"
        else:
            rule_field = row.field
        rule: dict = {"field": rule_field, "comparison": row.comparison}
        comparison = row.comparison
        if comparison == "within_last":
            rule["value"] = _whole(row.value)
        elif comparison == "between":
            rule["value"] = [_typed(kind, row.value), _typed(kind, row.value2)]
        elif comparison == "in":
            many = kind in (segments.LISTS, segments.STATUS)
            items = row.values if many else [item.strip() for item in row.value.split(",")]
            rule["value"] = [_typed(kind, item) for item in items if item]
        elif comparison not in ("is_set", "is_not_set"):
            rule["value"] = _typed(kind, row.value)
        if kind in (segments.EVENT_COUNT, segments.EVENT_TOTAL, segments.EVENT_LAST):
            if row.days.strip():
                rule["within_last_days"] = _whole(row.days)
            where = {key.strip(): _typed(segments.PROPERTY, value) for key, value in row.where if key.strip()}
            if where:
                rule["where"] = where
        if rule.get("value") == "":
            del rule["value"]  # "is required", from the compiler
        return rule

    def show_errors(self, error: ValidationError, paths: dict[str, Row]) -> None:
        """Put each compiler message on the row it is about (its deepest known path prefix)."""
        for path, messages_ in error.message_dict.items():
            path = path.removeprefix("definition.")
            row = None
            probe = path
            while probe and row is None:
                row = paths.get(probe)
                probe = probe.rpartition(".")[0]
            if row is None:
                self.errors += messages_
            else:
                row.errors += messages_


def _number(text: str) -> int | float | str:
    """Text typed as a number, as the JSON number a definition holds. Anything else, including numbers
    out of bounds (1e1000000, NaN), stays text: the compiler's message for the rule then says why."""
    try:
        return as_json_number(parse_decimal(text))
    except NumberError:
        return text


def _whole(text: str):
    number = _number(text.strip())
    return number if isinstance(number, int) else text.strip()


def _typed(kind: str, text: str):
    """A form value as the JSON type the rule needs; text that does not convert stays text, so the
    compiler's message says what was expected."""
    text = (text or "").strip()
    if kind == segments.STATUS:
        return text
    if kind in (segments.NUMBER, segments.EVENT_TOTAL, segments.EVENT_COUNT, segments.LISTS):
        return _number(text)
    if kind == segments.BOOLEAN:
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind in (segments.PROPERTY, segments.KEY_INFO):
        # Free-form data: plain decimals compare as numbers (matching numeric strings too), true/false
        # as booleans; anything else (1e5, a 200-digit code) as text.
        if kind == segments.PROPERTY and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if text.lstrip("+-").replace(".", "", 1).isdigit():
            return _number(text)
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
            if prefix in ("properties", "key_information"):
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


# --- Live count and preview ------------------------------------------------------------------------


def _live(builder: Builder) -> dict:
    """Count and first contacts of what the builder says, or the errors that stop it (put on the rows,
    and listed by rule number for the live panel, which is swapped without the rows). A valid
    definition whose count runs past the statement timeout can still be saved: the panel says so."""
    definition, paths = builder.definition()
    try:
        contacts = segments.segment_contacts(builder.company, definition)
    except ValidationError as exc:
        builder.show_errors(exc, paths)
        problems = [("", message) for message in builder.errors]
        problems += [(row.label, message) for row in paths.values() for message in row.errors]
        return {"live_ok": False, "definition": definition, "problems": problems}
    live = {"live_ok": True, "definition": definition}
    try:
        live.update(live_count=contacts.count(), live_contacts=list(contacts[:PREVIEW_SIZE]))
    except OperationalError as exc:
        if not is_statement_timeout(exc):
            raise
        live["live_timeout"] = timeout_message()
    return live


def _builder_context(request: HttpRequest, builder: Builder, segment: Segment | None, **extra) -> dict:
    return {
        "builder": builder,
        "tree": builder.tree(),
        "segment": segment,
        "statuses": ContactStatus.choices,
        "event_types": EVENT_TYPES,
        "named_fields": NAMED_FIELDS,
        "preview_size": PREVIEW_SIZE,
        "can_edit": request.membership.allows(Role.MARKETER),
        "field_types": FieldType,
        **extra,
    }


# --- Views -------------------------------------------------------------------------------------------


@company_view()
@require_GET
def segments_list(request: HttpRequest) -> HttpResponse:
    """All segments; each row loads its live count by itself once it is on screen, one at a time."""
    context = {
        "segments": Segment.objects.for_company(request.company).order_by("name", "id"),
        "can_edit": request.membership.allows(Role.MARKETER),
    }
    return render_page(request, "contacts/segments.html", "contacts/_segments.html", context)


@company_view()
@require_GET
def segment_count(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_company(request.company), pk=segment_id)
    context: dict = {"segment": segment}
    try:
        context["count"] = segments.segment_contacts(request.company, segment.definition).count()
    except ValidationError as exc:
        context["problems"] = [m for messages_ in exc.message_dict.values() for m in messages_]
    except OperationalError as exc:
        if not is_statement_timeout(exc):
            raise
        context["too_slow"] = timeout_message()
    return render_page(request, "contacts/_segment_count.html", "contacts/_segment_count.html", context)


@company_view()
@require_http_methods(["GET", "POST"])
def segment_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@company_view()
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_company(request.company), pk=segment_id)
    return _edit(request, segment)


def _edit(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    """The builder page. POST with `_action` changes the rows (no save); POST without it saves."""
    if request.method == "GET":
        if segment is None:
            builder = Builder(
                request.company, "and", [Row(id="1", field="status", comparison="equals", value="subscribed")]
            )
        else:
            builder = builder_from_definition(request.company, segment.definition)
        name, description = (segment.name, segment.description) if segment else ("", "")
        live = _live(builder)
        context = _builder_context(request, builder, segment, name=name, description=description, **live)
        return render_page(request, "contacts/segments_form.html", "contacts/_segment_builder.html", context)

    builder = builder_from_post(request.company, request.POST)
    name, description = request.POST.get("name", ""), request.POST.get("description", "")
    action = request.POST.get("_action", "")
    if action:
        builder.apply(action)
        live = _live(builder)
        context = _builder_context(request, builder, segment, name=name, description=description, **live)
        # htmx swaps the builder and, out of band, the live count; without JavaScript: the whole page.
        return render_page(request, "contacts/segments_form.html", "contacts/_segment_builder_swap.html", context)

    live = _live(builder)
    form_errors: dict[str, list[str]] = {}
    if live["live_ok"]:
        try:
            if segment is None:
                saved = segment_services.segment_create(
                    company=request.company, name=name, description=description, definition=live["definition"]
                )
            else:
                saved = segment_services.segment_update(
                    segment=segment, name=name, description=description, definition=live["definition"]
                )
        except ValidationError as exc:
            form_errors = exc.message_dict
        else:
            messages.success(request, f"Saved the segment {saved.name}.")
            return redirect(reverse("contacts:segment_edit", args=[saved.pk]))
    context = _builder_context(
        request, builder, segment, name=name, description=description, form_errors=form_errors, **live
    )
    return render_page(request, "contacts/segments_form.html", "contacts/segments_form.html", context, status=400)


@company_view(write_role=Role.VIEWER)  # counts only: viewers may use it too
@require_POST
def segment_live(request: HttpRequest) -> HttpResponse:
    """The builder's live count and preview for the rows as they are in the form right now."""
    builder = builder_from_post(request.company, request.POST)
    context = _builder_context(request, builder, None, **_live(builder))
    return render_page(request, "contacts/_segment_live_swap.html", "contacts/_segment_live_swap.html", context)


@company_view()
@require_POST
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_company(request.company), pk=segment_id)
    segment_services.segment_delete(segment=segment)
    messages.success(request, f"Deleted the segment {segment.name}.")
    target = reverse("contacts:segments")
    if htmx_partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)
