"""The stored link between a Threshold user and their Intervals.icu athlete."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone as dj_timezone

from accounts import crypto

# Scope areas that can be granted; WRITE implies READ.
SCOPE_AREAS = ("ACTIVITY", "WELLNESS", "CALENDAR", "LIBRARY", "SETTINGS", "CHATS")


def scope_allows(granted: set[str], needed: str) -> bool:
    """Whether the granted scopes (e.g. {"CALENDAR:WRITE"}) cover `needed` (e.g. "CALENDAR:READ")."""
    area, _, level = needed.partition(":")
    if needed in granted:
        return True
    return level == "READ" and f"{area}:WRITE" in granted


class IntervalsLink(models.Model):
    """One user's OAuth link. The bearer token is encrypted at rest, bound to this row's user."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="intervals_link")
    athlete_id = models.CharField(max_length=32, db_index=True)
    athlete_name = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    scopes = models.CharField(max_length=300, blank=True, help_text="Comma-separated scopes granted upstream.")
    token_encrypted = models.TextField()
    connected_at = models.DateTimeField(default=dj_timezone.now)

    def __str__(self) -> str:
        return f"{self.athlete_name or self.athlete_id} ({self.user_id})"

    @staticmethod
    def token_context(user_id: int) -> str:
        return f"intervals-link:{user_id}"

    def set_token(self, token: str) -> None:
        self.token_encrypted = crypto.encrypt(token, context=self.token_context(self.user_id))

    def get_token(self) -> str:
        return crypto.decrypt(self.token_encrypted, context=self.token_context(self.user_id))

    @property
    def scope_set(self) -> set[str]:
        return {s.strip().upper() for s in self.scopes.split(",") if s.strip()}

    def allows(self, needed: str) -> bool:
        return scope_allows(self.scope_set, needed)
