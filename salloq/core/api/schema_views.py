"""The OpenAPI schema endpoint (separate from salloq.core.schema, which DRF's settings import
before any view class can be defined)."""

import threading

from django.http import HttpResponse
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView


class CachedSchemaView(SpectacularAPIView):
    """/api/schema/: the schema is built once per process and each format rendered once.

    Building it walks every view and serializer (0.4 s of CPU), and the endpoint is public, so
    every anonymous fetch was a way to keep a web worker busy. The API has one version and speaks
    English, so `version` and `lang` (and any other query parameter) change nothing and are ignored.
    """

    company_scoped = False  # describes the API, holds no company data
    _lock = threading.Lock()
    _schema: dict | None = None
    _rendered: dict[str, tuple[bytes, str]] = {}

    @classmethod
    def built_schema(cls) -> dict:
        with cls._lock:
            if cls._schema is None:
                cls._schema = cls.generator_class(urlconf=cls.urlconf, patterns=cls.patterns).get_schema(
                    request=None, public=True
                )
            return cls._schema

    @extend_schema(**SCHEMA_KWARGS)  # the schema endpoint is not part of the schema
    def get(self, request, *args, **kwargs):
        renderer, media_type = self.perform_content_negotiation(request, force=True)
        if media_type not in self._rendered:
            content_type = f"{media_type}; charset={renderer.charset}" if renderer.charset else media_type
            self._rendered[media_type] = (renderer.render(self.built_schema(), media_type), content_type)
        content, content_type = self._rendered[media_type]
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'inline; filename="{spectacular_settings.TITLE}.{renderer.format}"'
        return response
