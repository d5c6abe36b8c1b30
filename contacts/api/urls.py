from django.urls import re_path

from salloq.core.api.routers import OptionalSlashRouter

from . import segments, views

router = OptionalSlashRouter()
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("lists", views.ContactListViewSet, basename="contact-list")
router.register("segments", segments.SegmentViewSet, basename="segment")

urlpatterns = [
    re_path(r"^segments/count/?$", segments.SegmentDefinitionCountView.as_view(), name="segment-definition-count"),
    *router.urls,
    re_path(r"^fields/?$", views.CustomFieldsView.as_view(), name="custom-fields"),
    re_path(r"^key-information/upsert/?$", views.KeyInformationUpsertView.as_view(), name="key-information-upsert"),
    re_path(r"^key-information/?$", views.KeyInformationView.as_view(), name="key-information"),
    re_path(r"^blacklist/(?P<email>.+?)/?$", views.BlacklistView.as_view(), name="blacklist"),
]
