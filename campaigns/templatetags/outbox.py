from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.simple_tag
def outbox_link() -> str:
    """The Outbox page's URL while the embedded mail catcher runs (no EMAIL_HOST set), else "": the
    sidebar links the Outbox only then."""
    return reverse("campaigns:outbox") if settings.MAIL_CATCHER else ""
