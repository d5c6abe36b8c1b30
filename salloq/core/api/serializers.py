from rest_framework import serializers

from ..models import ApiKey


class ApiKeySerializer(serializers.ModelSerializer):
    api_key_id = serializers.IntegerField(source="id", read_only=True)
    status = serializers.ChoiceField(choices=["active", "expired", "revoked"], read_only=True)
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "api_key_id",
            "name",
            "prefix",
            "scopes",
            "hourly_limit",
            "status",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "created_at",
        ]
        read_only_fields = fields


class CompanyRefSerializer(serializers.Serializer):
    company_id = serializers.IntegerField()
    name = serializers.CharField()


class CredentialsSerializer(serializers.Serializer):
    """What GET /api/ tells a caller about its own credentials."""

    company = CompanyRefSerializer()
    api_key = serializers.DictField()
    scopes = serializers.ListField(child=serializers.CharField())
    hourly_limit = serializers.IntegerField()
