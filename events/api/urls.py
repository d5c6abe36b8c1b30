from django.urls import re_path

from . import views

urlpatterns = [
    re_path(r"^events/batch/?$", views.EventBatchView.as_view(), name="events-batch"),
    re_path(r"^events/?$", views.EventsView.as_view(), name="events"),
    re_path(r"^contacts/(?P<pk>[0-9]+)/events/?$", views.ContactEventListView.as_view(), name="contact-events"),
]
