"""The address of the client behind a request, the one answer for everything that records or counts
it: the API gateway's per-address rate limit, the consent records (API calls, dashboard changes,
the public confirm/unsubscribe/preference pages) and login throttling (django-axes)."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's IP address, or None when the request carries none that parses.

    REMOTE_ADDR, or behind the TLS proxy (BEHIND_TLS_PROXY=1, which sets SECURE_PROXY_SSL_HEADER)
    the last X-Forwarded-For entry: the one that proxy appended itself, REMOTE_ADDR being the
    proxy. Earlier entries come from the client and prove nothing; without the proxy the whole
    header is the client's own word and is ignored.
    """
    address = request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            address = forwarded.rsplit(",", 1)[-1]
    # An IPv6 zone ("fe80::1%eth0") names the proxy's interface, not the client, and no
    # database column of addresses takes it.
    address = address.strip().partition("%")[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
