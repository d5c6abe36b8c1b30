from django import template

from salloq.core import mailserver

register = template.Library()


@register.inclusion_tag("inc/mail_server_banner.html")
def mail_server_banner() -> dict:
    """The outage banner: says since when the SMTP server has not answered and which settings to fix."""
    return {"outage": mailserver.current_outage()}
