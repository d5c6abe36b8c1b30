"""Stores, the orders page (orders and open carts: filters, newest first, keyset pagination) and an
order's page (lines, totals, contact, store)."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from salloq.core.htmx import render_page
from salloq.core.views import company_view

from ..forms import OrderFilterForm
from ..models import Order, OrderStatus, Store
from ..selectors import dashboard as selectors
from ..selectors.dashboard import OrderKind

STORES_PER_PAGE = 50
ORDER_FILTERS = ("status", "show", "store", "since", "until", "email", "contact")


@company_view()
@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    form = OrderFilterForm(request.GET)
    form.is_valid()  # an invalid filter is named on the page and left out
    older_than = form.cleaned_data.get("older_than")
    filters = form.filters()
    context = {
        "form": form,
        "filters": {name: request.GET.get(name, "") for name in ORDER_FILTERS},
        "any_filter": filters.any,
        "page": selectors.orders_page(company=request.company, filters=filters, older_than=older_than),
        "is_newest": older_than is None,
        "statuses": OrderStatus.choices,
        "kinds": OrderKind.CHOICES,
        "stores": selectors.company_stores_for_filter(company=request.company),
        # Filtered by one contact (the contact page's "All orders" link): named above the table.
        "contact": selectors.filtered_contact(company=request.company, contact_id=filters.contact_id),
    }
    status = 400 if form.errors else 200
    return render_page(request, "catalog/orders.html", "catalog/_order_table.html", context, status=status)


@company_view()
@require_GET
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = get_object_or_404(
        Order.objects.for_company(request.company).select_related("contact", "store"), pk=order_id
    )
    context = {"order": order, "lines": selectors.order_lines(order=order)}
    return render_page(request, "catalog/order_detail.html", "catalog/_order_detail.html", context)


@company_view()
@require_GET
def stores(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.stores(company=request.company), STORES_PER_PAGE).get_page(request.GET.get("page"))
    return render_page(request, "catalog/stores.html", "catalog/_store_table.html", {"page": page})


@company_view()
@require_GET
def store_detail(request: HttpRequest, store_id: int) -> HttpResponse:
    store = get_object_or_404(Store.objects.for_company(request.company), pk=store_id)
    context = {"store": store, "orders": selectors.store_latest_orders(store=store)}
    return render_page(request, "catalog/store_detail.html", "catalog/_store_detail.html", context)
