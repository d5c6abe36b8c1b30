"""Refuse what no view can handle before any view sees it: NUL characters in the URL path or the
query string, and declared bodies over DATA_UPLOAD_MAX_MEMORY_SIZE.

PostgreSQL refuses NUL in text, so a NUL that reaches a lookup (`/api/blacklist/a%00b`,
`?search=%00`) was a 500 wherever a view forgot to check; one check here covers every route,
present and future. (Lone surrogates cannot arrive this way: Django decodes URLs as UTF-8 and
replaces what is not.) JSON bodies are checked by salloq.core.api.parsers; form fields by
Django's form fields, which refuse NUL themselves.
"""

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.html import format_html

from .errors import error_response, payload_too_large_body
from .htmx import to_problem_area
from .text import NUL_MESSAGE

BAD_REQUEST = "This request cannot be read"  # the heading of templates/400.html too


def _is_api(request) -> bool:
    path = request.path_info
    return any(path == prefix or path.startswith(prefix + "/") for prefix in ("/api", "/api.php"))


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _query_problems(request) -> dict[str, list[str]]:
    problems = {}
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            problems[key.replace("\x00", "\\u0000")] = [NUL_MESSAGE]
    return problems


class HostileInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        api = _is_api(request)
        content_type = request.META.get("CONTENT_TYPE", "")
        # Multipart bodies carry uploaded files (CSV imports), which Django streams to disk and the
        # limit does not cover; their other fields are checked by Django as they are read.
        if _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE and not content_type.startswith(
            "multipart/"
        ):
            if api:
                return error_response(413, payload_too_large_body()["message"])
            return _error_page(
                request,
                413,
                "This request is too large",
                "The form sent more than the dashboard accepts at once. Send less (a shorter text, fewer "
                "rows ticked), or upload the data as a CSV import.",
            )
        if "\x00" in request.path_info:
            if api:
                return error_response(400, f"The URL path {NUL_MESSAGE}.", "Malformed request")
            return _error_page(request, 400, BAD_REQUEST, f"The address {NUL_MESSAGE}.")
        problems = _query_problems(request)
        if problems:
            names = ", ".join(problems)
            if api:
                return error_response(400, f"Invalid input: check {names}.", "Validation failed", problems)
            return _error_page(request, 400, BAD_REQUEST, f"The query parameter(s) {names} {NUL_MESSAGE}.")
        return self.get_response(request)


def _error_page(request, status: int, heading: str, detail: str) -> HttpResponse:
    """The product's error page for the dashboard, rendered without the request: this middleware
    runs before sessions and authentication, so there is no user to show (like 500.html). An htmx
    request gets the message alone, for the page's problem area."""
    if request.headers.get("HX-Request") == "true":
        return to_problem_area(HttpResponse(format_html('<p class="error">{}</p>', detail), status=status))
    context = {"status": status, "title": heading, "heading": heading, "detail": detail}
    return HttpResponse(render_to_string("inc/standalone_error_page.html", context), status=status)
