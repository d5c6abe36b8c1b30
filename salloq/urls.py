from django.contrib import admin
from django.urls import include, path, re_path

from campaigns.views import sending_settings as sending_settings_views
from contacts.views import consent as consent_views
from salloq.core import settings_views
from salloq.core import views as core_views
from salloq.core.api.views import CredentialsView

urlpatterns = [
    re_path(r"^api/?$", CredentialsView.as_view(), name="api-root"),
    path("api/", include("salloq.api_urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", core_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", core_views.LogoutView.as_view(), name="logout"),
    path("", core_views.dashboard, name="dashboard"),
    path("switch-company/", core_views.switch_company, name="switch_company"),
    path("settings/api-keys/", core_views.api_keys, name="api_keys"),
    path("settings/api-keys/<int:key_id>/revoke/", core_views.api_key_revoke_view, name="api_key_revoke"),
    path("settings/webhook/", core_views.webhook_secret, name="webhook_secret"),
    path("settings/", settings_views.company_settings_page, name="company_settings"),
    path("settings/invitations/", settings_views.invitation_create, name="invitation_create"),
    path(
        "settings/invitations/<int:invitation_id>/revoke/", settings_views.invitation_revoke, name="invitation_revoke"
    ),
    # Linked from the invitation email: the token is the credential (logged in or not).
    path("invitations/<str:token>/", settings_views.invitation_accept, name="invitation_accept"),
    path("contacts/", include("contacts.urls")),
    path("events/", include("events.urls")),
    path("catalog/", include("catalog.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("settings/sending/", sending_settings_views.sending_settings, name="sending_settings"),
    path("settings/shop/", include("connector.urls")),
    # Public consent pages, linked from emails: no login, the signed token is the credential.
    path("c/confirm/<str:token>/", consent_views.confirm, name="consent_confirm"),
    path("c/unsubscribe/<str:token>/", consent_views.unsubscribe, name="consent_unsubscribe"),
    path("c/preferences/<str:token>/", consent_views.preferences, name="consent_preferences"),
    # Campaign tracking (open pixel, tracked clicks, unsubscribe), linked from sent messages.
    path("t/", include("campaigns.tracking_urls")),
]

# The product's own error pages (templates/403.html, 404.html, 500.html) with a way back; 403 and
# 500 are Django's views rendering those templates.
handler404 = "salloq.core.views.page_not_found"
