"""Who the visitor is, for the navigation: an athlete, a coach, or both.

A coach is a user whom some athlete invited (a live coach MCP token issued to their address, claimed or
not yet) or who added their Intervals.icu API key. An athlete is a user who connected Intervals.icu, or
anyone who is not a coach (a newcomer has everything still to set up). A coach who also connected their
own Intervals.icu account is both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest

from accounts.models import McpToken, User
from coaching.models import CoachApiKey
from integrations.intervals.models import IntervalsLink


@dataclass(frozen=True)
class Roles:
    athlete: bool
    coach: bool


def roles_for(user: User) -> Roles:
    coach = (
        McpToken.objects.filter(kind=McpToken.Kind.COACH, revoked_at__isnull=True)
        .filter(Q(user=user) | Q(user=None, email=user.email))
        .exists()
        or CoachApiKey.objects.filter(coach=user).exists()
    )
    athlete = not coach or IntervalsLink.objects.filter(user=user).exists()
    return Roles(athlete=athlete, coach=coach)


def nav(request: HttpRequest) -> dict[str, Any]:
    """Template context: `roles` (None for a visitor who is not logged in), the current view's name (for
    `aria-current`) and the operator's contact address."""
    user = getattr(request, "user", None)
    roles = roles_for(cast(User, user)) if user is not None and user.is_authenticated else None
    match = getattr(request, "resolver_match", None)
    return {
        "roles": roles,
        "current_view": match.url_name if match else "",
        "CONTACT_EMAIL": settings.CONTACT_EMAIL,
    }
