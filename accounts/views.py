"""Pages: landing, the athlete dashboard and the "Connect your assistant" guide. Thin: reads and action calls."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache

from accounts import billing
from accounts.actions import ensure_athlete_token, mcp_url_for, reveal_token, user_email_verified
from accounts.models import User
from accounts.token_views import SESSION_NEW_TOKEN, secret_page
from coaching.models import AccessLogEntry
from integrations.intervals.models import IntervalsLink

SCOPE_LABELS = {
    "ACTIVITY": "Activities",
    "WELLNESS": "Wellness",
    "CALENDAR": "Calendar",
    "LIBRARY": "Workout library",
    "SETTINGS": "Settings & zones",
    "CHATS": "Comments",
}


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def privacy(request: HttpRequest) -> HttpResponse:
    return render(request, "legal/privacy.html")


def terms(request: HttpRequest) -> HttpResponse:
    return render(request, "legal/terms.html")


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages without an icon link (JSON answers, a PDF): point them at it."""
    return redirect(static("favicon.ico"), permanent=True)


def _scope_rows(link: IntervalsLink | None) -> list[dict[str, str]]:
    rows = []
    for area, label in SCOPE_LABELS.items():
        if link is None:
            level = ""
        elif link.allows(f"{area}:WRITE"):
            level = "read & write"
        elif link.allows(f"{area}:READ"):
            level = "read"
        else:
            level = "not granted"
        rows.append({"area": area, "label": label, "level": level})
    return rows


@never_cache
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The athlete's home. It carries forms (connect, regenerate, billing), so it never shows the token
    itself: the URL lives on the display-only guide page (see accounts.token_views)."""
    user = cast(User, request.user)
    token_row = ensure_athlete_token(user)
    link = IntervalsLink.objects.filter(user=user).first()
    context = {
        "recent_log": AccessLogEntry.objects.filter(athlete_user=user)[:5],
        "link": link,
        "scope_rows": _scope_rows(link),
        "token_row": token_row,
        "email_verified": user_email_verified(user),
        "billing": billing.billing_state(user),
    }
    return render(request, "dashboard.html", context)


@never_cache
def connect_guide(request: HttpRequest) -> HttpResponse:
    """How to add Threshold to each assistant; with the visitor's own MCP URL filled in when logged in.

    Display-only (copy buttons and links, no forms), so it can send `Referrer-Policy: no-referrer`.
    """
    mcp_url = ""
    just_regenerated = False
    token_row = None
    if request.user.is_authenticated:
        user = cast(User, request.user)
        token_row = ensure_athlete_token(user)
        if token_row is not None:
            mcp_url = mcp_url_for(reveal_token(token_row))
            just_regenerated = request.session.pop(SESSION_NEW_TOKEN, None) == token_row.pk
    context = {
        "mcp_url": mcp_url,
        "url_shown": mcp_url or f"{settings.SITE_URL}/mcp/thr_YOUR-PERSONAL-TOKEN",
        "token_row": token_row,
        "just_regenerated": just_regenerated,
        "display_only": True,
    }
    return secret_page(render(request, "accounts/connect.html", context))
