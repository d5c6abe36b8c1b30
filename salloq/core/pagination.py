import math

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def _positive_int(raw: str, name: str, errors: dict, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        errors[name] = [f"'{raw}' is not a whole number."]
        return 1
    if value < 1:
        errors[name] = ["Must be 1 or more."]
    elif maximum is not None and value > maximum:
        errors[name] = [f"Must be at most {maximum}."]
    return value


class PagePagination(BasePagination):
    """`page` and `per_page` (the Salloq Marketing API); the list sits under `list_key` beside `pagination`.

    Views name their key with `PagePagination.keyed("contacts")`, so the schema knows it too.
    """

    list_key = "results"

    @classmethod
    def keyed(cls, list_key: str) -> type["PagePagination"]:
        return type(f"{list_key.title().replace('_', '')}Pagination", (cls,), {"list_key": list_key})

    def paginate_queryset(self, queryset, request, view=None):
        errors: dict = {}
        page = _positive_int(request.query_params.get("page", "1"), "page", errors)
        per_page = _positive_int(
            request.query_params.get("per_page", str(DEFAULT_PER_PAGE)), "per_page", errors, MAX_PER_PAGE
        )
        if errors:
            raise ValidationError(errors)
        total = queryset.count()
        total_pages = max(1, math.ceil(total / per_page))
        # A page past the end is an empty page, not an error: rows deleted while a client pages
        # through a list must not turn its next request into a failure.
        self.page, self.per_page, self.total, self.total_pages = page, per_page, total, total_pages
        if page > total_pages:
            return []  # and no OFFSET past what the database can count
        start = (page - 1) * per_page
        return list(queryset[start : start + per_page])

    def get_paginated_response(self, data):
        return Response(
            {
                self.list_key: data,
                "pagination": {
                    "page": self.page,
                    "per_page": self.per_page,
                    "total": self.total,
                    "total_pages": self.total_pages,
                },
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": [self.list_key, "pagination"],
            "properties": {
                self.list_key: schema,
                "pagination": {
                    "type": "object",
                    "required": ["page", "per_page", "total", "total_pages"],
                    "properties": {
                        "page": {"type": "integer", "minimum": 1},
                        "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                        "total": {"type": "integer", "minimum": 0},
                        "total_pages": {"type": "integer", "minimum": 1},
                    },
                },
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "description": "Page number (default 1).",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "per_page",
                "in": "query",
                "required": False,
                "description": f"Results per page (default {DEFAULT_PER_PAGE}, max {MAX_PER_PAGE}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            },
        ]
