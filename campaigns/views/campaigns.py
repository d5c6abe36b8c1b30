"""The campaign list, the editor (with the audience's live recipient count), a campaign's page and
its preview as a chosen contact."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts.forms import add_service_errors
from contacts.models import Contact
from salloq.core.htmx import render_page
from salloq.core.models import Role
from salloq.core.views import company_view

from .. import audience, delivery, rendering, services
from ..forms import (
    SERVICE_FIELD_NAMES,
    AudienceForm,
    CampaignFilterForm,
    CampaignForm,
    PreviewForm,
    ScheduleForm,
    TestSendForm,
)
from ..models import Campaign, CampaignStatus
from ..selectors.campaigns import campaign_list
from .common import allow_email_preview, can_edit, get_campaign, posted, redirect_after_write

CAMPAIGNS_PER_PAGE = 25
# While these last, the campaign's page asks for its progress every few seconds.
LIVE_STATUSES = frozenset({CampaignStatus.SCHEDULED, CampaignStatus.SENDING})
# Contacts offered in the preview's picker: the first of the audience (any contact by id works).
PREVIEW_CHOICES = 50


@company_view()
@require_GET
def campaigns(request: HttpRequest) -> HttpResponse:
    form = CampaignFilterForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    queryset = campaign_list(request.company, type=filters.get("type") or None, status=filters.get("status") or None)
    context = {
        "form": form,
        "filters": {name: request.GET.get(name, "") for name in ("status", "type")},
        "any_filter": bool(filters.get("status") or filters.get("type")),
        "page": Paginator(queryset, CAMPAIGNS_PER_PAGE).get_page(request.GET.get("page")),
        "can_edit": can_edit(request),
    }
    status = 400 if form.errors else 200
    return render_page(request, "campaigns/campaigns.html", "campaigns/_campaign_table.html", context, status=status)


def _editor(request: HttpRequest, form: CampaignForm, campaign: Campaign | None, status: int) -> HttpResponse:
    context = {"form": form, "campaign": campaign, "audience_count": _count(request, form)}
    return render_page(request, "campaigns/campaign_edit.html", "campaigns/_campaign_form.html", context, status=status)


def _count(request: HttpRequest, form: AudienceForm) -> int | None:
    """The live recipient count of the form's audience (None when nothing is chosen yet)."""
    audience_form = AudienceForm(form.data if form.is_bound else None, initial=form.initial, company=request.company)
    if audience_form.is_bound:
        if not audience_form.is_valid():
            return None
        ids = audience_form.audience_ids()
    else:
        ids = {
            "list_ids": [getattr(x, "pk", x) for x in form.initial.get("lists", [])],
            "segment_ids": [getattr(x, "pk", x) for x in form.initial.get("segments", [])],
            "excluded_list_ids": [getattr(x, "pk", x) for x in form.initial.get("excluded_lists", [])],
            "excluded_segment_ids": [getattr(x, "pk", x) for x in form.initial.get("excluded_segments", [])],
        }
    if not ids["list_ids"] and not ids["segment_ids"]:
        return None
    return audience.audience_count(request.company, **ids)


@company_view(min_role=Role.MARKETER)
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(posted(request), company=request.company)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.campaign_create(company=request.company, data=form.service_data())
        except ValidationError as exc:
            add_service_errors(form, exc, SERVICE_FIELD_NAMES)
        else:
            messages.success(request, f"Created the campaign {campaign}.")
            return redirect_after_write(request, reverse("campaigns:campaign_detail", args=[campaign.pk]))
    return _editor(request, form, None, 400 if form.errors else 200)


def _initial(campaign: Campaign) -> dict:
    return {
        "name": campaign.name,
        "subject": campaign.subject,
        "preview_text": campaign.preview_text,
        "template": campaign.template_id,
        "content": campaign.content,
        "lists": list(campaign.lists.values_list("pk", flat=True)),
        "segments": list(campaign.segments.values_list("pk", flat=True)),
        "excluded_lists": list(campaign.excluded_lists.values_list("pk", flat=True)),
        "excluded_segments": list(campaign.excluded_segments.values_list("pk", flat=True)),
        "from_name": campaign.from_name,
        "from_email": campaign.from_email,
        "reply_to": campaign.reply_to,
    }


@company_view(min_role=Role.MARKETER)
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_campaign(request, campaign_id)
    form = CampaignForm(posted(request), initial=_initial(campaign), company=request.company)
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_update(campaign=campaign, data=form.service_data())
        except ValidationError as exc:
            add_service_errors(form, exc, SERVICE_FIELD_NAMES)
            campaign.refresh_from_db()
        else:
            messages.success(request, "Campaign saved.")
            return redirect_after_write(request, reverse("campaigns:campaign_detail", args=[campaign.pk]))
    return _editor(request, form, campaign, 400 if form.errors else 200)


@company_view()
@require_POST
def campaign_delete(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_campaign(request, campaign_id)
    name = campaign.name
    try:
        services.campaign_delete(campaign=campaign)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect_after_write(request, reverse("campaigns:campaign_detail", args=[campaign.pk]))
    messages.success(request, f"Deleted the campaign {name}.")
    return redirect_after_write(request, reverse("campaigns:campaigns"))


@company_view()
@require_GET
def audience_count(request: HttpRequest) -> HttpResponse:
    """The editor's live recipient count: mailable contacts of the chosen audience, right now."""
    form = AudienceForm(request.GET, company=request.company)
    count = None
    if form.is_valid():
        ids = form.audience_ids()
        if ids["list_ids"] or ids["segment_ids"]:
            count = audience.audience_count(request.company, **ids)
    response = render(request, "campaigns/_audience_count.html", {"audience_count": count, "form": form})
    response["Vary"] = "HX-Request"
    return response


def detail_context(request: HttpRequest, campaign: Campaign, **forms) -> dict:
    return {
        "campaign": campaign,
        "progress": delivery.progress(campaign),
        "live": campaign.status in LIVE_STATUSES,
        "time_zone": settings.TIME_ZONE,
        "can_edit": can_edit(request),
        "schedule_form": forms.get("schedule_form") or ScheduleForm(),
        "test_form": forms.get("test_form") or TestSendForm(),
        "lists": campaign.lists.all(),
        "segments": campaign.segments.all(),
        "excluded_lists": campaign.excluded_lists.all(),
        "excluded_segments": campaign.excluded_segments.all(),
    }


@company_view()
@require_GET
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The campaign, its sending actions and its progress (the partial its page polls while it sends)."""
    campaign = get_campaign(request, campaign_id)
    return render_page(
        request, "campaigns/campaign_detail.html", "campaigns/_campaign_status.html", detail_context(request, campaign)
    )


@company_view()
@require_GET
def campaign_preview(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The campaign as a chosen contact gets it (or with every default), in a sandboxed iframe."""
    campaign = get_campaign(request, campaign_id)
    form = PreviewForm(request.GET)
    contact_id = form.cleaned_data.get("contact") if form.is_valid() else None
    contacts = Contact.objects.for_company(request.company)
    contact = contacts.filter(pk=contact_id).first() if contact_id else None
    choices = list(
        audience.audience_contacts(
            request.company,
            list_ids=list(campaign.lists.values_list("pk", flat=True)),
            segment_ids=list(campaign.segments.values_list("pk", flat=True)),
            excluded_list_ids=list(campaign.excluded_lists.values_list("pk", flat=True)),
            excluded_segment_ids=list(campaign.excluded_segments.values_list("pk", flat=True)),
        ).order_by("pk")[:PREVIEW_CHOICES]
    )
    if contact is not None and contact not in choices:
        choices.insert(0, contact)
    error = ""
    try:
        preview = rendering.render_preview(campaign, contact)
    except ValidationError as exc:
        preview, error = None, " ".join(exc.messages)
    context = {
        "campaign": campaign,
        "contact": contact,
        "choices": choices,
        "preview": preview,
        "error": error,
        "not_found": bool(contact_id) and contact is None,
    }
    response = render_page(request, "campaigns/campaign_preview.html", "campaigns/_preview.html", context)
    return allow_email_preview(response)
