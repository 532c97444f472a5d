"""Undo a write made through Threshold, from its access-log entry. Shared by the `undo_last_write` tool and
the dashboard.

Each journaled write kind has an inverse, applied upstream through the client seam:

=================  =================================================================================
event.create       delete the created event
event.update       PUT the pre-image back
event.delete       re-create the event from the pre-image (a new event id; same external_id)
wellness.update    PUT the previous values back (-1 clears a numeric field that was empty, "" a text)
comment.create     not undoable: the Intervals.icu API offers no way to take a comment back here
=================  =================================================================================

Safety: the entry must be this athlete's (same athlete id and link owner); the connection must hold
the write permission of the entry's area; an entry is claimed (``undone_at`` set atomically) before
the upstream call and released if it fails, so two undos of one entry cannot both run; and if the
target was changed after the write (in Intervals.icu or by a later write), undo refuses rather than
overwriting that change. The inverse is itself returned as a `WriteRecord`, so the undo is journaled
like any write and can be undone (redo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from django.utils import timezone

from coaching.actions import WriteRecord, record_tool_call
from coaching.models import AccessLogEntry
from integrations.intervals import errors
from integrations.intervals.client import IntervalsClient
from integrations.intervals.models import IntervalsLink
from mcpserver import present, redact
from mcpserver.db import run_db
from mcpserver.principal import AthleteAccess, own_link_access

UNDOABLE_KINDS = AccessLogEntry.UNDOABLE_KINDS
KIND_SCOPE = {
    "event.create": "CALENDAR:WRITE",
    "event.update": "CALENDAR:WRITE",
    "event.delete": "CALENDAR:WRITE",
    "wellness.update": "WELLNESS:WRITE",
}
# Event fields compared to detect a change made after our write.
_EVENT_IDENTITY = ("category", "type", "name", "description")
_TEXT_FIELDS = ("comments",)


class UndoError(Exception):
    """A user-facing reason the undo cannot happen; the message is shown as is."""


@dataclass
class UndoOutcome:
    entry_id: int
    kind: str  # the kind of the write undone
    action: str  # what the undo did, in words
    write: WriteRecord | None  # the inverse write (None when nothing had to change upstream)
    data: dict[str, Any] = field(default_factory=dict)
    preview: bool = False


def candidates(athlete_id: str, link_user_id: int | None, only_token_id: int | None = None) -> Any:
    """This athlete's undoable writes, newest first (sync, ORM); a coach sees only their own token's."""
    entries = AccessLogEntry.objects.filter(
        athlete_id=athlete_id,
        athlete_user_id=link_user_id,
        is_write=True,
        outcome=AccessLogEntry.Outcome.OK,
        undone_at__isnull=True,
        write_kind__in=UNDOABLE_KINDS,
    ).order_by("-created_at", "-pk")
    return entries if only_token_id is None else entries.filter(token_id=only_token_id)


def find_entry(access: AthleteAccess, entry_id: int | None, only_token_id: int | None = None) -> AccessLogEntry:
    """The entry to undo: `entry_id` if it is this athlete's, else the latest write that is not itself an
    undo (so repeated undos walk back). Passing the id of an entry already undone redoes it (undoes its
    undo). Sync (ORM)."""
    if entry_id is None:
        entry = candidates(access.athlete_id, access.link_user_id, only_token_id).filter(undo_of__isnull=True).first()
        if entry is None:
            raise UndoError(f"No write made through Threshold for athlete {access.athlete_id} is left to undo.")
        return entry
    found = AccessLogEntry.objects.filter(
        pk=entry_id, athlete_id=access.athlete_id, athlete_user_id=access.link_user_id
    ).first()
    if found is not None and only_token_id is not None and found.token_id != only_token_id:
        found = None  # a coach undoes only what their own URL wrote
    if found is None:
        raise UndoError(f"No access-log entry {entry_id} for athlete {access.athlete_id}.")
    if found.write_kind == "comment.create":
        raise UndoError(
            "A comment cannot be undone through the Intervals.icu API; delete it in Intervals.icu (activity chat)."
        )
    if found.undone_at is not None:
        redo = candidates(access.athlete_id, access.link_user_id, only_token_id).filter(undo_of=found).first()
        if redo is None:
            raise UndoError(f"Entry {entry_id} ({found.tool}) was already undone.")
        return redo  # undoing the undo of an entry is redoing it
    if not found.undoable:
        raise UndoError(f"Entry {entry_id} ({found.tool}, {found.outcome}) changed nothing that can be undone.")
    return found


def mark_undone(entry_id: int) -> bool:
    """Claim an entry for undo: set `undone_at` if it is still unset. False if someone else was first."""
    return AccessLogEntry.objects.filter(pk=entry_id, undone_at__isnull=True).update(undone_at=timezone.now()) == 1


def unmark_undone(entry_id: int) -> None:
    """Release a claim after a failed upstream undo."""
    AccessLogEntry.objects.filter(pk=entry_id).update(undone_at=None)


def access_for_user(user: Any) -> AthleteAccess | None:
    """The athlete a Threshold user's own Intervals.icu link reaches (for the dashboard). Sync (ORM)."""
    link = IntervalsLink.objects.filter(user_id=user.pk).first()
    return None if link is None else own_link_access(link)


def undo_from_dashboard(user: Any, entry_id: int) -> tuple[bool, str]:
    """Undo one of `user`'s own access-log entries from the dashboard and journal the undo like the tool
    does (so it can be redone). Returns (succeeded, message for the page). Sync: runs the upstream calls
    on a private event loop."""
    access = access_for_user(user)
    if access is None:
        return False, "Connect Intervals.icu again to undo changes: no connection is linked."
    try:
        outcome = async_to_sync(undo_entry)(entry_id, access=access)
    except UndoError as exc:
        return False, str(exc)
    except errors.UpstreamRateLimited as exc:
        return False, errors.retry_after_text(exc)
    except errors.IntervalsError as exc:
        return False, exc.user_message
    entry = AccessLogEntry.objects.get(pk=outcome.entry_id)
    text = f"Undid {entry.tool}: {outcome.action}."
    record_tool_call(
        token_id=None,
        actor_label="You (dashboard)",
        tool="undo_last_write",
        athlete_id=access.athlete_id,
        athlete_user_id=access.link_user_id,
        outcome=AccessLogEntry.Outcome.OK,
        summary=text,
        is_write=True,
        write=outcome.write,
        undo_of_id=outcome.entry_id,
    )
    return True, text


# ----------------------------------------------------------------------------------------------------


async def undo_entry(
    entry_id: int | None, *, access: AthleteAccess, dry_run: bool = False, only_token_id: int | None = None
) -> UndoOutcome:
    """Undo `entry_id` (or the latest undoable write) of `access`'s athlete; see the module docstring.

    Raises UndoError with a user-facing message, or the client's typed errors for upstream failures.
    The caller records the returned inverse write (the tool does it through the access log).
    """
    entry = await run_db(find_entry, access, entry_id, only_token_id)
    needed = KIND_SCOPE[entry.write_kind]
    if not access.allows_scope(needed):
        raise UndoError(
            f"Undoing {entry.tool} needs the Intervals.icu permission {needed}, which the athlete did not grant."
        )
    client = access.client()
    plan = await _plan(client, access, entry)
    if dry_run:
        return UndoOutcome(entry.pk, entry.write_kind, "would " + plan.action, None, plan.data, preview=True)
    if not await run_db(mark_undone, entry.pk):
        raise UndoError(f"Entry {entry.pk} ({entry.tool}) was already undone.")
    try:
        write = await plan.apply()
    except BaseException:
        await run_db(unmark_undone, entry.pk)
        raise
    return UndoOutcome(entry.pk, entry.write_kind, plan.action, write, plan.data)


@dataclass
class _Plan:
    action: str
    data: dict[str, Any]
    run: Any  # async () -> WriteRecord | None

    async def apply(self) -> WriteRecord | None:
        result: WriteRecord | None = await self.run()
        return result


async def _plan(client: IntervalsClient, access: AthleteAccess, entry: AccessLogEntry) -> _Plan:
    kind = entry.write_kind
    if kind.startswith("event."):
        return await _plan_event(client, access, entry)
    return await _plan_wellness(client, access, entry)


def _event_label(image: dict[str, Any]) -> str:
    """An event in a sentence, without its name: names are free text (the answer's data carries them)."""
    from mcpserver.tools.writes_common import event_day

    day = event_day(image)
    when = present.day_label(day) if day else "?"
    return f"{image.get('type') or image.get('category') or 'event'} on {when}"


def _changed_since(current: dict[str, Any], written: dict[str, Any] | None) -> list[str]:
    """Fields of the event that differ from what our write left there."""
    if not written:
        return []
    diffs = []
    for key in _EVENT_IDENTITY:
        if (current.get(key) or "") != (written.get(key) or ""):
            if key == "description" and (current.get(key) or "").strip() == (written.get(key) or "").strip():
                continue
            diffs.append(key)
    if str(current.get("start_date_local") or "")[:16] != str(written.get("start_date_local") or "")[:16]:
        diffs.append("date")
    return diffs


async def _current_event(client: IntervalsClient, access: AthleteAccess, event_id: str) -> dict[str, Any] | None:
    try:
        ev = await client.request("GET", f"/api/v1/athlete/{access.athlete_id}/events/{event_id}")
    except (errors.UpstreamNotFound, errors.UpstreamInvalid):
        return None
    return ev if isinstance(ev, dict) else None


def _refuse_past(access: AthleteAccess, image: dict[str, Any], what: str) -> None:
    """Like every calendar write, an undo never writes in the athlete's past."""
    from mcpserver.tools.writes_common import event_day

    day = event_day(image)
    today = present.local_today(access.timezone)
    if day is not None and day < today:
        raise UndoError(
            f"Undoing this would {what} {_event_label(image)}, which is in the past for the athlete now "
            f"(today is {present.day_label(today)}); Threshold does not rewrite history."
        )


async def _plan_event(client: IntervalsClient, access: AthleteAccess, entry: AccessLogEntry) -> _Plan:
    from mcpserver.tools.writes_common import event_out, keep, restore_body, upsert_event

    kind, target = entry.write_kind, entry.write_target
    pre, post = entry.pre_image or None, entry.post_image or None
    base = f"/api/v1/athlete/{access.athlete_id}/events"

    if kind == "event.delete":
        if not pre:
            raise UndoError(f"Entry {entry.pk} kept no copy of the deleted event; it cannot be re-created.")
        _refuse_past(access, pre, "re-create")
        body = restore_body(pre)

        async def recreate() -> WriteRecord:
            saved = await upsert_event(client, access, body)
            return WriteRecord("event.create", str(saved.get("id")), None, keep(saved))

        return _Plan(f"re-create {_event_label(pre)}", {"event": event_out(pre)}, recreate)

    current = await _current_event(client, access, target)
    if current is None:
        if kind == "event.create":
            raise UndoError(f"Event {target} no longer exists on the athlete's calendar: nothing to undo.")
        raise UndoError(f"Event {target} was deleted after this change; restore it from its delete instead.")
    _refuse_past(access, current, "change")
    if pre and kind == "event.update":
        _refuse_past(access, pre, "move back")
    diffs = _changed_since(current, post)
    if diffs:
        raise UndoError(
            f"Event {target} ({_event_label(current)}) was changed after this write ({', '.join(diffs)}); undoing "
            "would discard that. Edit or delete it directly instead."
        )

    if kind == "event.create":

        async def delete() -> WriteRecord:
            await client.request("DELETE", f"{base}/{target}")
            return WriteRecord("event.delete", target, keep(current), None)

        return _Plan(f"delete {_event_label(current)} (event {target})", {"event": event_out(current)}, delete)

    if not pre:
        raise UndoError(f"Entry {entry.pk} kept no copy of the event before the change.")
    restore = restore_body(pre)

    async def put_back() -> WriteRecord:
        saved = await client.request("PUT", f"{base}/{target}", json=restore)
        saved = saved if isinstance(saved, dict) else {**current, **restore}
        return WriteRecord("event.update", target, keep(current), keep(saved))

    data = {"event": event_out(pre), "before": event_out(current)}
    return _Plan(f"restore {_event_label(pre)} (event {target}) as it was", data, put_back)


def _same(a: Any, b: Any) -> bool:
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-6
    return bool(a == b)


async def _plan_wellness(client: IntervalsClient, access: AthleteAccess, entry: AccessLogEntry) -> _Plan:
    day, pre, post = entry.write_target, dict(entry.pre_image or {}), dict(entry.post_image or {})
    if not pre:
        raise UndoError(f"Entry {entry.pk} kept no previous wellness values.")
    path = f"/api/v1/athlete/{access.athlete_id}/wellness/{day}"
    current = await client.request("GET", path)
    current = current if isinstance(current, dict) else {}
    changed = [k for k in pre if k in post and not _same(current.get(k), post[k])]
    if changed:
        # Named as log_wellness names them; a coach is told only of the fields they may see.
        shown = redact.visible("undo_last_write", wellness_shown(dict.fromkeys(changed)), access.hidden)
        which = f" ({', '.join(shown)})" if shown else ""
        raise UndoError(
            f"The wellness record of {day} was changed after this write{which}; undoing would discard that. "
            "Log the values you want instead."
        )
    restore = {k: (v if v is not None else ("" if k in _TEXT_FIELDS else -1)) for k, v in pre.items()}

    async def put_back() -> WriteRecord:
        saved = await client.request("PUT", path, json=restore)
        saved = saved if isinstance(saved, dict) else {}
        before = {k: current.get(k) for k in pre}
        after = {k: saved.get(k) for k in pre}
        return WriteRecord("wellness.update", day, before, after)

    back, now = wellness_shown(pre), wellness_shown({k: current.get(k) for k in pre})
    data = {"date": day, "restore": back, "current": now, "units": wellness_units(back)}
    return _Plan(f"put the wellness of {day} back to {_values(back)}", data, put_back)


def _values(values: dict[str, Any]) -> str:
    # Text fields are named, not quoted: sentences never carry free text (the data has it).
    def one(k: str, v: Any) -> str:
        if v in (None, ""):
            return f"{k} (empty)"
        return f"{k} (its earlier text)" if isinstance(v, dict) else f"{k} {v}"

    return ", ".join(one(k, v) for k, v in values.items())


def wellness_shown(values: dict[str, Any]) -> dict[str, Any]:
    """Upstream wellness fields (`restingHR`, `sleepSecs`...) under the names and units log_wellness uses
    (`resting_hr`, `sleep_hours`...): the names the answer's readers and its redaction know. A field
    log_wellness never writes keeps its upstream name (and is hidden from a coach with hidden classes).
    Text fields (the athlete's notes) come as untrusted text."""
    from mcpserver.tools.writes_wellness import WELLNESS_FIELDS

    ours = {upstream: name for name, (upstream, _unit) in WELLNESS_FIELDS.items()}
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = ours.get(key, key)
        if name == "sleep_hours" and isinstance(value, int | float):
            value = round(float(value) / 3600, 2)
        out[name] = present.untrusted(value) if key in _TEXT_FIELDS and value not in (None, "") else value
    return out


def wellness_units(values: dict[str, Any]) -> dict[str, str]:
    from mcpserver.tools.writes_wellness import WELLNESS_FIELDS

    return {name: WELLNESS_FIELDS[name][1] for name in values if name in WELLNESS_FIELDS}
