"""Access helpers for coaching-area tenant objects: called first in every view; outsiders get 404."""

from __future__ import annotations

from django.http import Http404

from accounts.models import User
from coaching.models import AccessLogEntry


def log_entry_for(user: User, entry_id: int) -> AccessLogEntry:
    """The access-log entry `entry_id` if it is about `user`'s own athlete; 404 otherwise."""
    entry = AccessLogEntry.objects.filter(pk=entry_id, athlete_user=user).first()
    if entry is None:
        raise Http404("No such entry")
    return entry
