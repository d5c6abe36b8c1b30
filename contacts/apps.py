from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"

    def ready(self) -> None:
        # The services enqueue tasks by name (contacts.tasks imports the services, not the other way
        # round): registering them here makes every process know the names, not only the worker.
        from . import tasks  # noqa: F401
