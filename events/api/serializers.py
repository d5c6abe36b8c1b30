"""Output serializers of the events API (the input is read by events.event_input, schema in schema.py)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import Event, EventSource


class EventSerializer(serializers.ModelSerializer):
    event_id = serializers.IntegerField(source="id")
    contact_id = serializers.IntegerField(allow_null=True)
    value = serializers.DecimalField(
        max_digits=14, decimal_places=2, coerce_to_string=True, allow_null=True, help_text="Exact, as text: '149.99'."
    )
    source = serializers.ChoiceField(choices=EventSource.choices)
    data = serializers.DictField(help_text="The event_data as sent.")

    class Meta:
        model = Event
        fields = ["event_id", "event_type", "contact_id", "data", "value", "source", "occurred_at", "received_at"]


class EventRecordedSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    contact_id = serializers.IntegerField()
    event_type = serializers.CharField()
    duplicate = serializers.BooleanField(
        help_text="True when this is a retry of a stored event (same key): nothing new was stored."
    )


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "description": 'Messages by field path, e.g. {"event_data.total": ["Must be a number."]}.',
    }
)
class ErrorsField(serializers.DictField):
    pass


class BatchItemSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(help_text="201 stored (or a retry of a stored event), 400 refused.")
    event_id = serializers.IntegerField(allow_null=True)
    contact_id = serializers.IntegerField(allow_null=True)
    duplicate = serializers.BooleanField()
    errors = ErrorsField(required=False)


class BatchResultSerializer(serializers.Serializer):
    results = BatchItemSerializer(many=True, help_text="One per item, in order.")
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    failed = serializers.IntegerField()
