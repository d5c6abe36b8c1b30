"""Dashboard: the Events page (the company's latest events, filters, new ones appearing by themselves).

The page and its table partial come from the same view (salloq.core.htmx.render_page): the filter
bar and the "Older" link swap the table, and on the newest page the table asks for itself again
every POLL_SECONDS, so events sent meanwhile appear without a reload.
"""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from salloq.core.htmx import render_page
from salloq.core.views import company_view

from . import selectors
from .forms import SUGGESTED_TYPES, EventFilterForm

POLL_SECONDS = 10


@company_view()
@require_GET
def events(request: HttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET)
    form.is_valid()  # an invalid filter is named on the page and left out
    older_than = form.cleaned_data.get("older_than")
    filters = form.filters()
    page = selectors.events_page(company=request.company, filters=filters, older_than=older_than)
    context = {
        "form": form,
        "filters": {name: request.GET.get(name, "") for name in ("event_type", "contact", "email", "since", "until")},
        # Filtered by one contact (the contact page's "All events" link): named above the table.
        "contact": selectors.filtered_contact(company=request.company, filters=filters),
        "page": page,
        "is_newest": older_than is None,
        "poll_seconds": POLL_SECONDS,
        "suggested_types": SUGGESTED_TYPES,
    }
    return render_page(request, "events/events.html", "events/_event_table.html", context)
