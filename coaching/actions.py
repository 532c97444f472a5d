"""Named writes for the coaching area: the access log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coaching.models import AccessLogEntry


@dataclass
class WriteRecord:
    """What a write tool changed upstream, with enough to undo it.

    kind: "event.create" | "event.update" | "event.delete" | "wellness.update" | "comment.create" | ...
    target: the upstream id or date written. before: the pre-image (None for a creation).
    after: what was written (the upstream answer, allow-listed). Never credentials.
    """

    kind: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def record_tool_call(
    *,
    token_id: int | None,
    actor_label: str,
    tool: str,
    athlete_id: str,
    athlete_user_id: int | None,
    outcome: str,
    summary: str,
    is_write: bool,
    write: WriteRecord | None = None,
    undo_of_id: int | None = None,
) -> AccessLogEntry:
    """Append one access-log row. Sync (ORM); called once per tool call."""
    return AccessLogEntry.objects.create(
        token_id=token_id,
        actor_label=actor_label[:200],
        tool=tool,
        athlete_id=athlete_id,
        athlete_user_id=athlete_user_id,
        outcome=outcome,
        summary=summary[:300],
        is_write=is_write,
        write_kind=write.kind if write else "",
        write_target=write.target[:64] if write else "",
        pre_image=write.before if write else None,
        post_image=write.after if write else None,
        undo_of_id=undo_of_id,
    )
