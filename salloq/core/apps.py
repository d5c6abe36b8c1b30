from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "salloq.core"
    label = "core"
    verbose_name = "Salloq core: companies, users, API keys"

    def ready(self) -> None:
        from . import (
            schema,  # noqa: F401  (registers the OpenAPI extension for key authentication)
            signals,  # noqa: F401  (a changed or deleted API key drops its cached lookup)
        )
