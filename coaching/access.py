"""Access helpers for coaching-area tenant objects: called first in every view; outsiders get 404."""

from __future__ import annotations

from django.http import Http404

from accounts.models import User
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
