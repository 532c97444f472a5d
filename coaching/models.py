"""The access log: every MCP tool call, who made it, on which athlete, and how it ended.

Writes keep their pre-image so the athlete can undo the last change. The athlete reads this log on the
dashboard; it is the record of what their own assistant (and later, their coaches) read and wrote.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone as dj_timezone

from accounts.models import McpToken, User


class AccessLogEntry(models.Model):
    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"
        PREVIEW = "preview", "Preview (dry run)"
        # A write whose row was journaled but never completed (see mcpserver.journal): it may have happened.
        PENDING = "pending", "Outcome unknown"

    token = models.ForeignKey(McpToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The Threshold user who owns the athlete's Intervals.icu link (whose log this is).
    athlete_user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="access_log")
    athlete_id = models.CharField(max_length=32, blank=True, db_index=True)
    actor_label = models.CharField(max_length=200, help_text="Who called: the athlete's own URL or a coach.")
    tool = models.CharField(max_length=64)
    is_write = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    summary = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now, db_index=True)
    # For writes: what changed, enough to undo it. Never holds credentials.
    write_kind = models.CharField(max_length=32, blank=True)
    write_target = models.CharField(max_length=64, blank=True)
    pre_image = models.JSONField(null=True, blank=True)
    post_image = models.JSONField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undo_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["athlete_user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.tool} {self.outcome} {self.athlete_id} {self.created_at:%Y-%m-%d %H:%M}"

    # Kinds Threshold can reverse upstream (a posted comment cannot be deleted through the API).
    UNDOABLE_KINDS = frozenset({"event.create", "event.update", "event.delete", "wellness.update"})

    @property
    def undoable(self) -> bool:
        return (
            self.is_write
            and self.outcome == self.Outcome.OK
            and self.undone_at is None
            and self.write_kind in self.UNDOABLE_KINDS
        )


class CoachGrant(models.Model):
    """An athlete lets a coach (by email) use chosen tools on their data through the coach's MCP URL.

    All invites to one email share one coach token. A grant reaches nothing until the coach accepts it
    (`accepted_at`, from the invite email's page or the coach page): joining a coach's roster puts
    athlete-written text in front of the coach's assistant, so the coach says yes first. A grant stops at
    `revoked_at` (`end_reason` says who ended it) or after `expires_on` (athlete-local date, inclusive).
    """

    class EndReason(models.TextChoices):
        REVOKED = "revoked", "Revoked by the athlete"
        DECLINED = "declined", "Declined by the coach"
        REMOVED = "removed", "Removed by the coach"

    class DataClass(models.TextChoices):
        WEIGHT = "weight", "Weight & body composition"
        HRV = "hrv", "HRV & resting heart rate"
        SLEEP = "sleep", "Sleep"
        MENSTRUAL = "menstrual", "Menstrual cycle"
        LOCATION = "location", "Location (GPS, city)"
        NOTES = "notes", "Wellness notes & comments"

    athlete = models.ForeignKey(User, on_delete=models.CASCADE, related_name="coach_grants")
    coach_email = models.EmailField(db_index=True)
    coach_token = models.ForeignKey(McpToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="grants")
    tools = models.JSONField(default=list)
    hidden_classes = models.JSONField(default=list, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_timezone.now)
    updated_at = models.DateTimeField(default=dj_timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    # The invite link's single-use secret, as a digest (the link itself is signed and only in the email).
    invite_nonce_hash = models.CharField(max_length=64, blank=True)
    invite_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["athlete", "coach_email"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_live_grant_per_athlete_and_coach",
            )
        ]

    def __str__(self) -> str:
        return f"{self.athlete_id} → {self.coach_email}"

    @property
    def is_pending(self) -> bool:
        return self.revoked_at is None and self.accepted_at is None


class RosterAthlete(models.Model):
    """Option B: an athlete a coach coaches on Intervals.icu, read from the coach's roster (API key)."""

    coach = models.ForeignKey(User, on_delete=models.CASCADE, related_name="roster")
    athlete_id = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, blank=True)
    permission = models.CharField(max_length=8, default="READ")  # READ | WRITE, as Intervals.icu grants it
    refreshed_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["coach", "athlete_id"], name="one_roster_row_per_athlete")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.athlete_id}) for coach {self.coach_id}"


class CoachApiKey(models.Model):
    """Option B: the coach's personal Intervals.icu API key (the only credential that reads a roster),
    AEAD-encrypted and bound to its owner like every stored credential."""

    coach = models.OneToOneField(User, on_delete=models.CASCADE, related_name="intervals_api_key")
    athlete_id = models.CharField(max_length=32)
    key_encrypted = models.TextField()
    created_at = models.DateTimeField(default=dj_timezone.now)
    roster_refreshed_at = models.DateTimeField(null=True, blank=True)
    # Set when Intervals.icu refuses the key (revoked or replaced upstream): the roster is emptied until
    # the coach pastes a working key. Cleared by the next successful refresh.
    needs_attention_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"API key of coach {self.coach_id}"

    @staticmethod
    def context(user_id: int) -> str:
        return f"intervals-api-key:{user_id}"


class PrivateNote(models.Model):
    """A coach's private note about an athlete: stored here only, never sent upstream or shown to the athlete."""

    coach_token = models.ForeignKey(McpToken, on_delete=models.CASCADE, related_name="private_notes")
    athlete_id = models.CharField(max_length=32, db_index=True)
    text = models.TextField()
    created_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"note on {self.athlete_id}"


class CatchUpCursor(models.Model):
    """Where a coach token's `catch_up` last left off for one athlete (server-side, per token and athlete).

    `activity_ids`: activities already reported (within the catch-up window); `event_prints`: a short
    fingerprint per calendar event seen, to report edits; `last_message_id`: newest comment reported.
    """

    token = models.ForeignKey(McpToken, on_delete=models.CASCADE, related_name="catch_up_cursors")
    athlete_id = models.CharField(max_length=32)
    last_seen_at = models.DateTimeField(default=dj_timezone.now)
    activity_ids = models.JSONField(default=list, blank=True)
    event_prints = models.JSONField(default=dict, blank=True)
    last_message_id = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["token", "athlete_id"], name="one_catch_up_cursor_per_token_athlete")
        ]

    def __str__(self) -> str:
        return f"catch-up cursor of token {self.token_id} on {self.athlete_id}"
