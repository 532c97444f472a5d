"""Pages: landing and the athlete dashboard. Thin: reads and action calls only."""

from __future__ import annotations

from typing import cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from accounts.actions import ensure_athlete_token, reveal_token, user_email_verified
from accounts.models import User
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
    user = cast(User, request.user)  # login_required
    token_row = ensure_athlete_token(user)
    link = IntervalsLink.objects.filter(user=user).first()
    mcp_url = f"{settings.SITE_URL}/mcp/{reveal_token(token_row)}" if token_row else None
    context = {
        "recent_log": AccessLogEntry.objects.filter(athlete_user=user)[:5],
        "link": link,
        "scope_rows": _scope_rows(link),
        "mcp_url": mcp_url,
        "token_row": token_row,
        "email_verified": user_email_verified(user),
    }
    response = render(request, "dashboard.html", context)
    # The page shows a secret URL: keep it out of every cache. (Its own address holds no secret, so the
    # site-wide same-origin referrer policy stays: "no-referrer" would make browsers send `Origin: null`
    # on this page's forms, which CSRF protection rightly refuses.)
    response["Cache-Control"] = "no-store"
    return response
