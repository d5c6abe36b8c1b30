from django.shortcuts import render


def htmx_partial(request) -> bool:
    """True when htmx asks for a fragment rather than the whole page (but not on history restore)."""
    return bool(getattr(request, "htmx", False)) and not request.htmx.history_restore_request


def render_page(request, page_template: str, partial_template: str, context: dict, status: int = 200):
    """A page and its htmx partial from the same view: the page template includes the partial."""
    template = partial_template if htmx_partial(request) else page_template
    response = render(request, template, context, status=status)
    response["Vary"] = "HX-Request"
    return response
