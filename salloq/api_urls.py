"""Every /api/ route below the credentials check (in salloq/urls.py).

Each app's api/urls.py, the schema and docs, and a JSON 404 for anything else.
"""

from django.urls import include, path, re_path

from events.webhooks import WebhookView
from salloq.core.api.schema_views import CachedSchemaView
from salloq.core.api.views import ApiDocsView, api_not_found

urlpatterns = [
    path("schema/", CachedSchemaView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("salloq.core.api.urls")),
    # Before contacts: it also serves /api/contacts/{id}/events.
    path("", include("events.api.urls")),
    path("", include("contacts.api.urls")),
    path("", include("catalog.api.urls")),
    path("", include("campaigns.api.urls")),
    # Signed by the company's webhook secret instead of an API key (the gateway lets it through).
    re_path(r"^webhook/?$", WebhookView.as_view(), name="webhook"),
    # [\s\S]: a path holding an encoded newline (%0A) is still an API 404, not Django's HTML page
    # (an inline (?s) flag would break Django's reverse()).
    re_path(r"^[\s\S]*$", api_not_found, name="api-not-found"),
]
