"""Email templates: reusable layouts whose {{ content }} is where a campaign's content goes."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from contacts.forms import add_service_errors
from salloq.core.htmx import render_page
from salloq.core.models import Role
from salloq.core.views import company_view

from .. import services
from ..forms import SERVICE_FIELD_NAMES, EmailTemplateForm
from ..models import EmailTemplate
from .common import can_edit, get_template, posted, redirect_after_write

STARTER_LAYOUT = """<div style="max-width:600px;margin:0 auto;font-family:sans-serif">
  {{ content }}
</div>"""


@company_view()
@require_http_methods(["GET", "POST"])
def templates(request: HttpRequest) -> HttpResponse:
    """Every template, and the create form, which posts here."""
    form = EmailTemplateForm(posted(request), initial={"html": STARTER_LAYOUT})
    if request.method == "POST" and form.is_valid():
        try:
            template = services.template_create(company=request.company, data=form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc, SERVICE_FIELD_NAMES)
        else:
            messages.success(request, f"Created the template {template}.")
            return redirect_after_write(request, reverse("campaigns:templates"))
    context = {
        "templates": EmailTemplate.objects.for_company(request.company),
        "form": form,
        "can_edit": can_edit(request),
    }
    status = 400 if form.errors else 200
    return render_page(request, "campaigns/templates.html", "campaigns/_template_table.html", context, status=status)


@company_view(min_role=Role.MARKETER)
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    template = get_template(request, template_id)
    form = EmailTemplateForm(posted(request), initial={"name": template.name, "html": template.html})
    if request.method == "POST" and form.is_valid():
        try:
            services.template_update(template=template, data=form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc, SERVICE_FIELD_NAMES)
            template.refresh_from_db()
        else:
            messages.success(request, "Template saved.")
            return redirect_after_write(request, reverse("campaigns:templates"))
    context = {"template": template, "form": form, "can_edit": can_edit(request)}
    status = 400 if form.errors else 200
    return render_page(request, "campaigns/template_edit.html", "campaigns/_template_form.html", context, status=status)


@company_view()
@require_POST
def template_delete(request: HttpRequest, template_id: int) -> HttpResponse:
    template = get_template(request, template_id)
    name = template.name
    try:
        services.template_delete(template=template)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Deleted the template {name}. Campaigns that used it keep their content.")
    return redirect_after_write(request, reverse("campaigns:templates"))
