"""What the campaign pages share: the tenant-scoped lookups, who may write, and the redirect after a write."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect

from salloq.core.htmx import htmx_partial
from salloq.core.middleware import DEFAULT_CSP
from salloq.core.models import Role

from ..models import Campaign, EmailTemplate

# The preview (and the email HTML in its srcdoc iframe, which inherits the page's policy) needs
# inline styles, as every email has, and remote images. Scripts stay 'self' on the page, and the
# iframe is sandboxed with no permission at all, so the email's own scripts never run.
PREVIEW_CSP = DEFAULT_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "img-src 'self' data:", "img-src 'self' data: https: http:"
)
if "'unsafe-inline'" not in PREVIEW_CSP or "https:" not in PREVIEW_CSP:
    raise RuntimeError("DEFAULT_CSP was reworded: the campaign preview's relaxation no longer applies")


def can_edit(request: HttpRequest) -> bool:
    return request.membership.allows(Role.MARKETER)


def get_campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    """The current company's campaign; another company's is a 404."""
    return get_object_or_404(Campaign.objects.for_company(request.company).select_related("template"), pk=campaign_id)


def get_template(request: HttpRequest, template_id: int) -> EmailTemplate:
    return get_object_or_404(EmailTemplate.objects.for_company(request.company), pk=template_id)


def posted(request: HttpRequest):
    """Form data of a POST, even an empty one (which must show "required" errors, not a blank form)."""
    return request.POST if request.method == "POST" else None


def redirect_after_write(request: HttpRequest, url: str) -> HttpResponse:
    """htmx follows HX-Redirect with a full page load; a plain form follows the 302."""
    if htmx_partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def allow_email_preview(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = PREVIEW_CSP
    return response
