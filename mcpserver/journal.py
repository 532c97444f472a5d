"""The write journal: a write tool's access-log row is in PostgreSQL before Intervals.icu is asked to
change anything, and is completed once the tool has answered.

Why: a write the athlete cannot see cannot be undone. With PostgreSQL down, writes used to succeed
upstream and answer 200 while their rows were dropped. Now:
- `begin` writes a *pending* row first; if it cannot, the tool does not run and the answer says that
  nothing was changed;
- `finish` completes the row (outcome, summary, pre-image for undo); if PostgreSQL went away during the
  call, the completion is retried in the background until it lands or the process stops;
- a row left pending (the process died between the two) reads "outcome unknown" in the access log, so the
  athlete is told to check Intervals.icu instead of seeing nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from coaching.actions import WriteRecord
from coaching.models import AccessLogEntry
from mcpserver.db import run_db

logger = logging.getLogger(__name__)

PENDING_SUMMARY = "Started; Threshold has not recorded how it ended. Check Intervals.icu."
# Completion retries: every RETRY_SECONDS for RETRY_FOR_SECONDS (a database restart or failover fits).
RETRY_SECONDS = 1.0
RETRY_FOR_SECONDS = 300.0


@dataclass(frozen=True)
class Completion:
    outcome: str
    summary: str
    write: WriteRecord | None
    undo_of_id: int | None


def begin(*, token_id: int | None, actor_label: str, tool: str, athlete_id: str, athlete_user_id: int | None) -> int:
    """Write the pending row of a write call and return its id. Sync (ORM); raises if PostgreSQL is down."""
    return AccessLogEntry.objects.create(
        token_id=token_id,
        actor_label=actor_label[:200],
        tool=tool,
        athlete_id=athlete_id,
        athlete_user_id=athlete_user_id,
        outcome=AccessLogEntry.Outcome.PENDING,
        summary=PENDING_SUMMARY,
        is_write=True,
    ).pk


def finish(entry_id: int, done: Completion) -> None:
    """Complete a pending row. Sync (ORM)."""
    write = done.write
    AccessLogEntry.objects.filter(pk=entry_id).update(
        outcome=done.outcome,
        summary=done.summary[:300],
        write_kind=write.kind if write else "",
        write_target=write.target[:64] if write else "",
        pre_image=write.before if write else None,
        post_image=write.after if write else None,
        undo_of_id=done.undo_of_id,
    )


_retrying: set[asyncio.Task[None]] = set()


async def complete(entry_id: int, done: Completion) -> None:
    """Complete the row now if PostgreSQL answers, else keep trying in the background (the answer goes
    out either way: the write happened, and its pending row already says so)."""
    try:
        await run_db(finish, entry_id, done)
    except Exception as exc:
        reason = type(exc).__name__
        logger.warning("journal row %s not completed yet (%s); retrying in the background", entry_id, reason)
        task = asyncio.get_running_loop().create_task(_retry(entry_id, done))
        _retrying.add(task)
        task.add_done_callback(_retrying.discard)


async def _retry(entry_id: int, done: Completion) -> None:
    deadline = asyncio.get_running_loop().time() + RETRY_FOR_SECONDS
    while True:
        await asyncio.sleep(RETRY_SECONDS)
        try:
            await run_db(finish, entry_id, done)
        except Exception as exc:
            if asyncio.get_running_loop().time() > deadline:
                logger.error("journal row %s left pending: %s", entry_id, type(exc).__name__)
                return
            continue
        logger.info("journal row %s completed after a database outage", entry_id)
        return


async def drain(timeout: float = 5.0) -> None:
    """At shutdown: give completions still retrying a last few seconds."""
    if _retrying:
        await asyncio.wait(list(_retrying), timeout=timeout)


def refusal(tool: str) -> str:
    return (
        f"{tool} was not run: Threshold could not record it in the access log (its database is not answering), "
        "and it never changes Intervals.icu without a record the athlete can see and undo. Nothing was changed; "
        "try again in a minute."
    )
