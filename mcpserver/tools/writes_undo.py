"""undo_last_write: undo the athlete's latest write made through Threshold (or a given access-log entry)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from mcpserver import present
from mcpserver import undo as undo_actions
from mcpserver.catalogue import AthleteEcho, ToolCall, ToolFailure, ToolResult, ToolSpec, register
from mcpserver.db import run_db
from mcpserver.principal import AthleteAccess
from mcpserver.tools.writes_common import who
from mcpserver.tools.writes_confirm import ConfirmInput, confirm_note, confirmed, issue


class UndoInput(ConfirmInput):
    entry_id: int | None = Field(
        default=None, description="A write's entry id (default: the latest); an undone one is redone."
    )


class UndoOutput(BaseModel):
    athlete: AthleteEcho
    status: str
    undone: dict[str, Any]
    action: str
    result: dict[str, Any] | None = None
    note: str | None = None
    confirm: str | None = None  # an undo deletes or overwrites: it needs the code of its preview


async def undo_last_write(call: ToolCall, args: UndoInput) -> ToolResult:
    access = call.athlete(args.athlete)
    try:
        # A coach undoes only what their own URL wrote; the athlete's own URL can undo any Threshold write.
        only_token = call.principal.token_id if call.principal.kind == "coach" else None
        outcome = await undo_actions.undo_entry(args.entry_id, access=access, dry_run=True, only_token_id=only_token)
        # An undo deletes or overwrites: it runs only with the code of a preview of this very undo.
        state = {"entry": outcome.entry_id, "action": outcome.action}
        code = None
        if args.dry_run or not confirmed(call, access, args, state):
            code = issue(call, access, args, state)
        else:
            outcome = await undo_actions.undo_entry(
                outcome.entry_id, access=access, dry_run=False, only_token_id=only_token
            )
    except undo_actions.UndoError as exc:
        message = str(exc)
        if only_token is not None and args.entry_id is None:
            better = await run_db(_coach_nothing_left, access, only_token)
            message = better or message
        raise ToolFailure(message) from None
    entry = await undo_actions.AccessLogEntry.objects.aget(pk=outcome.entry_id)
    local = entry.created_at.astimezone(present.zone(access.timezone))
    undone = {
        "entry_id": entry.pk,
        "tool": entry.tool,
        "kind": entry.write_kind,
        "when": f"{present.day_label(local.date())} {local:%H:%M}",
        "summary": present.untrusted(entry.summary),  # that call's text line (it may quote free text)
    }
    data = present.compact(
        {
            "athlete": access.echo(),
            "status": "preview" if outcome.preview else "undone",
            "undone": undone,
            "action": outcome.action,
            "result": outcome.data or None,
            "note": confirm_note(args, code),
            "confirm": code,
        }
    )
    if outcome.preview:
        note = confirm_note(args, code)
        text = (
            f"Preview for {who(access)}, nothing changed: undoing {entry.tool} ({undone['when']}) "
            f"would {outcome.action.removeprefix('would ')}." + (f" {note}" if note else "")
        )
        return ToolResult(data=data, text=text, preview=True)  # type: ignore[arg-type]
    text = (
        f"Undid {entry.tool} of {undone['when']} for {who(access)}: {outcome.action}. "
        f"To redo it, call undo_last_write with entry_id {entry.pk}."
    )
    return ToolResult(data=data, text=text, write=outcome.write, undo_of_id=entry.pk)  # type: ignore[arg-type]


def _coach_nothing_left(access: AthleteAccess, token_id: int) -> str | None:
    """Whose writes a coach URL can undo, when none of its own is left (None: it has some; another reason)."""
    pending = undo_actions.candidates(access.athlete_id, access.link_user_id).filter(undo_of__isnull=True)
    if pending.filter(token_id=token_id).exists():
        return None
    others = pending.count()
    text = f"Nothing left to undo for {access.name} through this coach URL: it undoes only the writes it made itself."
    if others:
        text += (
            f" {access.name} has {others} other write{'s' if others > 1 else ''} through Threshold (their own "
            "assistant or another URL): only that URL, or the athlete's access log, can undo "
            f"{'them' if others > 1 else 'it'}."
        )
    return text


register(
    ToolSpec(
        name="undo_last_write",
        title="Undo last write",
        description=(
            "Undo the athlete's latest calendar or wellness write made through Threshold (or entry_id); repeat to "
            "go further back. Comments cannot be undone."
        ),
        input_model=UndoInput,
        output_model=UndoOutput,
        handler=undo_last_write,
        scope="CALENDAR:WRITE",
        read_only=False,
        destructive=True,
        idempotent=False,
        group="write",
    )
)
