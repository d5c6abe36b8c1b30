"""Sortable columns of the dashboard's contact list.

Only the keys below are sortable: `?sort=` is matched against them and anything else falls back
to the default order (newest first), so a crafted value can never reach `order_by`. Every order
ends with the primary key, so two contacts with the same value keep the same place from one page
to the next."""

from dataclasses import dataclass

from django.db.models import F, QuerySet

# The default: the order the list has always had (Contact.Meta.ordering).
DEFAULT_SORT = "-created"


@dataclass(frozen=True)
class SortColumn:
    label: str
    columns: tuple[str, ...]


# `?sort=<key>` sorts ascending, `?sort=-<key>` descending.
SORT_COLUMNS: dict[str, SortColumn] = {
    "email": SortColumn("Email", ("email",)),
    "name": SortColumn("Name", ("last_name", "first_name")),
    "status": SortColumn("Status", ("status",)),
    "created": SortColumn("Created", ("created_at",)),
    "updated": SortColumn("Updated", ("updated_at",)),
}


def parse_sort(value: str | None) -> str:
    """`value` when it names a sortable column (with "-" for descending), else "": the default."""
    value = (value or "").strip()
    return value if value.removeprefix("-") in SORT_COLUMNS else ""


def sort_contacts(queryset: QuerySet, sort: str) -> QuerySet:
    key = parse_sort(sort) or DEFAULT_SORT
    descending = key.startswith("-")
    order = []
    for column in SORT_COLUMNS[key.removeprefix("-")].columns:
        expression = F(column)
        order.append(expression.desc() if descending else expression.asc())
    order.append(F("pk").desc() if descending else F("pk").asc())
    return queryset.order_by(*order)


def sort_links(current: str) -> dict[str, dict]:
    """By column key, one entry per sortable column for the table header: the sort a click asks for (the other
    direction when it is the current column) and the direction shown now ("asc", "desc" or "")."""
    current = current or DEFAULT_SORT
    links = {}
    for key, column in SORT_COLUMNS.items():
        if current == key:
            direction, next_sort = "asc", f"-{key}"
        elif current == f"-{key}":
            direction, next_sort = "desc", key
        else:
            # Dates read newest first; text from A.
            direction, next_sort = "", f"-{key}" if key in ("created", "updated") else key
        links[key] = {"label": column.label, "sort": next_sort, "direction": direction}
    return links
