"""The address of the client behind the request, for login throttling."""

from django.conf import settings


def client_ip(request) -> str:
    """REMOTE_ADDR, or behind the TLS proxy (BEHIND_TLS_PROXY=1) the last X-Forwarded-For entry:
    the one that proxy appended itself. Earlier entries come from the client and prove nothing."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and forwarded.strip():
        return forwarded.rsplit(",", 1)[-1].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")
