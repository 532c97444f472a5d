"""Coach private notes: a durable coaching memory per coach URL and athlete, stored by Threshold only.

Never sent upstream, never shown to the athlete: the notes are kept per coach token (another coach's
URL never reads them), and the access-log row of these calls is the coach's own (no athlete is set on
the call), so the athlete's dashboard log does not list them. The answers' text never repeats a note.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from coaching.actions import add_private_note as save_note
from mcpserver import present
from mcpserver.catalogue import (
    AthleteEcho,
    AthleteInput,
    ToolCall,
    ToolFailure,
    ToolResult,
    ToolSpec,
    Untrusted,
    register,
)
from mcpserver.db import run_db
from mcpserver.principal import AthleteAccess, AthleteResolutionError, resolve_athlete

MAX_NOTE_CHARS = 2000


def _athlete(call: ToolCall, wanted: str | None) -> AthleteAccess:
    """Resolve like every coach tool, without attaching the athlete to the call's log row (see module doc)."""
    try:
        return resolve_athlete(call.principal, wanted)
    except AthleteResolutionError as exc:
        raise ToolFailure(str(exc)) from None


def _local(access: AthleteAccess, when: Any) -> str:
    local = when.astimezone(present.zone(access.timezone))
    return f"{present.day_label(local.date())} {local:%H:%M}"


class AddNoteInput(AthleteInput):
    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class AddNoteOutput(BaseModel):
    athlete: AthleteEcho
    saved: str
    notes: int
    private: str


async def add_private_note(call: ToolCall, args: AddNoteInput) -> ToolResult:
    access = _athlete(call, args.athlete)
    if not args.text.strip():
        raise ToolFailure("The note is empty.")

    def save() -> tuple[Any, int]:
        from coaching.models import PrivateNote

        note = save_note(call.principal.token_id, access.athlete_id, args.text)
        count = PrivateNote.objects.filter(coach_token_id=call.principal.token_id, athlete_id=access.athlete_id).count()
        return note, count

    note, count = await run_db(save)
    data = {
        "athlete": access.echo(),
        "saved": _local(access, note.created_at),
        "notes": count,
        "private": "stored by Threshold only: never sent to Intervals.icu, never shown to the athlete",
    }
    text = f"Private note saved for {present.fence(access.name, 40)} ({access.athlete_id}); {count} in all."
    return ToolResult(data=data, text=text)


class GetNotesInput(AthleteInput):
    limit: int = Field(default=20, ge=1, le=100)


class GetNotesOutput(BaseModel):
    athlete: AthleteEcho
    notes: list[list[str | Untrusted]] = []
    total: int
    private: str


async def get_private_notes(call: ToolCall, args: GetNotesInput) -> ToolResult:
    access = _athlete(call, args.athlete)

    def load() -> tuple[list[Any], int]:
        from coaching.models import PrivateNote

        rows = PrivateNote.objects.filter(coach_token_id=call.principal.token_id, athlete_id=access.athlete_id)
        return list(rows.order_by("-created_at", "-pk")[: args.limit]), rows.count()

    notes, total = await run_db(load)
    # A note is the coach's own text, but it may repeat what an athlete or a stranger wrote: data, never orders.
    rows = [[_local(access, n.created_at), {present.UNTRUSTED: n.text}] for n in notes]
    data = {
        "athlete": access.echo(),
        "notes": rows,
        "total": total,
        "private": "newest first; [athlete-local time, note]; yours only, never shown to the athlete",
    }
    text = (
        f"{total} private notes on {present.fence(access.name, 40)} ({access.athlete_id}, {access.timezone or 'UTC'})"
    )
    return ToolResult(data=data, text=text + (f", newest {rows[0][0]}." if rows else "."))


register(
    ToolSpec(
        name="add_private_note",
        title="Add private note",
        description="Save a private coaching note on an athlete (goals, injuries, preferences); never upstream.",
        input_model=AddNoteInput,
        output_model=AddNoteOutput,
        handler=add_private_note,
        scope=None,
        read_only=False,
        destructive=False,
        idempotent=False,
        open_world=False,
        group="coach",
    )
)
register(
    ToolSpec(
        name="get_private_notes",
        title="Private notes",
        description="Your private notes on an athlete, newest first: read them before advising.",
        input_model=GetNotesInput,
        output_model=GetNotesOutput,
        handler=get_private_notes,
        scope=None,
        open_world=False,
        group="coach",
    )
)
