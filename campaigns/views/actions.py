"""Sending a campaign from its page: a test to given addresses, send now or at a time, pause,
resume and cancel. Each calls campaigns.delivery; a refusal is shown beside its field, or on top."""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from contacts.forms import add_service_errors
from salloq.core.htmx import render_page
from salloq.core.views import company_view

from .. import delivery
from ..forms import ScheduleForm, TestSendForm
from ..models import Campaign
from .campaigns import detail_context
from .common import get_campaign, redirect_after_write


def _detail_url(campaign: Campaign) -> str:
    return reverse("campaigns:campaign_detail", args=[campaign.pk])


def _refused(request: HttpRequest, campaign: Campaign, **forms) -> HttpResponse:
    """The campaign's page again with the form's errors beside its fields (a 400)."""
    context = detail_context(request, campaign, **forms)
    return render_page(
        request, "campaigns/campaign_detail.html", "campaigns/_campaign_status.html", context, status=400
    )


@company_view()
@require_POST
def campaign_send(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Send now (no time given) or schedule; a time in the past is refused beside the field."""
    campaign = get_campaign(request, campaign_id)
    form = ScheduleForm(request.POST)
    if form.is_valid():
        scheduled_at = form.cleaned_data["scheduled_at"]
        try:
            campaign = delivery.send_campaign(campaign=campaign, scheduled_at=scheduled_at)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if scheduled_at:
                when = timezone.localtime(campaign.scheduled_at).strftime("%Y-%m-%d %H:%M %Z")
                messages.success(request, f"Scheduled for {when}.")
            else:
                messages.success(request, "Sending started.")
            return redirect_after_write(request, _detail_url(campaign))
    campaign.refresh_from_db()
    return _refused(request, campaign, schedule_form=form)


@company_view()
@require_POST
def campaign_test(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_campaign(request, campaign_id)
    form = TestSendForm(request.POST)
    if form.is_valid():
        try:
            sent = delivery.send_test(campaign=campaign, emails=form.email_list())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Sent {sent} test message{'s' if sent != 1 else ''}.")
            return redirect_after_write(request, _detail_url(campaign))
    return _refused(request, campaign, test_form=form)


def _transition(request: HttpRequest, campaign_id: int, action: Callable, done: str) -> HttpResponse:
    campaign = get_campaign(request, campaign_id)
    try:
        action(campaign=campaign)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)
    return redirect_after_write(request, _detail_url(campaign))


@company_view()
@require_POST
def campaign_pause(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _transition(request, campaign_id, delivery.pause_campaign, "Paused. Resume sends to those not reached yet.")


@company_view()
@require_POST
def campaign_resume(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _transition(request, campaign_id, delivery.resume_campaign, "Sending resumed.")


@company_view()
@require_POST
def campaign_cancel(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _transition(request, campaign_id, delivery.cancel_campaign, "Cancelled. Nobody else gets it.")
