from django.apps import AppConfig


class ConnectorConfig(AppConfig):
    name = "connector"
    verbose_name = "Salloq Ecommerce connector"

    def ready(self) -> None:
        # The services enqueue tasks by name (connector.tasks imports the services, not the other way
        # round): registering them here makes every process know the names, not only the worker.
        from . import tasks  # noqa: F401
