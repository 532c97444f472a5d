"""Security headers Django's own middleware does not set: Content-Security-Policy and Permissions-Policy.

HSTS, nosniff, the referrer policy and COOP come from django.middleware.security (settings). Views may
set a stricter header of their own (pages showing a token send `Referrer-Policy: no-referrer`); this
middleware only fills in what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Chromium applies form-action to the redirects that follow a form POST too: the Intervals.icu OAuth
# connect form and the Checkout/Portal forms end at another origin.
_STRIPE_ORIGINS = ("https://checkout.stripe.com", "https://billing.stripe.com")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy() -> str:
    form_targets = ["'self'", _origin(settings.INTERVALS_BASE_URL)]
    if settings.STRIPE_GATEWAY == "stripe":
        form_targets += _STRIPE_ORIGINS
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action " + " ".join(t for t in form_targets if t),
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", content_security_policy())
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
