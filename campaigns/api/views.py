"""Campaigns and templates in the Salloq Marketing API (campaigns:read / campaigns:write).

GET/POST /api/campaigns, GET/PUT/PATCH/DELETE /api/campaigns/{id}, POST /api/campaigns/send/{id},
POST /api/campaigns/{id}/pause|resume|cancel|test, GET /api/campaigns/{id}/stats, and
GET/POST /api/templates, GET/PUT/PATCH/DELETE /api/templates/{id}.

Views validate JSON types with a serializer and call campaigns.services (edits),
campaigns.delivery (sending) or a selector (reads). Every lookup goes through
CompanyScopedAPIView: another company's campaign or template is a 404.
"""

from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from salloq.core.api.scoping import CompanyScopedAPIView
from salloq.core.api.service_errors import service_errors
from salloq.core.models import Company, Scope
from salloq.core.pagination import PagePagination
from salloq.core.schema import ErrorSerializer, SalloqAutoSchema

from .. import delivery, services
from ..models import Campaign, CampaignStatus, CampaignType, EmailTemplate
from ..selectors import campaigns as selectors
from ..selectors.stats import campaign_stats
from . import serializers as s

TEMPLATE_CONFLICT = OpenApiResponse(ErrorSerializer, description="Conflict: another template has this name.")


class CampaignsAPIView(CompanyScopedAPIView):
    schema = SalloqAutoSchema()
    read_scope = Scope.CAMPAIGNS_READ
    write_scope = Scope.CAMPAIGNS_WRITE
    lookup_value_regex = "[0-9]+"

    def get_company(self) -> Company:
        if not hasattr(self, "_company"):
            self._company = Company.objects.get(pk=self.request.auth.company_id)
        return self._company

    def campaign_answer(self, campaign_id: int, code: int = status.HTTP_200_OK) -> Response:
        campaign = selectors.campaign_detail(self.request.auth.company_id, campaign_id)
        return Response(s.CampaignSerializer(campaign).data, status=code)


def _input(serializer_class, request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


CAMPAIGN_FILTERS = [
    OpenApiParameter("type", {"type": "string", "enum": ["", *CampaignType.values]}, description="email or sms"),
    OpenApiParameter("status", {"type": "string", "enum": ["", *CampaignStatus.values]}, description="Status"),
]


def _filter(request, name: str, allowed: list[str]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in allowed:
        raise serializers.ValidationError({name: [f"Unknown {name} '{value}'; use {', '.join(allowed)}."]})
    return value


@extend_schema(tags=["campaigns"])
class CampaignViewSet(CampaignsAPIView, viewsets.GenericViewSet):
    """Email campaigns (the Salloq Marketing API): create and edit while a draft, send, follow."""

    queryset = Campaign.objects.all()
    serializer_class = s.CampaignSerializer
    pagination_class = PagePagination.keyed("campaigns")

    @extend_schema(
        parameters=CAMPAIGN_FILTERS,
        description="The company's campaigns, newest first, with their key numbers.",
    )
    def list(self, request):
        campaigns = selectors.campaign_list(
            request.auth.company_id,
            type=_filter(request, "type", CampaignType.values),
            status=_filter(request, "status", CampaignStatus.values),
        )
        page = self.paginate_queryset(campaigns)
        return self.get_paginated_response(s.CampaignSerializer(page, many=True).data)

    @extend_schema(
        request=s.CampaignInputSerializer,
        responses={201: s.CampaignSerializer},
        description=(
            "Create a draft campaign; the answer carries its `campaign_id`. `list_id` (or `list_ids`, "
            "`segment_ids`, with `excluded_list_ids` and `excluded_segment_ids`) name the audience: ids of the "
            "company's own lists and segments. Personalization errors are a 400 naming the field with its line. "
            "`scheduled_at` is the planned time; nothing is sent before POST /api/campaigns/send/{campaign_id}."
        ),
    )
    def create(self, request):
        data = _input(s.CampaignInputSerializer, request)
        with service_errors():
            campaign = services.campaign_create(company=self.get_company(), data=data)
        return self.campaign_answer(campaign.pk, status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return self.campaign_answer(self.get_object().pk)

    @extend_schema(
        request=s.CampaignInputSerializer,
        responses={200: s.CampaignSerializer},
        description=(
            "Replace the campaign: fields left out go back to their defaults (empty, no audience). Once sending "
            "started only the name may change: any other change is a 400 naming the field."
        ),
    )
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(
        request=s.CampaignInputSerializer(partial=True),
        responses={200: s.CampaignSerializer},
        description="Change the fields given. Once sending started only the name may change.",
    )
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool) -> Response:
        request.data  # noqa: B018 - a body no view could take is a 400 before the lookup's 404
        campaign = self.get_object()
        data = _input(s.CampaignInputSerializer, request, partial=partial)
        with service_errors():
            services.campaign_update(campaign=campaign, data=data, replace=not partial)
        return self.campaign_answer(campaign.pk)

    @extend_schema(
        request=None,
        responses={200: s.CampaignDeletedSerializer},
        description="Delete the campaign with its figures. Not while sending or paused: cancel it first (400).",
    )
    def destroy(self, request, pk=None):
        campaign = self.get_object()
        with service_errors():
            services.campaign_delete(campaign=campaign)
        return Response({"campaign_id": campaign.pk, "deleted": True})

    def _transition(self, change) -> Response:
        campaign = self.get_object()
        with service_errors():
            change(campaign=campaign)
        return self.campaign_answer(campaign.pk)

    @extend_schema(
        operation_id="campaigns_pause",
        request=None,
        responses={200: s.CampaignSerializer},
        description="Pause a sending campaign: workers stop after their batch; nobody is skipped or repeated.",
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._transition(delivery.pause_campaign)

    @extend_schema(
        operation_id="campaigns_resume",
        request=None,
        responses={200: s.CampaignSerializer},
        description="Resume a paused campaign where it stopped.",
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._transition(delivery.resume_campaign)

    @extend_schema(
        operation_id="campaigns_cancel",
        request=None,
        responses={200: s.CampaignSerializer},
        description="Cancel a scheduled, sending or paused campaign; recipients not yet sent to are skipped.",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._transition(delivery.cancel_campaign)

    @extend_schema(
        operation_id="campaigns_test",
        request=s.CampaignTestSerializer,
        responses={200: s.CampaignTestResultSerializer},
        description="Send the campaign as it is now to these addresses, with a '[Test] ' subject and no tracking.",
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        request.data  # noqa: B018 - a body no view could take is a 400 before the lookup's 404
        campaign = self.get_object()
        emails = _input(s.CampaignTestSerializer, request)["emails"]
        with service_errors():
            sent = delivery.send_test(campaign=campaign, emails=emails)
        return Response({"campaign_id": campaign.pk, "sent": sent, "emails": emails})

    @extend_schema(
        operation_id="campaigns_stats",
        responses={200: s.CampaignStatsSerializer},
        description="The campaign's report: delivery, unique and total opens and clicks, clicks per link, over time.",
    )
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        campaign = self.get_object()
        return Response(s.CampaignStatsSerializer({"campaign_id": campaign.pk, **campaign_stats(campaign)}).data)


def send_time(campaign: Campaign, requested: datetime | None) -> datetime | None:
    """When POST /api/campaigns/send/{id} sends: the time it gives; else the campaign's planned
    scheduled_at while that is still ahead; else now (None)."""
    if requested is not None:
        return services.in_site_time_zone(requested)
    if campaign.scheduled_at is not None and campaign.scheduled_at > timezone.now():
        return campaign.scheduled_at
    return None


@extend_schema(tags=["campaigns"])
class CampaignSendView(CampaignsAPIView):
    """POST /api/campaigns/send/{campaign_id}: the Salloq Marketing API's "Send or schedule a campaign"."""

    queryset = Campaign.objects.all()
    lookup_url_kwarg = "campaign_id"

    @extend_schema(
        operation_id="campaigns_send",
        parameters=[OpenApiParameter("campaign_id", int, OpenApiParameter.PATH, description="The campaign.")],
        request=s.CampaignSendSerializer,
        responses={200: s.CampaignSerializer},
        description=(
            'Send the campaign now, or schedule it: {"scheduled_at": "2024-06-15 09:00:00"} (the body is '
            "optional). Without a time it goes at its planned scheduled_at when that is still ahead, else at "
            "once. The audience is taken when sending starts. A time in the past, an sms campaign, or a campaign "
            "not in draft or scheduled is a 400 naming the field. The answer is the campaign (status sending or "
            "scheduled)."
        ),
    )
    def post(self, request, campaign_id: str):
        request.data  # noqa: B018 - a body no view could take is a 400 before the lookup's 404
        campaign = self.get_object()
        requested = _input(s.CampaignSendSerializer, request).get("scheduled_at")
        with service_errors():
            delivery.send_campaign(campaign=campaign, scheduled_at=send_time(campaign, requested))
        return self.campaign_answer(campaign.pk)


# --- Templates -------------------------------------------------------------------------------------


@extend_schema(tags=["templates"])
class TemplateViewSet(CampaignsAPIView, viewsets.GenericViewSet):
    """Reusable layouts: a campaign's content goes where the template says {{ content }}."""

    queryset = EmailTemplate.objects.all()
    serializer_class = s.TemplateSerializer
    pagination_class = PagePagination.keyed("templates")

    def list(self, request):
        page = self.paginate_queryset(selectors.template_list(request.auth.company_id))
        return self.get_paginated_response(s.TemplateSerializer(page, many=True).data)

    @extend_schema(responses={201: s.TemplateSerializer, 409: TEMPLATE_CONFLICT})
    def create(self, request):
        data = _input(s.TemplateSerializer, request)
        with service_errors():
            template = services.template_create(company=self.get_company(), data=data)
        return Response(s.TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(s.TemplateSerializer(self.get_object()).data)

    @extend_schema(responses={200: s.TemplateSerializer, 409: TEMPLATE_CONFLICT})
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(responses={200: s.TemplateSerializer, 409: TEMPLATE_CONFLICT})
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool) -> Response:
        request.data  # noqa: B018 - a body no view could take is a 400 before the lookup's 404
        template = self.get_object()
        data = _input(s.TemplateSerializer, request, partial=partial)
        with service_errors():
            template = services.template_update(template=template, data=data)
        return Response(s.TemplateSerializer(template).data)

    @extend_schema(
        request=None,
        responses={200: s.TemplateDeletedSerializer},
        description="Delete the template; refused (400) while a campaign not yet sent uses it.",
    )
    def destroy(self, request, pk=None):
        template = self.get_object()
        template_id = template.pk
        with service_errors():
            services.template_delete(template=template)
        return Response({"template_id": template_id, "deleted": True})
