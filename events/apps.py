from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self) -> None:
        # record_events enqueues the dispatch task by name: registering it here makes every process
        # know the name, not only the worker.
        from contacts.signals import contact_erased

        from . import tasks  # noqa: F401
        from .services import forget_erased_contact

        # An erased contact's events keep their facts, not the person (GDPR erase).
        contact_erased.connect(forget_erased_contact, dispatch_uid="events.forget_erased_contact")
