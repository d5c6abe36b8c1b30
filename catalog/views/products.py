"""The catalog browser (products with image, price, availability; search and filters) and a
product's page."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from salloq.core.htmx import render_page
from salloq.core.views import company_view

from ..forms import ProductFilterForm
from ..models import Product
from ..selectors import dashboard as selectors
from .images import allow_product_images

PRODUCTS_PER_PAGE = 24


@company_view()
@require_GET
def products(request: HttpRequest) -> HttpResponse:
    form = ProductFilterForm(request.GET)
    form.is_valid()  # an invalid filter is named on the page and left out
    filters = form.filters()
    queryset = selectors.products(company=request.company, filters=filters)
    catalogs = selectors.company_catalogs(company=request.company)
    context = {
        "form": form,
        "filters": {name: request.GET.get(name, "") for name in ("search", "catalog", "category", "available")},
        "any_filter": filters.any,
        # get_page() turns a junk or out-of-range ?page= into the nearest real page rather than a 404.
        "page": Paginator(queryset, PRODUCTS_PER_PAGE).get_page(request.GET.get("page")),
        "catalogs": catalogs,
        "show_catalog": len(catalogs) > 1,
        "categories": selectors.category_suggestions(company=request.company, catalog_id=filters.catalog_id),
    }
    status = 400 if form.errors else 200
    response = render_page(request, "catalog/products.html", "catalog/_product_table.html", context, status=status)
    return allow_product_images(response)


@company_view()
@require_GET
def product_detail(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_object_or_404(Product.objects.for_company(request.company).select_related("catalog"), pk=product_id)
    context = {"detail": selectors.product_detail(product=product), "product": product}
    return allow_product_images(
        render_page(request, "catalog/product_detail.html", "catalog/_product_detail.html", context)
    )
