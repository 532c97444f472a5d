"""get_conversations and search_roster: comment threads across the roster, and finding athletes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from mcpserver import present
from mcpserver.bounds import ShortText
from mcpserver.catalogue import AthleteInput, ToolCall, ToolInput, ToolResult, ToolSpec, register
from mcpserver.db import run_db
from mcpserver.principal import AthleteAccess
from mcpserver.tools import coach_common as cc

# --- get_conversations ---------------------------------------------------------------------------------


class ConversationsInput(AthleteInput):
    days: int = Field(default=cc.COMMENT_DAYS, ge=1, le=28, description="Activities of the last N days")


class ConversationsOutput(BaseModel):
    threads: dict[str, Any]
    skipped: list[str] = []
    errors: list[str] = []
    units: dict[str, str]


async def get_conversations(call: ToolCall, args: ConversationsInput) -> ToolResult:
    roster = [call.athlete(args.athlete)] if args.athlete else call.principal.athletes
    fetcher = cc.Fetcher()
    readable = [a for a in roster if cc.can_comments(a)]
    skipped = [a.athlete_id for a in roster if not cc.can_comments(a)]

    async def one(a: AthleteAccess) -> cc.AthleteData:
        today = present.local_today(a.timezone)
        return await fetcher.athlete(
            a, events=False, wellness=False, threads_since=today - timedelta(days=args.days - 1)
        )

    fetched = await cc.gather_roster(readable, one)
    rows: list[tuple[bool, str, list[Any]]] = []
    problems: list[str] = []
    for data in fetched:
        a = data.access
        problems += [f"{a.athlete_id}: {e}" for e in data.errors]
        acts = {x.id: x for x in data.activities or []}
        for aid, msgs in (data.threads or {}).items():
            if not msgs:
                continue
            act = acts.get(aid)
            d = cc.local_day(act.start_date_local) if act else None
            waiting = cc.awaiting_reply(a, msgs)
            last = cc.message_item(msgs[-1], 140)
            rows.append(
                (
                    waiting,
                    cc.message_time(msgs[-1]),
                    [
                        a.athlete_id,
                        {present.UNTRUSTED: a.name},
                        present.day_label(d) if d else None,
                        aid,
                        present.untrusted(cc.short(act.name, 36)) if act else None,
                        len(msgs),
                        waiting,
                        last["by"],
                        last["text"],
                    ],
                )
            )
    rows.sort(key=lambda r: (not r[0], _neg(r[1])))
    data_out = {
        "threads": {
            "columns": [
                "athlete_id",
                "athlete",
                "date",
                "activity_id",
                "activity",
                "messages",
                "awaiting_reply",
                "last_by",
                "last",
            ],
            "rows": [r[2] for r in rows],
        },
        "skipped": skipped,
        "errors": problems,
        "units": {
            "awaiting_reply": "the athlete wrote last",
            "order": "awaiting a reply first, then newest",
            "dates": "athlete-local activity dates",
        },
    }
    waiting_n = sum(1 for r in rows if r[0])
    text = f"{len(rows)} comment threads on activities of the last {args.days} days, {waiting_n} awaiting a reply"
    if skipped:
        text += f"; not readable for {len(skipped)} athletes (comments not granted or hidden)"
    return ToolResult(data=present.compact(data_out), text=text + ".")  # type: ignore[arg-type]


def _neg(stamp: str) -> str:
    """Sort key for newest-first on ISO timestamps inside an ascending sort."""
    return "".join(chr(0x10FFFF - ord(c)) if ord(c) < 0x10FFFF else c for c in stamp)


# --- search_roster -------------------------------------------------------------------------------------


class SearchInput(ToolInput):
    query: ShortText | None = Field(default=None, description="Name, email or id part")
    sort: Literal["name", "last_activity"] = "name"
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=20, ge=1, le=50)


class SearchOutput(BaseModel):
    athletes: dict[str, Any]
    total: int
    page: int
    pages: int
    units: dict[str, str]


def _emails(user_ids: list[int]) -> dict[int, str]:
    from accounts.models import User

    return dict(User.objects.filter(pk__in=user_ids).values_list("pk", "email"))


async def search_roster(call: ToolCall, args: SearchInput) -> ToolResult:
    roster = call.principal.athletes
    emails = await run_db(_emails, [a.link_user_id for a in roster if a.link_user_id is not None])
    q = (args.query or "").strip().lower()

    def email(a: AthleteAccess) -> str:
        return emails.get(a.link_user_id, "") if a.link_user_id is not None else ""

    hits = [
        a
        for a in roster
        if not q or q in a.name.lower() or q in a.athlete_id.lower() or (email(a) and q in email(a).lower())
    ]
    last: dict[str, date | None] = {}
    note = {}
    if args.sort == "last_activity":
        fetcher = cc.Fetcher()
        fetched = await cc.gather_roster(hits, lambda a: fetcher.athlete(a, events=False, wellness=False))
        for data in fetched:
            days = [d for x in data.activities or [] if (d := cc.local_day(x.start_date_local)) is not None]
            last[data.access.athlete_id] = max(days) if days else None
        note["last_activity"] = (
            f"athlete-local date of the latest upload in the last {cc.ACTIVITY_DAYS} days; "
            "'not granted' where the athlete did not grant activity reading"
        )
        hits.sort(key=lambda a: (last.get(a.athlete_id) or date.min).isoformat(), reverse=True)
    else:
        hits.sort(key=lambda a: a.name.lower())
    total = len(hits)
    pages = max(1, -(-total // args.page_size))
    chunk = hits[(args.page - 1) * args.page_size : args.page * args.page_size]
    rows = []
    for a in chunk:
        row: list[Any] = [a.athlete_id, {present.UNTRUSTED: a.name}, a.timezone or "UTC", email(a) or None]
        if args.sort == "last_activity":
            if not cc.can_activities(a):
                row.append("not granted")
            else:
                d = last.get(a.athlete_id)
                row.append(present.day_label(d) if d else f"none in {cc.ACTIVITY_DAYS} days")
        rows.append(row)
    columns = ["id", "name", "tz", "email"] + (["last_activity"] if args.sort == "last_activity" else [])
    out: dict[str, Any] = {
        "athletes": {"columns": columns, "rows": rows},
        "total": total,
        "page": args.page,
        "pages": pages,
        "units": {"email": "the athlete's Threshold login (invite grants only)", **note},
    }
    listed = ", ".join(f"{present.fence(r[1][present.UNTRUSTED], 40)} ({r[0]})" for r in rows[:8])
    text = f"{total} athletes match{' ' + repr(args.query) if args.query else ''}; page {args.page}/{pages}: {listed}"
    return ToolResult(data=out, text=text + ".")


register(
    ToolSpec(
        name="get_conversations",
        title="Conversations",
        description="Recent activity comment threads across the roster (or one athlete), awaiting a reply first.",
        input_model=ConversationsInput,
        output_model=ConversationsOutput,
        handler=get_conversations,
        scope=None,
        group="coach",
    )
)
register(
    ToolSpec(
        name="search_roster",
        title="Search roster",
        description="Find athletes by name, email or id; sort by name or last activity; paged.",
        input_model=SearchInput,
        output_model=SearchOutput,
        handler=search_roster,
        scope=None,
        group="coach",
    )
)
