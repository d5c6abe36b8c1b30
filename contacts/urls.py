from django.urls import path

from .views import audience_actions as audience_views
from .views import bulk_actions as bulk_views
from .views import contacts as views
from .views import imports as import_views
from .views import segments as segment_views

app_name = "contacts"

urlpatterns = [
    path("", views.contacts, name="contacts"),
    path("<int:contact_id>/", views.contact_detail, name="contact_detail"),
    path("<int:contact_id>/edit/", views.contact_edit, name="contact_edit"),
    path("<int:contact_id>/subscribe/", views.contact_subscribe, name="contact_subscribe"),
    path("<int:contact_id>/unsubscribe/", views.contact_unsubscribe, name="contact_unsubscribe"),
    path("<int:contact_id>/unsubscribe-all/", views.contact_unsubscribe_all, name="contact_unsubscribe_all"),
    path("<int:contact_id>/blacklist/", views.contact_blacklist, name="contact_blacklist"),
    path("<int:contact_id>/unblacklist/", views.contact_unblacklist, name="contact_unblacklist"),
    path("<int:contact_id>/erase/", views.contact_erase, name="contact_erase"),
    # Bulk actions from the contact list and their progress (contacts/views/bulk_actions.py)
    path("bulk/", bulk_views.contacts_bulk, name="bulk"),
    path("bulk/<int:bulk_action_id>/", bulk_views.bulk_action_detail, name="bulk_action_detail"),
    path("lists/", views.lists, name="lists"),
    path("lists/<int:list_id>/", views.list_detail, name="list_detail"),
    path("lists/<int:list_id>/edit/", views.list_edit, name="list_edit"),
    path("lists/<int:list_id>/delete/", views.list_delete, name="list_delete"),
    path("lists/<int:list_id>/members/", views.list_add_member, name="list_add_member"),
    path(
        "lists/<int:list_id>/resend-confirmations/",
        bulk_views.list_resend_confirmations,
        name="list_resend_confirmations",
    ),
    path(
        "lists/<int:list_id>/members/<int:contact_id>/unsubscribe/",
        views.list_remove_member,
        name="list_remove_member",
    ),
    path("fields/", views.fields, name="fields"),
    path("fields/<int:field_id>/edit/", audience_views.field_edit, name="field_edit"),
    path("fields/<int:field_id>/delete/", audience_views.field_delete, name="field_delete"),
    path("blacklist/", views.blacklist, name="blacklist"),
    path("blacklist/<int:suppression_id>/remove/", views.blacklist_remove, name="blacklist_remove"),
    # CSV import and export (contacts/views/imports.py)
    path("imports/", import_views.contact_imports, name="imports"),
    path("imports/new/<str:token>/", import_views.contact_import_mapping, name="import_mapping"),
    path("imports/<int:import_id>/", import_views.contact_import_detail, name="import_detail"),
    path("imports/<int:import_id>/errors.csv", import_views.contact_import_errors, name="import_errors"),
    path("lists/<int:list_id>/export.csv", import_views.list_export, name="list_export"),
    path("segments/<int:segment_id>/export.csv", import_views.segment_export, name="segment_export"),
    # Segments: list with live counts, rule builder with live count and preview (contacts/views/segments.py)
    path("segments/", segment_views.segments_list, name="segments"),
    path("segments/new/", segment_views.segment_create, name="segment_create"),
    path("segments/live/", segment_views.segment_live, name="segment_live"),
    path("segments/<int:segment_id>/", segment_views.segment_edit, name="segment_edit"),
    path("segments/<int:segment_id>/count/", segment_views.segment_count, name="segment_count"),
    path("segments/<int:segment_id>/delete/", segment_views.segment_delete, name="segment_delete"),
    path("segments/<int:segment_id>/duplicate/", audience_views.segment_duplicate, name="segment_duplicate"),
]
