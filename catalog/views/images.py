"""Product images on the dashboard: the shop's remote URLs, shown under a relaxed image policy.

Products carry image URLs on the shop's own hosts (or its CDN's), which are not known in advance
and change when the shop moves its media. The pages that show product images therefore allow
images from any https: origin (and only images: scripts, styles and connections stay 'self').
A plain http: image URL is not shown (the page would be mixed content behind TLS); the product
shows its placeholder instead. Images load lazily and without a Referer, so the shop's host does
not learn the dashboard's URLs.
"""

from django.http import HttpResponse

from salloq.core.middleware import DEFAULT_CSP

STRICT_IMAGES = "img-src 'self' data:"
SHOP_IMAGES = "img-src 'self' data: https:"
PRODUCT_IMAGES_CSP = DEFAULT_CSP.replace(STRICT_IMAGES, SHOP_IMAGES)
# If the default policy is reworded, the replacement above would silently keep shop images blocked.
if SHOP_IMAGES not in PRODUCT_IMAGES_CSP:
    raise RuntimeError(f"DEFAULT_CSP no longer holds {STRICT_IMAGES!r}, which the product pages relax")


def allow_product_images(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = PRODUCT_IMAGES_CSP
    return response


def shown_image_url(url: str) -> str:
    """The URL to put in <img src>, or "" for the placeholder (none, or not https)."""
    url = (url or "").strip()
    return url if url.lower().startswith("https://") else ""
