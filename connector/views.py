"""Dashboard: the Salloq Ecommerce connector page (Settings > Shop connection), for owners and
marketers. The form saves the connection (the API key is write-only), "Test connection" makes one
request to the shop, "Sync now" hands a run to a worker. The status card is the page's htmx partial:
while a run is on its way it asks for itself again every POLL_SECONDS."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from contacts.forms import add_service_errors
from salloq.core.htmx import htmx_partial, render_page
from salloq.core.models import Role
from salloq.core.views import company_view

from . import selectors, services
from .client import ShopApiError
from .forms import ShopConnectionForm
from .models import ALL_RESOURCES

POLL_SECONDS = 2


def _context(request: HttpRequest, connection, form=None, test_result=None) -> dict:
    if form is None:
        initial = (
            {
                "base_url": connection.base_url,
                "resources": connection.resources,
                "sync_interval_minutes": connection.sync_interval_minutes,
            }
            if connection
            else {"resources": ALL_RESOURCES, "sync_interval_minutes": 60}
        )
        form = ShopConnectionForm(initial=initial, connection=connection)
    active = selectors.active_run(connection=connection)
    return {
        "connection": connection,
        "form": form,
        "active_run": active,
        "runs": selectors.recent_runs(connection=connection),
        "poll_seconds": POLL_SECONDS,
        "test_result": test_result,
    }


def _page(request: HttpRequest, context: dict, status: int = 200) -> HttpResponse:
    response = render_page(request, "connector/shop.html", "connector/_status.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@company_view(min_role=Role.MARKETER, write_role=Role.MARKETER)
@require_http_methods(["GET", "POST"])
def shop_connection(request: HttpRequest) -> HttpResponse:
    connection = services.connection_for(request.company)
    if request.method == "GET":
        return _page(request, _context(request, connection))
    form = ShopConnectionForm(request.POST, connection=connection)
    if form.is_valid():
        try:
            services.connection_save(company=request.company, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Shop connection saved.")
            return redirect("connector:shop")
    response = render(request, "connector/shop.html", _context(request, connection, form), status=400)
    response["Cache-Control"] = "no-store"
    return response


@company_view(min_role=Role.MARKETER, write_role=Role.MARKETER)
@require_POST
def shop_connection_test(request: HttpRequest) -> HttpResponse:
    """One request to the shop with the stored key: how many products it has, or what is wrong."""
    connection = services.connection_for(request.company)
    if connection is None:
        result = {"ok": False, "message": "Save the connection first."}
    else:
        try:
            total = services.connection_test(connection=connection)
        except (ShopApiError, ValueError) as error:
            result = {"ok": False, "message": str(error)}
        else:
            result = {"ok": True, "message": f"Connected: the shop lists {total} products."}
    if htmx_partial(request):
        return render(request, "connector/_test_result.html", {"test_result": result})
    (messages.success if result["ok"] else messages.error)(request, result["message"])
    return redirect("connector:shop")


@company_view(min_role=Role.MARKETER, write_role=Role.MARKETER)
@require_POST
def shop_sync_now(request: HttpRequest) -> HttpResponse:
    connection = services.connection_for(request.company)
    if connection is None:
        messages.error(request, "Save the connection first.")
        return redirect("connector:shop")
    services.sync_start(connection=connection, full=request.POST.get("full") == "1", trigger="manual")
    if htmx_partial(request):
        return _page(request, _context(request, connection))
    messages.success(request, "Sync started.")
    return redirect("connector:shop")
