"""Product collections (wishlists and the like): every collection with its numbers of contacts and
products, and one collection's contacts and products."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from salloq.core.htmx import render_page
from salloq.core.views import company_view

from ..forms import CollectionItemFilterForm
from ..models import ProductCollection
from ..selectors import dashboard as selectors
from .images import allow_product_images

ITEMS_PER_PAGE = 50


@company_view()
@require_GET
def collections(request: HttpRequest) -> HttpResponse:
    context = {"collections": selectors.collections(company=request.company)}
    return render_page(request, "catalog/collections.html", "catalog/_collection_table.html", context)


@company_view()
@require_GET
def collection_detail(request: HttpRequest, collection_id: int) -> HttpResponse:
    collection = get_object_or_404(
        ProductCollection.objects.for_company(request.company).select_related("catalog"), pk=collection_id
    )
    form = CollectionItemFilterForm(request.GET)
    form.is_valid()
    email = form.cleaned_data.get("email") or ""
    items = selectors.collection_items(collection=collection, email=email)
    context = {
        "collection": collection,
        "form": form,
        "filters": {"email": request.GET.get("email", "")},
        "top_products": selectors.collection_top_products(collection=collection),
        "page": Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page")),
    }
    status = 400 if form.errors else 200
    response = render_page(
        request, "catalog/collection_detail.html", "catalog/_collection_items.html", context, status=status
    )
    return allow_product_images(response)
