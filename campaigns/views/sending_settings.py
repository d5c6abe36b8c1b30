"""Settings > Sending: the company's sender defaults, postal address and send rate. Everyone in the
company sees them; owners change them (salloq.core.company_settings.company_sending_update)."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from contacts.forms import add_service_errors
from salloq.core import company_settings
from salloq.core.models import Role
from salloq.core.views import company_view

from ..forms import SendingSettingsForm

FIELDS = ("sender_name", "sender_email", "reply_to_email", "postal_address", "send_rate_per_second")


@company_view(write_role=Role.OWNER)
@require_http_methods(["GET", "POST"])
def sending_settings(request: HttpRequest) -> HttpResponse:
    company = request.company
    form = SendingSettingsForm(
        request.POST if request.method == "POST" else None,
        initial={name: getattr(company, name) for name in FIELDS},
    )
    if request.method == "POST" and form.is_valid():
        try:
            company_settings.company_sending_update(
                company=company,
                **{
                    name: form.cleaned_data[name] or ("" if name != "send_rate_per_second" else None) for name in FIELDS
                },
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            company.refresh_from_db()
        else:
            messages.success(request, "Sending settings saved.")
            return redirect("sending_settings")
    context = {
        "form": form,
        "is_owner": request.membership.allows(Role.OWNER),
        "default_rate": settings.CAMPAIGN_DEFAULT_SEND_RATE,
    }
    return render(request, "campaigns/sending_settings.html", context, status=400 if form.errors else 200)
