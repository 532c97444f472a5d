"""Three middlewares: security headers Django's own middleware does not set (Content-Security-Policy,
Permissions-Policy), a short 503 page while the database is unreachable, and the product's 404 page
under DEBUG.

HSTS, nosniff, the referrer policy and COOP come from django.middleware.security (settings). Views may
set a stricter header of their own (pages showing a token send `Referrer-Policy: no-referrer`); this
middleware only fills in what is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

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


# What "the database is unreachable" looks like from a view: a refused or dropped connection, or no pooled
# connection within DB_POOL_TIMEOUT.
def database_unavailable(exc: BaseException) -> bool:
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, OperationalError | InterfaceError):
        return True
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # pragma: no cover - SQLite-only installs
        return False
    return isinstance(exc, PoolTimeout)


class DatabaseUnavailableMiddleware:
    """A page that needs the database while it is down answers a short 503 with `Retry-After`, like
    `/mcp` does, instead of Django's 500 page and a traceback per request in the log.

    Last in MIDDLEWARE, so its `process_exception` is asked first about an exception a view raised.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_unavailable(exception):
            return None
        # The view's name, not the path: some paths carry one-time links.
        view = request.resolver_match.url_name if request.resolver_match else "?"
        logger.warning("page %s: database unavailable (%s)", view, type(exception).__name__)
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "5"
        response["Cache-Control"] = "no-store"
        return response


class NotFoundPageMiddleware:
    """The product's 404 page, even under DEBUG.

    The embedded default (`make run`) runs with DEBUG on, and there Django answers an unknown address with
    its technical 404 page, which lists every URL pattern of the site, and a view's 404 with the view's
    name and message. Visitors get `404.html` instead. With DEBUG off Django renders `404.html` itself, so
    this does nothing there. A developer who wants the technical page reads `config/urls.py`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # No resolver match: the address matched no pattern (Resolver404 happens before any view, so no
        # `process_exception` sees it). CommonMiddleware, further out, still adds a missing slash.
        if settings.DEBUG and response.status_code == 404 and request.resolver_match is None:
            return render(request, "404.html", status=404)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if settings.DEBUG and isinstance(exception, Http404):
            return render(request, "404.html", status=404)
        return None
