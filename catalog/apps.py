from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"

    def ready(self) -> None:
        # order_placed, order_completed, cart_abandoned and subscription events become orders, carts
        # and subscriptions (catalog.event_handlers), in every process that dispatches events.
        from events.dispatch import register_handler

        from .event_handlers import commerce_from_events

        register_handler(commerce_from_events)

        from contacts.signals import contact_erased

        from .services.orders import forget_erased_contact

        # An erased contact's orders keep their sums, not where the person lives (GDPR erase).
        contact_erased.connect(forget_erased_contact, dispatch_uid="catalog.forget_erased_contact")
