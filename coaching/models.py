"""The access log: every MCP tool call, who made it, on which athlete, and how it ended.

Writes keep their pre-image so the athlete can undo the last change. The athlete reads this log on the
dashboard; it is the record of what their own assistant (and later, their coaches) read and wrote.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone

from accounts.models import McpToken, User


class AccessLogEntry(models.Model):
    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        ERROR = "error", "Error"
        PREVIEW = "preview", "Preview (dry run)"

    token = models.ForeignKey(McpToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The Threshold user who owns the athlete's Intervals.icu link (whose log this is).
    athlete_user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="access_log")
    athlete_id = models.CharField(max_length=32, blank=True, db_index=True)
    actor_label = models.CharField(max_length=200, help_text="Who called: the athlete's own URL or a coach.")
    tool = models.CharField(max_length=64)
    is_write = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    summary = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
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
