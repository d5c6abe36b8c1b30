from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from ..errors import ApiError, error_response
from ..middleware import DEFAULT_CSP
from ..models import ApiKey, Scope
from ..pagination import PagePagination
from ..schema import ErrorSerializer
from ..services import api_key_revoke
from .scoping import CompanyScopedAPIView
from .serializers import ApiKeySerializer, CredentialsSerializer


class CredentialsView(APIView):
    """GET /api/: the cheap call integrators use to test their credentials."""

    company_scoped = False  # reads only the caller's own principal

    @extend_schema(operation_id="credentials_check", responses=CredentialsSerializer, tags=["account"])
    def get(self, request):
        principal = request.auth
        return Response(
            {
                "company": {"company_id": principal.company_id, "name": principal.company_name},
                "api_key": {
                    "api_key_id": principal.key_id,
                    "name": principal.key_name,
                    "prefix": principal.key_prefix,
                    "expires_at": principal.expires_at.isoformat() if principal.expires_at else None,
                },
                "scopes": list(principal.scopes),
                "hourly_limit": principal.hourly_limit,
            }
        )


@extend_schema(tags=["account"])
class ApiKeyViewSet(CompanyScopedAPIView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The company's API keys (full-access keys only): list, inspect, revoke."""

    queryset = ApiKey.objects.all()
    serializer_class = ApiKeySerializer
    pagination_class = PagePagination.keyed("api_keys")
    read_scope = Scope.ALL
    write_scope = Scope.ALL

    @extend_schema(
        responses={
            200: ApiKeySerializer,
            409: OpenApiResponse(ErrorSerializer, description="The key sending the request cannot revoke itself."),
        },
        description=(
            "Revoke the key. It stops working at once; the record stays for the audit trail. "
            "The key sending the request cannot revoke itself (409): an integration cannot lock "
            "itself out by mistake; revoke it with another key or in the dashboard."
        ),
    )
    def destroy(self, request, *args, **kwargs):
        api_key = self.get_object()
        if api_key.pk == request.auth.key_id:
            raise ApiError(
                409,
                "Conflict",
                "This is the key sending the request; revoke it with another key or in the dashboard.",
            )
        api_key = api_key_revoke(api_key=api_key)
        return Response(ApiKeySerializer(api_key).data, status=status.HTTP_200_OK)


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI, vendored by drf-spectacular-sidecar; its script comes from a URL, not inline."""

    company_scoped = False  # describes the API, holds no company data

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Swagger UI styles its widgets with inline style attributes; scripts stay 'self' only.
        response["Content-Security-Policy"] = DEFAULT_CSP.replace(
            "style-src 'self'", "style-src 'self' 'unsafe-inline'"
        )
        return response


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Unknown /api/ routes answer in the API's error shape, not with an HTML page."""
    return error_response(404, f"No API endpoint at {request.path}.", "Not found")
