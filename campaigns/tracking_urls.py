"""Public tracking routes (/t/), linked from sent campaign messages: no login, outside /api/."""

from django.urls import path

from . import tracking_views

urlpatterns = [
    path("o/<str:token>.gif", tracking_views.open_pixel, name="campaign_track_open"),
    path("c/<str:token>/", tracking_views.click, name="campaign_track_click"),
    path("u/<str:token>/", tracking_views.unsubscribe, name="campaign_track_unsubscribe"),
]
