"""OpenAPI: every operation documents the API's error shape and the rate-limit headers."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .errors import SHORT_ERRORS


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="Short error title, e.g. 'Invalid API key'.")
    code = serializers.IntegerField(help_text="The HTTP status code.")
    message = serializers.CharField(help_text="A human sentence saying what went wrong.")
    details = serializers.DictField(required=False, help_text="Validation errors: field name to list of messages.")


RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed per hour for this key.",
    "X-RateLimit-Remaining": "Requests left in the current hour.",
    "X-RateLimit-Reset": "Unix time at which the current hour's window ends.",
}


class SalloqAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        # 503: keys cannot be checked just now, the database failed for a passing reason, or a
        # statement ran past WEB_STATEMENT_TIMEOUT_MS; every operation can answer it.
        codes = [401, 403, 404, 429, 500, 503]
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view():
            codes.append(400)
        if self.method in ("POST", "PUT", "PATCH"):
            # A body over DATA_UPLOAD_MAX_MEMORY_SIZE, e.g. a long text field whose characters
            # the client escaped as \uXXXX pairs (12 bytes for one character).
            codes.append(413)
        if self.method == "GET" and not self._is_list_view():
            codes.append(400)
        error = OpenApiResponse(response=ErrorSerializer)
        for code in codes:
            responses.setdefault(str(code), self._get_response_for_code(error, str(code), direction=direction))
            responses[str(code)]["description"] = SHORT_ERRORS[code]
        return responses

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        for name, description in RATE_LIMIT_HEADERS.items():
            headers[name] = {"schema": {"type": "integer"}, "description": description}
        if str(status_code) in ("429", "503"):
            headers["Retry-After"] = {"schema": {"type": "integer"}, "description": "Seconds to wait."}
        return headers


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The Salloq Marketing API's two headers, both required: the bearer key and the company it belongs to."""

    target_class = "salloq.core.authentication.ApiKeyAuthentication"
    name = ["bearerAuth", "companyId"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "An API key: `sqm_…`"},
            {"type": "apiKey", "in": "header", "name": "X-Company-ID", "description": "Your company ID."},
        ]
