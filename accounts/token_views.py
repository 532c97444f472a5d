"""MCP token management pages: the public /token/ page and its emailed links, dashboard regenerate.

Pages that show a token are display-only and send `Cache-Control: no-store` and
`Referrer-Policy: no-referrer` (see `secret_page`). Browsers send `Origin: null` on forms posted from
a no-referrer page, which CSRF protection refuses, so the only form on such a page is the emailed
link's confirmation, authorised by the link's own signed single-use secret instead.
"""

from __future__ import annotations

import logging
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts import actions, throttle
from accounts.identity import InvalidEmail, canonical_email
from accounts.models import TokenConfirmation, User

logger = logging.getLogger(__name__)

SESSION_NEW_TOKEN = "new_mcp_token_id"  # noqa: S105 - a session key name, not a secret


def secret_page(response: HttpResponse) -> HttpResponse:
    """Mark a response that carries a token or a one-time link: never cached, never in a Referer."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _client_ip(request: HttpRequest) -> str:
    # uvicorn/gunicorn rewrite REMOTE_ADDR from X-Forwarded-For for trusted proxies only (--proxy-headers,
    # FORWARDED_ALLOW_IPS); reading the header here ourselves would let any client pick its own IP.
    return str(request.META.get("REMOTE_ADDR", ""))


@require_http_methods(["GET", "POST"])
def token_page(request: HttpRequest) -> HttpResponse:
    """Enter an address; if it owns an MCP URL we email a confirmation link. Same answer either way."""
    context: dict[str, object] = {"actions": TokenConfirmation.Action.choices, "sent": False}
    if request.method == "GET":
        return render(request, "accounts/token_page.html", context)
    # The canonical address (accounts.identity): look-alikes (a long s for an s, a dotless i in the domain)
    # are either the same mailbox (and then mail goes only to the stored address) or another address.
    action = request.POST.get("action", "")
    try:
        email = canonical_email(request.POST.get("email", "")[:1000])
    except InvalidEmail as exc:
        email, problem = "", str(exc)
    else:
        problem = ""
    if not email or action not in TokenConfirmation.Action.values:
        context["error"] = problem or "Enter your email address and choose what to do."
        return render(request, "accounts/token_page.html", context, status=400)
    window = settings.TOKEN_PAGE_LIMIT_WINDOW_SECONDS
    try:
        allowed = throttle.hit(
            "token-ip", _client_ip(request), limit=settings.TOKEN_PAGE_LIMIT_PER_IP, window_seconds=window
        ) and throttle.hit("token-address", email, limit=settings.TOKEN_PAGE_LIMIT_PER_ADDRESS, window_seconds=window)
    except throttle.ThrottleUnavailable:
        logger.warning("token page: rate-limit store unreachable, refusing (fail closed)")
        context["error"] = "This page is briefly unavailable. Please try again in a few minutes."
        return render(request, "accounts/token_page.html", context, status=503)
    if not allowed:
        context["error"] = "Too many requests for this address or from your network. Please try again in an hour."
        return render(request, "accounts/token_page.html", context, status=429)
    actions.request_token_link(email, action)
    context.update(sent=True, email=email)
    return render(request, "accounts/token_page.html", context)


# csrf_exempt is safe here and needed: the POST is authorised by the signed, single-use, one-hour secret
# in the URL, which only the mailbox owner has (a cross-site forger does not), and this page must be
# no-referrer (the URL is a secret), which makes browsers send `Origin: null` that CSRF would refuse.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def token_confirm(request: HttpRequest, signed: str) -> HttpResponse:
    """GET shows what the link will do and asks for a click (link scanners only GET); POST acts once."""
    if request.method == "GET":
        status, row = actions.inspect_token_link(signed)
        context = {
            "status": status,
            "action": row.action if row else "",
            "email": row.email if row else "",
            "display_only": True,
        }
        return secret_page(render(request, "accounts/token_confirm.html", context, status=200))
    outcome = actions.confirm_token_link(signed)
    context = {"status": outcome.status, "outcome": outcome, "display_only": True}
    return secret_page(render(request, "accounts/token_done.html", context))


@login_required
@require_POST
def regenerate_own(request: HttpRequest) -> HttpResponse:
    """Dashboard "Regenerate": the old URL stops at once; the new one is shown once on the URL page."""
    user = cast(User, request.user)
    result = actions.regenerate_own_token(user)
    if result is None:
        messages.error(request, "You have no MCP URL yet: confirm your email address first.")
        return redirect("dashboard")
    request.session[SESSION_NEW_TOKEN] = result[0].pk
    return redirect("connect_guide")
