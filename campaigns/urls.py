from django.urls import path

from .views import actions, outbox, reports, templates
from .views import campaigns as campaign_views

app_name = "campaigns"

urlpatterns = [
    path("", campaign_views.campaigns, name="campaigns"),
    path("new/", campaign_views.campaign_create, name="campaign_create"),
    path("audience-count/", campaign_views.audience_count, name="audience_count"),
    path("<int:campaign_id>/", campaign_views.campaign_detail, name="campaign_detail"),
    path("<int:campaign_id>/edit/", campaign_views.campaign_edit, name="campaign_edit"),
    path("<int:campaign_id>/delete/", campaign_views.campaign_delete, name="campaign_delete"),
    path("<int:campaign_id>/preview/", campaign_views.campaign_preview, name="campaign_preview"),
    path("<int:campaign_id>/report/", reports.campaign_report, name="campaign_report"),
    path("<int:campaign_id>/test/", actions.campaign_test, name="campaign_test"),
    path("<int:campaign_id>/send/", actions.campaign_send, name="campaign_send"),
    path("<int:campaign_id>/pause/", actions.campaign_pause, name="campaign_pause"),
    path("<int:campaign_id>/resume/", actions.campaign_resume, name="campaign_resume"),
    path("<int:campaign_id>/cancel/", actions.campaign_cancel, name="campaign_cancel"),
    path("templates/", templates.templates, name="templates"),
    path("templates/<int:template_id>/", templates.template_edit, name="template_edit"),
    path("templates/<int:template_id>/delete/", templates.template_delete, name="template_delete"),
    # What the embedded mail catcher received (campaigns.mailcatcher): linked when it runs.
    path("outbox/", outbox.outbox, name="outbox"),
    path("outbox/<int:outbox_message_id>/", outbox.outbox_message, name="outbox_message"),
    path("outbox/<int:outbox_message_id>/raw/", outbox.outbox_message_raw, name="outbox_message_raw"),
]
