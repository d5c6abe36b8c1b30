from django import template
from django.conf import settings
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.simple_tag
def outbox_link() -> str:
    """The Outbox page's URL when the embedded mail catcher runs (no EMAIL_HOST set), else "": the
    sidebar links it only then."""
    if not settings.MAIL_CATCHER:
        return ""
    try:
        return reverse("campaigns:outbox")
    except NoReverseMatch:  # the campaign pages are not routed (yet): no link rather than a broken page
        return ""
