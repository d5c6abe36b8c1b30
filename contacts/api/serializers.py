"""Shapes of the contacts API: the Salloq Marketing API's names, and Splio Data API 1.9's and
SALESmanago API v3's forms where it is silent.

Input fields are strict about JSON types (a number is not silently a name) and about what the
database can store (lengths, no NUL characters, finite numbers), so bad input is a 400 naming the
field, never a 500 or a silently mangled row.
"""

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts.contact_input import (
    CONTACT_ATTRIBUTES,
    IDENTIFIERS,
    MAX_FIELD_VALUES,
    MAX_ID,
    MAX_JSON_DEPTH,
    MAX_LENGTHS,
    MAX_LISTS,
    MAX_PROPERTIES_CHARACTERS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    NEEDS_IDENTIFIER,
    PHONE_MAX_LENGTH,
    CompanyRefs,
    ContactInput,
    clean_consent,
    clean_contact_input,
)
from contacts.models import (
    ConsentRecord,
    Contact,
    ContactList,
    ContactStatus,
    CustomField,
    FieldType,
    KeyInformation,
    ListMembership,
    MembershipStatus,
    Suppression,
)
from events.models import Event
from salloq.core import numbers
from salloq.core.api.fields import (
    NO_NUL,
    TEXT,
    BlankableEmailField,
    HeaderNameField,
    IdField,
    IPField,
    LookupEmailField,
    NonBlankCharField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictNumberField,
)
from salloq.core.numbers import as_json_number

NUMBER_LIMIT = int(numbers.NUMBER_LIMIT)  # key information and custom number values stay below it


def service_error_details(exc: DjangoValidationError) -> dict:
    """A services.py ValidationError as the API's `details` ({field: [messages]})."""
    return serializers.as_serializer_error(exc)


# --- Strict input fields ----------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "string",
        "pattern": TEXT,
        "maxLength": PHONE_MAX_LENGTH,
        "example": "+33612345678",
        "description": (
            "International form (+ or 00 prefix); stored as E.164. A number that is not valid (e.g. "
            '"555-0123") is kept as given with `phone_valid` false (never used for SMS), and the answer\'s '
            "`warnings` says so."
        ),
    }
)
class PhoneField(StrictCharField):
    """Documents the phone; contact_input.clean_contact_input judges it."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {},
        "description": (
            f"Free key/value data (any JSON values, without NUL characters, nested at most {MAX_JSON_DEPTH} "
            f"levels, at most {MAX_PROPERTIES_CHARACTERS} characters as JSON). An upsert merges it into the "
            "stored properties."
        ),
    }
)
class PropertiesField(serializers.DictField):
    """Documents the properties; contact_input.clean_contact_input judges them."""


FIELD_VALUE_SCHEMA = {
    "anyOf": [{"type": "string", "pattern": NO_NUL}, {"type": "number"}, {"type": "boolean"}],
    "nullable": True,
}


@extend_schema_field(
    {
        "description": (
            "Custom field values (define fields first, GET /api/fields): an object of name to value, "
            'or Splio\'s list form [{"id" or "name", "value"}]. A value that does not fit the field\'s '
            'type is a 400 naming `fields.<name>`; null or "" clears it; a field the company does not have is '
            "skipped with a warning."
        ),
        "anyOf": [
            {"type": "object", "additionalProperties": FIELD_VALUE_SCHEMA, "maxProperties": MAX_FIELD_VALUES},
            {
                "type": "array",
                "maxItems": MAX_FIELD_VALUES,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        "name": {"type": "string", "pattern": NO_NUL, "maxLength": 100},
                        "value": FIELD_VALUE_SCHEMA,
                    },
                    "required": ["value"],
                    "anyOf": [{"required": ["id"]}, {"required": ["name"]}],
                },
            },
        ],
    }
)
class CustomFieldsInputField(serializers.Field):
    """Documents custom field values; contact_input.clean_contact_input judges them."""


# --- Contacts: output -------------------------------------------------------------------------


def field_value_json(value):
    if isinstance(value, Decimal):
        return as_json_number(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@extend_schema_field({"type": "object", "additionalProperties": FIELD_VALUE_SCHEMA, "readOnly": True})
class CustomFieldValuesField(serializers.Field):
    """The contact's custom field values by field name (from the prefetched rows)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, contact: Contact) -> dict:
        return {
            row.field.name: field_value_json(row.value) for row in contact.field_values.all() if row.value is not None
        }


class ContactMembershipSerializer(serializers.ModelSerializer):
    list_id = serializers.IntegerField(source="contact_list_id")
    name = serializers.CharField(source="contact_list.name")

    class Meta:
        model = ListMembership
        fields = ["list_id", "name", "status"]
        read_only_fields = fields


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=24, decimal_places=2, coerce_to_string=True, help_text="Exact, as text: '149.99'.", **kwargs
    )


class ContactCommerceSerializer(serializers.Serializer):
    """A contact's commerce facts (catalog.commerce): the row selectors.contacts_with_relations joins,
    or zeros and nulls for a contact who bought nothing."""

    total_spent = _money()
    order_count = serializers.IntegerField(help_text="Completed orders, not cancelled or refunded.")
    first_order_at = serializers.DateTimeField(allow_null=True)
    last_order_at = serializers.DateTimeField(allow_null=True)
    average_order_value = _money(allow_null=True)
    open_cart_value = _money()
    open_cart_count = serializers.IntegerField()
    last_cart_at = serializers.DateTimeField(allow_null=True)
    loyalty_balance = serializers.IntegerField()
    lifetime_points = serializers.IntegerField()
    loyalty_value = _money(allow_null=True)
    active_subscriptions = serializers.IntegerField()

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, contact: Contact) -> dict:
        return super().to_representation(getattr(contact, "commerce", None) or NO_COMMERCE)


NO_COMMERCE = {
    "total_spent": 0,
    "order_count": 0,
    "first_order_at": None,
    "last_order_at": None,
    "average_order_value": None,
    "open_cart_value": 0,
    "open_cart_count": 0,
    "last_cart_at": None,
    "loyalty_balance": 0,
    "lifetime_points": 0,
    "loyalty_value": None,
    "active_subscriptions": 0,
}


class ContactSerializer(serializers.ModelSerializer):
    contact_id = serializers.IntegerField(source="id", read_only=True)
    phone_valid = serializers.BooleanField(
        read_only=True,
        help_text="False when the phone is kept as given because it is not a valid number: it is not used for SMS.",
    )
    tags = serializers.SerializerMethodField()
    properties = serializers.DictField(read_only=True)
    lists = ContactMembershipSerializer(source="list_memberships", many=True, read_only=True)
    commerce = ContactCommerceSerializer(
        help_text="What the contact bought: totals, orders, open carts, loyalty, subscriptions."
    )

    class Meta:
        model = Contact
        fields = [
            "contact_id",
            *IDENTIFIERS,
            "phone_valid",
            *(name for name in CONTACT_ATTRIBUTES if name not in IDENTIFIERS),
            "tags",
            "properties",
            "lists",
            "commerce",
            "erased_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_fields(self):
        # "fields" cannot be declared as a class attribute: it is the serializer's own `fields`.
        declared = super().get_fields()
        ordered = {}
        for name, field in declared.items():
            ordered[name] = field
            if name == "properties":
                ordered["fields"] = CustomFieldValuesField()
        return ordered

    def get_tags(self, contact: Contact) -> list[str]:
        return contact.tags


class ContactWithWarningsSerializer(ContactSerializer):
    """What a write answers: the contact, plus `warnings` when something asked for was not done."""

    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Present when part of the request was not applied, e.g. re-subscription without consent.",
    )

    class Meta(ContactSerializer.Meta):
        fields = [*ContactSerializer.Meta.fields, "warnings"]
        read_only_fields = ContactSerializer.Meta.fields


class ContactErasedSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    erased = serializers.BooleanField()


# --- Contacts: input --------------------------------------------------------------------------


class AnyOfRequiredSerializer(serializers.Serializer):
    """A request body that needs at least one of `any_of_required` (exactly one when `only_one`);
    the schema says so with anyOf (oneOf)."""

    any_of_required: tuple[str, ...] = ()
    any_of_message = ""
    only_one = False

    def validate(self, attrs):
        given = [name for name in self.any_of_required if attrs.get(name) is not None]
        if self.any_of_required and not given:
            raise serializers.ValidationError({self.any_of_required[0]: [self.any_of_message]})
        if self.only_one and len(given) > 1:
            raise serializers.ValidationError({given[1]: [f"Give only one of {', '.join(given)}."]})
        return attrs


class AnyOfRequiredExtension(OpenApiSerializerExtension):
    target_class = AnyOfRequiredSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        names = self.target.any_of_required
        if direction == "request" and names:
            # A blank or all-space text does not count as given (the server strips text first).
            schema["oneOf" if self.target.only_one else "anyOf"] = [
                {"required": [name], "properties": {name: {"pattern": r"\S"}}} for name in names
            ]
        return schema


class ListRefSerializer(AnyOfRequiredSerializer):
    """A list named in a contact write (Splio's form): subscribe, or unsubscribe with action."""

    any_of_required = ("id", "name")
    any_of_message = "Give the list's id or its name."

    id = IdField(required=False)
    name = NonBlankCharField(max_length=200, required=False)
    action = serializers.ChoiceField(choices=["subscribe", "unsubscribe"], required=False, default="subscribe")


class ConsentInputSerializer(serializers.Serializer):
    """Sent with a write when the contact has just given consent (a signup form): it is recorded,
    and it allows re-subscribing a contact who unsubscribed or was blacklisted. The fields document
    it; contact_input.clean_consent judges it, as it does a contact write's own "consent"."""

    def to_internal_value(self, data) -> dict:
        try:
            return clean_consent(data, label="")
        except DjangoValidationError as exc:
            raise serializers.ValidationError(service_error_details(exc)) from None

    source = StrictCharField(max_length=100, required=False, allow_blank=True, help_text="e.g. 'checkout form'")
    ip = IPField(required=False, allow_null=True, help_text="The contact's IP address.")
    user_agent = StrictCharField(max_length=400, required=False, allow_blank=True, trim_whitespace=False)


class ContactInputSerializer(AnyOfRequiredSerializer):
    """POST /api/contacts (upsert) and PUT /api/contacts/{id}.

    The declared fields describe the body for the schema. Validation is
    contact_input.clean_contact_input, the one every contact write goes through (bulk items, CSV
    import rows, the dashboard): validated_data is its ContactInput. The context carries the
    request's `refs` (contact_input.CompanyRefs), or the `company_id` to make them from.
    """

    any_of_required = IDENTIFIERS
    any_of_message = NEEDS_IDENTIFIER
    partial_input = False

    email = BlankableEmailField(required=False)  # "" clears the email of a contact with another identifier
    external_id = NonBlankCharField(max_length=MAX_LENGTHS["external_id"], required=False)
    phone = PhoneField(required=False, allow_blank=True)
    first_name = StrictCharField(max_length=MAX_LENGTHS["first_name"], required=False, allow_blank=True)
    last_name = StrictCharField(max_length=MAX_LENGTHS["last_name"], required=False, allow_blank=True)
    lang = StrictCharField(
        max_length=MAX_LENGTHS["lang"], required=False, allow_blank=True, help_text="ISO 639-1 or BCP 47"
    )
    source = StrictCharField(max_length=MAX_LENGTHS["source"], required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=ContactStatus.choices, required=False)
    # Null for tags, properties, lists, consent or fields means "not given", as leaving them out does.
    tags = serializers.ListField(
        child=StrictCharField(max_length=MAX_TAG_LENGTH, allow_blank=True),
        required=False,
        allow_null=True,
        max_length=MAX_TAGS,
    )
    properties = PropertiesField(required=False, allow_null=True)
    lists = ListRefSerializer(many=True, required=False, allow_null=True, max_length=MAX_LISTS)
    consent = ConsentInputSerializer(required=False, allow_null=True)

    def get_fields(self):
        declared = super().get_fields()
        declared["fields"] = CustomFieldsInputField(required=False, allow_null=True)  # see ContactSerializer
        return declared

    def to_internal_value(self, data) -> ContactInput:
        refs = self.context.get("refs") or CompanyRefs(self.context["company_id"])
        try:
            return clean_contact_input(data, refs, partial=self.partial_input)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(service_error_details(exc)) from None

    def validate(self, attrs):
        return attrs  # clean_contact_input checked everything, the identifiers included


class ContactPatchSerializer(ContactInputSerializer):
    """PATCH /api/contacts/{id}: only what is given changes; null (or "") clears an identifier."""

    any_of_required = ()
    partial_input = True

    email = BlankableEmailField(required=False, allow_null=True)
    external_id = StrictCharField(
        max_length=MAX_LENGTHS["external_id"], required=False, allow_null=True, allow_blank=True
    )
    phone = PhoneField(required=False, allow_blank=True, allow_null=True)


# --- Bulk -------------------------------------------------------------------------------------


class BulkItemsField(serializers.ListField):
    """The bulk request's list of contacts: each item must be an object; what is in it is for
    contacts_bulk_upsert to judge, item by item. (DRF's DictField child ran a field per key of
    every item to check nothing: a tenth of the endpoint's time.) `child` stays, for the schema.
    An item the API's parser refused (context "item_errors", by index) reads as None: it gets
    its own error result."""

    def run_child_validation(self, data):
        refused = self.parent.context.get("item_errors") or {}
        errors = {
            index: [f'Expected an object of contact attributes but got type "{type(item).__name__}".']
            for index, item in enumerate(data)
            if not isinstance(item, dict) and index not in refused
        }
        if errors:
            raise serializers.ValidationError(errors)
        return list(data)


class BulkRequestSerializer(serializers.Serializer):
    contacts = BulkItemsField(
        child=serializers.DictField(),
        min_length=1,
        max_length=1000,
        help_text=(
            "Up to 1000 contacts, each shaped like the body of POST /api/contacts. Each is checked on its "
            "own: a bad item gets an error result and does not stop the others."
        ),
    )
    consent = ConsentInputSerializer(
        required=False, help_text="Fresh consent for every contact of the request (e.g. a signup import)."
    )


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request's `contacts`.")
    status = serializers.ChoiceField(choices=["created", "updated", "error"])
    contact_id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False, help_text="Field to messages."
    )
    warnings = serializers.ListField(child=serializers.CharField(), required=False)


class BulkResponseSerializer(serializers.Serializer):
    results = BulkItemResultSerializer(many=True)
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    failed = serializers.IntegerField()


# --- GDPR export --------------------------------------------------------------------------------


class KeyInformationExportSerializer(serializers.ModelSerializer):
    value = serializers.SerializerMethodField()

    class Meta:
        model = KeyInformation
        fields = ["name", "value", "updated_at"]

    def get_value(self, entry: KeyInformation) -> float | str | None:
        return as_json_number(entry.numeric_value) if entry.numeric_value is not None else entry.text_value


class MembershipExportSerializer(serializers.ModelSerializer):
    list_id = serializers.IntegerField(source="contact_list_id")
    name = serializers.CharField(source="contact_list.name")

    class Meta:
        model = ListMembership
        fields = [
            "list_id",
            "name",
            "status",
            "created_at",
            "subscribed_at",
            "unsubscribed_at",
            "confirmation_sent_at",
            "confirmed_at",
            "confirmed_ip",
        ]


class ConsentRecordExportSerializer(serializers.ModelSerializer):
    list_id = serializers.IntegerField(source="contact_list_id", allow_null=True)
    list_name = serializers.CharField(source="contact_list.name", allow_null=True)

    class Meta:
        model = ConsentRecord
        fields = ["action", "list_id", "list_name", "source", "ip_address", "user_agent", "note", "created_at"]


class EventExportSerializer(serializers.ModelSerializer):
    event_id = serializers.IntegerField(source="id")
    data = serializers.DictField()

    class Meta:
        model = Event
        fields = ["event_id", "event_type", "data", "value", "occurred_at"]


class BlacklistExportSerializer(serializers.ModelSerializer):
    class Meta:
        model = Suppression
        fields = ["email", "reason", "created_at"]


class ContactExportSerializer(serializers.Serializer):
    """Renders selectors.ContactExport: everything stored about one contact."""

    contact = ContactSerializer(help_text="Attributes, tags, properties, custom field values, lists.")
    key_information = KeyInformationExportSerializer(many=True)
    lists = MembershipExportSerializer(source="memberships", many=True)
    consent = ConsentRecordExportSerializer(source="consent_records", many=True)
    events = EventExportSerializer(many=True)
    blacklist = BlacklistExportSerializer(source="blacklist_entry", allow_null=True)
    exported_at = serializers.DateTimeField()


# --- Lists ---------------------------------------------------------------------------------------


class MemberCountsSerializer(serializers.Serializer):
    subscribed = serializers.IntegerField(source="subscribed_count")
    pending = serializers.IntegerField(source="pending_count")
    unsubscribed = serializers.IntegerField(source="unsubscribed_count")


class ContactListSerializer(serializers.ModelSerializer):
    list_id = serializers.IntegerField(source="id", read_only=True)
    name = HeaderNameField(max_length=200)
    description = StrictCharField(max_length=2000, required=False, allow_blank=True)
    double_opt_in = StrictBooleanField(
        required=False, help_text="New subscriptions stay pending until confirmed by email (default: the company's)."
    )
    reminder_after_days = StrictIntegerField(
        min_value=1, max_value=365, required=False, allow_null=True, help_text="Remind pending contacts after N days."
    )
    members = MemberCountsSerializer(source="*", read_only=True)

    class Meta:
        model = ContactList
        fields = ["list_id", "name", "description", "double_opt_in", "reminder_after_days", "members", "created_at"]
        read_only_fields = ["created_at"]


class ListMemberSerializer(serializers.ModelSerializer):
    contact_id = serializers.IntegerField()
    email = serializers.CharField(source="contact.email")
    first_name = serializers.CharField(source="contact.first_name")
    last_name = serializers.CharField(source="contact.last_name")

    class Meta:
        model = ListMembership
        fields = [
            "contact_id",
            "email",
            "first_name",
            "last_name",
            "status",
            "created_at",
            "subscribed_at",
            "unsubscribed_at",
            "confirmed_at",
        ]
        read_only_fields = fields


class PaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1)
    per_page = serializers.IntegerField(min_value=1)
    total = serializers.IntegerField(min_value=0)
    total_pages = serializers.IntegerField(min_value=1)


class ListMembersPageSerializer(serializers.Serializer):
    members = ListMemberSerializer(many=True)
    pagination = PaginationSerializer()


class ListMembersAddSerializer(AnyOfRequiredSerializer):
    any_of_required = ("contact_ids", "emails")
    any_of_message = "Give contact_ids or emails."

    contact_ids = serializers.ListField(child=IdField(), required=False, min_length=1, max_length=1000)
    emails = serializers.ListField(
        child=NonBlankCharField(max_length=254),
        required=False,
        min_length=1,
        max_length=1000,
        help_text="Addresses not yet known become new contacts.",
    )
    consent = ConsentInputSerializer(required=False)


class ListMemberResultSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField(allow_null=True)
    email = serializers.CharField(required=False)
    status = serializers.ChoiceField(
        choices=[*MembershipStatus.values, "error"],
        help_text="The membership's status afterwards: pending on a double opt-in list; unsubscribed when "
        "the contact left the list before and no consent was sent.",
    )
    warnings = serializers.ListField(child=serializers.CharField(), required=False)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class ListMembersAddResponseSerializer(serializers.Serializer):
    results = ListMemberResultSerializer(many=True)


class ListDeletedSerializer(serializers.Serializer):
    list_id = serializers.IntegerField()
    deleted = serializers.BooleanField()


# --- Custom fields ---------------------------------------------------------------------------------


class CustomFieldSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True)
    name = NonBlankCharField(max_length=100)
    type = serializers.ChoiceField(source="field_type", choices=FieldType.choices)
    choices = serializers.ListField(
        child=NonBlankCharField(max_length=200),
        required=False,
        max_length=500,
        help_text="Allowed values; required for type 'choice', ignored otherwise.",
    )

    class Meta:
        model = CustomField
        fields = ["id", "name", "type", "choices"]


class CustomFieldListSerializer(serializers.Serializer):
    def get_fields(self):
        # Splio's key is "fields", which a class attribute would clash with (the serializer's own `fields`).
        return {"fields": CustomFieldSerializer(many=True)}


# --- Key information (SALESmanago API v3) -------------------------------------------------------------------


class NumericKeyInformationSerializer(serializers.Serializer):
    name = NonBlankCharField(max_length=255)
    value = StrictNumberField(min_value=-(NUMBER_LIMIT - 1), max_value=NUMBER_LIMIT - 1)


class TextKeyInformationSerializer(serializers.Serializer):
    name = NonBlankCharField(max_length=255)
    value = StrictCharField(max_length=255, allow_blank=True, trim_whitespace=False)


class KeyInformationValuesSerializer(serializers.Serializer):
    numeric = NumericKeyInformationSerializer(many=True, required=False, max_length=100)
    text = TextKeyInformationSerializer(many=True, required=False, max_length=100)


class KeyInformationUpsertSerializer(AnyOfRequiredSerializer):
    """SALESmanago API v3's upsert body; `owner` (a SALESmanago account) is accepted and ignored."""

    any_of_required = ("email", "contactId")
    any_of_message = "Give the contact's email or its contactId."
    only_one = True

    email = LookupEmailField(required=False)
    contactId = IdField(required=False)  # noqa: N815 (SALESmanago API v3's name)
    keyInformation = KeyInformationValuesSerializer()  # noqa: N815
    setAsNull = serializers.ListField(  # noqa: N815
        child=NonBlankCharField(max_length=255), required=False, max_length=20
    )


class KeyInformationQuerySerializer(AnyOfRequiredSerializer):
    """Query parameters cannot be declared mutually exclusive in OpenAPI: both may be given, and
    then must name the same contact."""

    any_of_required = ("email", "contactId")
    any_of_message = "Give the contact's email or its contactId."

    email = LookupEmailField(required=False)
    contactId = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)  # noqa: N815
    name = NonBlankCharField(max_length=255, required=False)


class KeyInformationEntrySerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.SerializerMethodField()

    def get_value(self, entry: KeyInformation) -> float | str:
        return as_json_number(entry.numeric_value) if entry.numeric_value is not None else entry.text_value


class KeyInformationResponseSerializer(serializers.Serializer):
    contactId = serializers.IntegerField()  # noqa: N815
    keyInformation = KeyInformationEntrySerializer(many=True)  # noqa: N815


# --- Blacklist (Splio Data API 1.9) ----------------------------------------------------------------------------


class BlacklistInputSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=200, required=False, allow_blank=True)


class BlacklistEntrySerializer(serializers.ModelSerializer):
    blacklisted = serializers.SerializerMethodField()

    class Meta:
        model = Suppression
        fields = ["email", "blacklisted", "reason", "created_at"]

    def get_blacklisted(self, entry: Suppression) -> bool:
        return True


class BlacklistRemovedSerializer(serializers.Serializer):
    email = serializers.CharField()
    blacklisted = serializers.BooleanField()
