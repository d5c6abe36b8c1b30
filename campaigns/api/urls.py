"""Campaigns and templates: the API routes (campaigns/api/views.py)."""

from django.urls import re_path

from salloq.core.api.routers import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("templates", views.TemplateViewSet, basename="template")

urlpatterns = [
    # At most 19 digits (a bigint): a longer id is no route (404), never a ValueError in the lookup.
    re_path(r"^campaigns/send/(?P<campaign_id>[0-9]{1,19})/?$", views.CampaignSendView.as_view(), name="campaign-send"),
    *router.urls,
]
