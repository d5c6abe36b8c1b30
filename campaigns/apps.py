from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"

    def ready(self) -> None:
        from contacts.signals import contact_erased

        # campaigns.delivery enqueues the send tasks by name (campaigns.tasks imports delivery, not
        # the other way round): registering them here makes every process know the names, so a web
        # process can start a campaign (POST /api/campaigns/send/{id}), not only the worker.
        from . import tasks  # noqa: F401
        from .services import forget_erased_contact

        # An erased contact's address leaves its campaign recipient rows too (GDPR erase).
        contact_erased.connect(forget_erased_contact, dispatch_uid="campaigns.forget_erased_contact")
