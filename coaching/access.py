"""Access helpers for coaching-area tenant objects: called first in every view; outsiders get 404."""

from __future__ import annotations

from django.http import Http404

from accounts.models import McpToken, User
from coaching.models import AccessLogEntry, CoachApiKey, CoachGrant


def log_entry_for(user: User, entry_id: int) -> AccessLogEntry:
    """The access-log entry `entry_id` if it is about `user`'s own athlete; 404 otherwise."""
    entry = AccessLogEntry.objects.filter(pk=entry_id, athlete_user=user).first()
    if entry is None:
        raise Http404("No such entry")
    return entry


def grant_for(user: User, grant_id: int) -> CoachGrant:
    """A live grant `user` gave (as the athlete); 404 otherwise."""
    grant = CoachGrant.objects.filter(pk=grant_id, athlete=user, revoked_at__isnull=True).first()
    if grant is None:
        raise Http404("No such coach")
    return grant


def api_key_for(user: User) -> CoachApiKey:
    """`user`'s own stored Intervals.icu API key (Option B); 404 when they have none."""
    row = CoachApiKey.objects.filter(coach=user).first()
    if row is None:
        raise Http404("No API key")
    return row


def coach_grant_for(user: User, grant_id: int) -> CoachGrant:
    """A live grant (pending or accepted) naming `user`'s own coach URL, for the coach to answer or end;
    404 otherwise (someone else's invite looks like no invite)."""
    grant = (
        CoachGrant.objects.select_related("athlete")
        .filter(
            pk=grant_id,
            revoked_at__isnull=True,
            coach_token__user=user,
            coach_token__kind=McpToken.Kind.COACH,
            coach_token__revoked_at__isnull=True,
        )
        .first()
    )
    if grant is None:
        raise Http404("No such invite")
    return grant
