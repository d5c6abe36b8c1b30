from django.http import HttpResponse
from django.shortcuts import render

# An htmx request that failed leaves the table or panel that asked as it was (base.html's htmx
# config swaps no 4xx/5xx answer other than a form's 400), so the later swaps of that target still
# work; the message goes to the page's problem area instead, without a history entry for the
# request that failed. static/js/app.js swaps an answer sent there and shows the area.
PROBLEM_AREA_HEADERS = {"HX-Retarget": "#request-problem", "HX-Reswap": "innerHTML", "HX-Push-Url": "false"}


def htmx_partial(request) -> bool:
    """True when htmx asks for a fragment rather than the whole page (but not on history restore)."""
    return bool(getattr(request, "htmx", False)) and not request.htmx.history_restore_request


def render_page(request, page_template: str, partial_template: str, context: dict, status: int = 200):
    """A page and its htmx partial from the same view: the page template includes the partial."""
    template = partial_template if htmx_partial(request) else page_template
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request"
    return response


def to_problem_area(response: HttpResponse) -> HttpResponse:
    """Send an htmx answer that says what went wrong to the page's problem area (base.html)."""
    for header, value in PROBLEM_AREA_HEADERS.items():
        response[header] = value
    return response
