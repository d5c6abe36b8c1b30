from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"

    def ready(self) -> None:
        # record_events enqueues the dispatch task by name: registering it here makes every process
        # know the name, not only the worker.
        from . import tasks  # noqa: F401
