"""The contacts API: contacts, lists, custom fields, key information, blacklist (the Salloq Marketing API,
SALESmanago API v3 and Splio Data API 1.9).

Views validate with a serializer, call a service (writes) or a selector (reads), and render.
Every view scopes through CompanyScopedAPIView: another company's row is a 404.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.plumbing import force_instance
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from contacts import selectors, services
from contacts.bulk import contact_list_add_members, contacts_bulk_upsert
from contacts.consent_policy import ConsentContext, consent_with
from contacts.filters import ContactFilterSet
from contacts.models import (
    Contact,
    ContactList,
    ContactStatus,
    CustomField,
    FieldType,
    MembershipStatus,
    Suppression,
)
from salloq.core.api.fields import EMAIL_SCHEMA, NO_NUL, NOT_BLANK, NormalizedEmailField
from salloq.core.api.parsers import item_input_errors
from salloq.core.api.scoping import CompanyScopedAPIView
from salloq.core.api.service_errors import service_errors
from salloq.core.client_ip import client_ip
from salloq.core.errors import ApiError
from salloq.core.models import Company, Scope
from salloq.core.pagination import MAX_PER_PAGE, PagePagination
from salloq.core.schema import ErrorSerializer, SalloqAutoSchema

from . import serializers as s

# A write refused only because another row holds the name or address (salloq.core.api.service_errors).
CONTACT_CONFLICT = OpenApiResponse(
    ErrorSerializer, description="Conflict: another contact of the company already has this email or external_id."
)
LIST_CONFLICT = OpenApiResponse(ErrorSerializer, description="Conflict: another list of the company has this name.")
FIELD_CONFLICT = OpenApiResponse(ErrorSerializer, description="Conflict: a custom field with this name exists.")


def consent_context(request, given: dict | None) -> ConsentContext:
    """A request's consent: fresh when the body carries "consent" (the contact just opted in),
    otherwise an API call recorded with the caller's address, which re-subscribes nobody."""
    caller = ConsentContext(
        source="api", ip_address=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
    )
    return consent_with(caller, given)


class ContactsAutoSchema(SalloqAutoSchema):
    """A body that must carry one of several fields (AnyOfRequiredSerializer) is a required body.
    A view's `request_any_of` states rules between a body's fields that the serializer checks."""

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        instance = force_instance(serializer)
        if isinstance(instance, s.AnyOfRequiredSerializer) and instance.any_of_required:
            required = True
        any_of = getattr(self.view, "request_any_of", None)
        if any_of and self.method == "POST":
            schema = {"allOf": [schema], "anyOf": any_of}
        return schema, required


class ContactsAPIView(CompanyScopedAPIView):
    schema = ContactsAutoSchema()
    read_scope = Scope.CONTACTS_READ
    write_scope = Scope.CONTACTS_WRITE
    lookup_value_regex = "[0-9]+"

    def get_company(self) -> Company:
        if not hasattr(self, "_company"):
            self._company = Company.objects.get(pk=self.request.auth.company_id)
        return self._company

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "company_id": self.request.auth.company_id}


# What ContactFilterSet takes, stated exactly: list ids are whole numbers (django-filter would say
# any number), and an empty value means "no filter".
LIST_ID = OpenApiParameter(
    "list_id",
    {"anyOf": [{"type": "integer", "minimum": 1, "maximum": s.MAX_ID}, {"type": "string", "maxLength": 0}]},
    description="Contacts subscribed to (or pending on) this list.",
)
STATUS = OpenApiParameter(
    "status", {"type": "string", "enum": ["", *ContactStatus.values]}, description="Contact status"
)
SEARCH = OpenApiParameter(
    "search", {"type": "string", "pattern": NO_NUL, "maxLength": 200}, description="Words in name or email"
)
TAG = OpenApiParameter("tag", {"type": "string", "pattern": NO_NUL, "maxLength": 100}, description="Has this tag")
INCLUDE_ERASED = OpenApiParameter(
    "include_erased",
    OpenApiTypes.BOOL,
    description="Also list erased (GDPR-deleted) contacts, which keep their id but no personal data.",
)


@extend_schema(tags=["contacts"])
class ContactViewSet(ContactsAPIView, viewsets.GenericViewSet):
    """Contacts (the Salloq Marketing API): list with filters, upsert, read, replace, change, erase, bulk
    upsert, export."""

    queryset = Contact.objects.all()
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilterSet
    pagination_class = PagePagination.keyed("contacts")

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action != "list":
            # Erased (Splio semantics): unknown to the API; only the list shows them, with include_erased.
            queryset = queryset.filter(erased_at__isnull=True)
        return selectors.contacts_with_relations(queryset)

    @property
    def item_list_field(self) -> str | None:
        """The parser reports problems inside a bulk item per item (salloq.core.api.parsers)."""
        return "contacts" if self.action == "bulk" else None

    def _contact_response(self, contact_id: int, warnings: list[str], code: int = status.HTTP_200_OK) -> Response:
        contact = self.get_queryset().get(pk=contact_id)
        body = s.ContactSerializer(contact).data
        if warnings:
            body["warnings"] = warnings
        return Response(body, status=code)

    @extend_schema(parameters=[STATUS, LIST_ID, SEARCH, TAG, INCLUDE_ERASED])
    def list(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        if not _flag(request, "include_erased"):
            queryset = queryset.filter(erased_at__isnull=True)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.ContactSerializer(page, many=True).data)

    @extend_schema(
        request=s.ContactInputSerializer,
        responses={201: s.ContactWithWarningsSerializer, 200: s.ContactWithWarningsSerializer, 409: CONTACT_CONFLICT},
        description=(
            "Create or update a contact (upsert): found by `external_id`, else by `email`. 201 when created, "
            "200 when updated. Tags and properties are merged into what the contact has. An unsubscribed, "
            "bounced or blacklisted contact is only subscribed again when the request carries `consent`."
        ),
    )
    def create(self, request):
        serializer = s.ContactInputSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with service_errors():
            result = services.contact_upsert(
                company=self.get_company(), data=data, consent=consent_context(request, data.consent)
            )
        return self._contact_response(
            result.contact.pk, result.warnings, status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )

    def retrieve(self, request, pk=None):
        return Response(s.ContactSerializer(self.get_object()).data)

    @extend_schema(
        request=s.ContactInputSerializer,
        responses={200: s.ContactWithWarningsSerializer, 409: CONTACT_CONFLICT},
        description=(
            "Replace the contact: attributes and properties left out are cleared, tags become exactly "
            "those given (none if left out). Custom fields and lists given are applied. The status "
            "changes only when given, under the same consent rules as the upsert."
        ),
    )
    def update(self, request, pk=None):
        return self._update(request, s.ContactInputSerializer, replace=True)

    @extend_schema(
        request=s.ContactPatchSerializer,
        responses={200: s.ContactWithWarningsSerializer, 409: CONTACT_CONFLICT},
        description=(
            "Change what is given: properties are merged, tags given replace the contact's, null clears "
            "an identifier (the contact must keep an email, external_id or phone)."
        ),
    )
    def partial_update(self, request, pk=None):
        return self._update(request, s.ContactPatchSerializer, replace=False)

    def _update(self, request, serializer_class, *, replace: bool) -> Response:
        contact = self.get_object()
        serializer = serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with service_errors():
            warnings = services.contact_update(
                contact=contact, data=data, consent=consent_context(request, data.consent), replace=replace
            )
        return self._contact_response(contact.pk, warnings)

    @extend_schema(
        request=None,
        responses={200: s.ContactErasedSerializer},
        description=(
            "Erase the contact's personal data (Splio semantics): attributes, tags, properties, custom "
            "fields, key information and list memberships go; the row stays, anonymized, so its events "
            "and orders stay countable. From then on the contact is unknown: GET, PUT, PATCH, export and "
            "DELETE answer 404, and an upsert with the same address creates a new contact. "
            "`GET /api/contacts?include_erased=true` still lists the anonymized row."
        ),
    )
    def destroy(self, request, pk=None):
        contact = services.contact_erase(contact=self.get_object())
        return Response({"contact_id": contact.pk, "erased": True})

    @extend_schema(
        request=s.BulkRequestSerializer,
        responses=s.BulkResponseSerializer,
        description="Upsert up to 1000 contacts in one request; one result per item, in order.",
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        item_errors = item_input_errors(request)
        serializer = s.BulkRequestSerializer(data=request.data, context={"item_errors": item_errors})
        serializer.is_valid(raise_exception=True)
        results = contacts_bulk_upsert(
            company=self.get_company(),
            items=serializer.validated_data["contacts"],
            consent=consent_context(request, serializer.validated_data.get("consent")),
            item_errors=item_errors,
        )
        body = {"results": [], "created": 0, "updated": 0, "failed": 0}
        for result in results:
            row = {"index": result.index, "status": result.status, "contact_id": result.contact_id}
            if result.errors:
                row["errors"] = result.errors
            if result.warnings:
                row["warnings"] = result.warnings
            body["results"].append(row)
            body["failed" if result.status == "error" else result.status] += 1
        return Response(body)

    @extend_schema(
        responses=s.ContactExportSerializer,
        description="Everything stored about the contact (GDPR access request), as one JSON document.",
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        return Response(s.ContactExportSerializer(selectors.contact_export(contact=self.get_object())).data)


def _flag(request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw.lower() in ("0", "false"):
        return False
    if raw.lower() in ("1", "true"):
        return True
    raise serializers.ValidationError({name: [f"'{raw}' is not a boolean; use true/false or 1/0."]})


# --- Lists -----------------------------------------------------------------------------------------


@extend_schema(tags=["lists"])
class ContactListViewSet(
    ContactsAPIView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Static lists with member counts; members are added, listed and unsubscribed per list."""

    queryset = ContactList.objects.all()
    serializer_class = s.ContactListSerializer
    pagination_class = PagePagination.keyed("lists")

    def get_queryset(self):
        return selectors.contact_lists_with_counts(super().get_queryset())

    @extend_schema(responses={201: s.ContactListSerializer, 409: LIST_CONFLICT})
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            contact_list = services.contact_list_create(company=self.get_company(), **serializer.validated_data)
        return self._list_response(contact_list.pk, status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.ContactListSerializer, 409: LIST_CONFLICT})
    def update(self, request, pk=None):
        return self._update(request, partial=False)

    @extend_schema(responses={200: s.ContactListSerializer, 409: LIST_CONFLICT})
    def partial_update(self, request, pk=None):
        return self._update(request, partial=True)

    def _update(self, request, *, partial: bool) -> Response:
        contact_list = self.get_object()
        serializer = self.get_serializer(contact_list, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            services.contact_list_update(contact_list=contact_list, data=serializer.validated_data)
        return self._list_response(contact_list.pk)

    def _list_response(self, list_id: int, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=list_id)).data, status=code)

    @extend_schema(
        request=None,
        responses={200: s.ListDeletedSerializer},
        description="Delete the list and its memberships; the contacts stay.",
    )
    def destroy(self, request, pk=None):
        contact_list = self.get_object()
        list_id = contact_list.pk
        services.contact_list_delete(contact_list=contact_list)
        return Response({"list_id": list_id, "deleted": True})

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status", {"type": "string", "enum": ["", *MembershipStatus.values]}, description="Membership status"
            ),
            OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="Page number (default 1)."),
            OpenApiParameter(
                "per_page",
                {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                description=f"Results per page (default 20, max {MAX_PER_PAGE}).",
            ),
        ],
        responses=s.ListMembersPageSerializer,
        description="The list's members with their membership status and its timestamps, newest first.",
    )
    @action(detail=True, methods=["get"])
    def members(self, request, pk=None):
        contact_list = self.get_object()
        member_status = request.query_params.get("status") or None
        if member_status is not None and member_status not in MembershipStatus.values:
            raise serializers.ValidationError(
                {"status": [f"Unknown status '{member_status}'; use {', '.join(MembershipStatus.values)}."]}
            )
        paginator = PagePagination.keyed("members")()
        page = paginator.paginate_queryset(
            selectors.list_members(contact_list=contact_list, status=member_status), request, self
        )
        return paginator.get_paginated_response(s.ListMemberSerializer(page, many=True).data)

    @extend_schema(
        request=s.ListMembersAddSerializer,
        responses=s.ListMembersAddResponseSerializer,
        description=(
            "Subscribe contacts, by id or by email (unknown addresses become new contacts), one result "
            "per item. On a double opt-in list new members stay pending until they confirm by email. "
            "A contact who left the list rejoins only when the request carries `consent`."
        ),
    )
    @members.mapping.post
    def add_members(self, request, pk=None):
        contact_list = self.get_object()
        serializer = s.ListMembersAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        added = contact_list_add_members(
            contact_list=contact_list,
            contact_ids=data.get("contact_ids", []),
            emails=data.get("emails", []),
            consent=consent_context(request, data.get("consent")),
        )
        results = []
        for item in added:
            if item.errors:
                results.append({"contact_id": item.contact_id, **item.given, "status": "error", "errors": item.errors})
                continue
            row = {**item.given, "contact_id": item.contact_id, "status": item.status}
            if item.warnings:
                row["warnings"] = item.warnings
            results.append(row)
        return Response({"results": results})

    @extend_schema(
        request=None,
        responses={200: s.ListMemberSerializer},
        description="Unsubscribe the contact from this list; the membership stays, unsubscribed, with its time.",
    )
    # At most 19 digits (a bigint): a 5,000-digit id is no route (404), not a ValueError in the lookup.
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<contact_id>[0-9]{1,19})")
    def remove_member(self, request, pk=None, contact_id=None):
        contact_list = self.get_object()
        membership = get_object_or_404(selectors.list_members(contact_list=contact_list), contact_id=contact_id)
        services.list_unsubscribe(
            contact=membership.contact, contact_list=contact_list, consent=consent_context(request, None)
        )
        membership.refresh_from_db()
        return Response(s.ListMemberSerializer(membership).data)


# --- Custom fields -----------------------------------------------------------------------------------


@extend_schema(tags=["contacts"])
class CustomFieldsView(ContactsAPIView):
    """Custom contact fields (Splio's `fields`), typed: text, number, date, boolean, choice."""

    queryset = CustomField.objects.all()
    serializer_class = s.CustomFieldSerializer
    # A choice field needs its allowed values (services.custom_field_create); other types ignore them.
    request_any_of = [
        {"properties": {"type": {"enum": [kind for kind in FieldType.values if kind != FieldType.CHOICE]}}},
        {"properties": {"type": {"enum": [FieldType.CHOICE]}, "choices": {"minItems": 1}}, "required": ["choices"]},
    ]

    @extend_schema(operation_id="fields_list", responses=s.CustomFieldListSerializer)
    def get(self, request):
        return Response(s.CustomFieldListSerializer({"fields": self.get_queryset()}).data)

    @extend_schema(operation_id="fields_create", responses={201: s.CustomFieldSerializer, 409: FIELD_CONFLICT})
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with service_errors():
            custom_field = services.custom_field_create(
                company=self.get_company(),
                name=data["name"],
                field_type=data["field_type"],
                choices=data.get("choices"),
            )
        return Response(self.get_serializer(custom_field).data, status=status.HTTP_201_CREATED)


# --- Key information (SALESmanago API v3) ------------------------------------------------------------------------


class KeyInformationAPIView(ContactsAPIView):
    queryset = Contact.objects.all()

    def find_contact(self, *, email: str | None, contact_id: int | None) -> Contact:
        """The contact with this id and/or this email; given both, they must name the same contact."""
        contacts = self.get_queryset().filter(erased_at__isnull=True)  # an erased contact is unknown
        if contact_id is not None:
            contacts = contacts.filter(pk=contact_id)
        if email is not None:
            contacts = contacts.filter(email=email)
        contact = contacts.first()
        if contact is None:
            raise ApiError(404, "Not Found", "No contact with this email and/or contactId.")
        return contact

    def answer(self, contact: Contact, name: str | None = None) -> Response:
        entries = selectors.key_information_get(contact=contact, name=name)
        return Response(s.KeyInformationResponseSerializer({"contactId": contact.pk, "keyInformation": entries}).data)


@extend_schema(tags=["key information"])
class KeyInformationUpsertView(KeyInformationAPIView):
    """POST /api/key-information/upsert (SALESmanago API v3's keyInformation/upsert)."""

    serializer_class = s.KeyInformationUpsertSerializer

    @extend_schema(
        operation_id="key_information_upsert",
        request=s.KeyInformationUpsertSerializer,
        responses=s.KeyInformationResponseSerializer,
        description=(
            "Add or update a contact's key information (zero-party data): named numeric and text values. "
            "`setAsNull` clears the named values. Answers with all the contact's stored values."
        ),
    )
    def post(self, request):
        serializer = s.KeyInformationUpsertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        contact = self.find_contact(email=data.get("email"), contact_id=data.get("contactId"))
        with service_errors():
            services.key_information_upsert(
                contact=contact,
                numeric=data["keyInformation"].get("numeric"),
                text=data["keyInformation"].get("text"),
                set_as_null=data.get("setAsNull"),
            )
        return self.answer(contact)


# `email` and/or `contactId`: OpenAPI states "at least one of two query parameters" only as the
# properties of one object parameter, exploded into a query parameter each.
CONTACT_IN_QUERY = OpenApiParameter(
    "contact",
    {
        "type": "object",
        "properties": {
            "email": dict(EMAIL_SCHEMA),
            "contactId": {"type": "integer", "format": "int64", "minimum": 1, "maximum": s.MAX_ID},
        },
        "anyOf": [{"required": ["email"]}, {"required": ["contactId"]}],
    },
    required=True,
    style="form",
    explode=True,
    description="The contact, by `email` and/or `contactId` (each its own query parameter).",
)
KEY_INFORMATION_NAME = OpenApiParameter(
    "name", {"type": "string", "pattern": NOT_BLANK, "maxLength": 255}, description="Only this value."
)


@extend_schema(tags=["key information"])
class KeyInformationView(KeyInformationAPIView):
    """GET /api/key-information (SALESmanago API v3's keyInformation/get)."""

    serializer_class = s.KeyInformationQuerySerializer

    @extend_schema(
        operation_id="key_information_get",
        parameters=[CONTACT_IN_QUERY, KEY_INFORMATION_NAME],
        responses=s.KeyInformationResponseSerializer,
        description=(
            "A contact's key information, all of it or the one value named by `name`. The contact is named by "
            "`email` or `contactId`; given both, they must name the same contact (else 404)."
        ),
    )
    def get(self, request):
        # A plain dict, not the QueryDict: DRF would take "email=" as "no email" instead of refusing it.
        serializer = s.KeyInformationQuerySerializer(data=request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        contact = self.find_contact(email=data.get("email"), contact_id=data.get("contactId"))
        return self.answer(contact, data.get("name"))


# --- Blacklist (Splio Data API 1.9) -----------------------------------------------------------------------------

EMAIL_IN_PATH = OpenApiParameter(
    "email",
    EMAIL_SCHEMA,
    OpenApiParameter.PATH,
    description="The address, URL-encoded (+ as %2B, @ as %40 or literal).",
)
NOT_BLACKLISTED = "email not blacklisted."


@extend_schema(tags=["blacklist"], parameters=[EMAIL_IN_PATH])
class BlacklistView(ContactsAPIView):
    """The blacklist (Splio Data API 1.9): an address on it is never mailed, whatever list or segment it is in."""

    queryset = Suppression.objects.all()
    serializer_class = s.BlacklistInputSerializer
    lookup_field = "email"

    def _email(self, raw: str) -> str:
        try:
            return NormalizedEmailField().run_validation(raw)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"email": exc.detail}) from None

    def _entry(self, raw: str) -> Suppression:
        # Looking up needs no valid address: one that is not valid is simply not on the blacklist.
        entry = self.get_queryset().filter(email=raw.strip().lower()).first()
        if entry is None:
            raise ApiError(404, "Not Found", NOT_BLACKLISTED)
        return entry

    @extend_schema(
        operation_id="blacklist_check",
        responses=s.BlacklistEntrySerializer,
        description="200 if the address is blacklisted, 404 if not (Splio Data API 1.9).",
    )
    def get(self, request, email: str):
        return Response(s.BlacklistEntrySerializer(self._entry(email)).data)

    @extend_schema(
        operation_id="blacklist_add",
        request=s.BlacklistInputSerializer,
        responses={201: s.BlacklistEntrySerializer, 200: s.BlacklistEntrySerializer},
        description="Blacklist the address: 201 when added, 200 when it already was.",
    )
    def put(self, request, email: str):
        address = self._email(email)
        serializer = s.BlacklistInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            entry, created = services.suppression_add(
                company=self.get_company(),
                email=address,
                reason=serializer.validated_data.get("reason", ""),
                consent=consent_context(request, None),
            )
        return Response(
            s.BlacklistEntrySerializer(entry).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        operation_id="blacklist_add_post",
        request=s.BlacklistInputSerializer,
        responses={201: s.BlacklistEntrySerializer, 200: s.BlacklistEntrySerializer},
        description="Same as PUT (Splio Data API 1.9 accepts both).",
    )
    def post(self, request, email: str):
        return self.put(request, email)

    @extend_schema(
        operation_id="blacklist_remove",
        request=None,
        responses={200: s.BlacklistRemovedSerializer},
        description="Take the address off the blacklist: 200, or 404 if it was not on it.",
    )
    def delete(self, request, email: str):
        entry = self._entry(email)
        services.suppression_remove(
            company=self.get_company(), email=entry.email, consent=consent_context(request, None)
        )
        return Response({"email": entry.email, "blacklisted": False})
