"""What the coach tools share: per-athlete grant checks, standard windows and bounded roster fetching.

Roster-wide tools iterate `principal.athletes` and, for each athlete, only fetch what an athlete tool
the coach was granted there could fetch (`allowed`), and drop the data classes the athlete hid. The
windows are fixed per athlete-local day so that every coach tool (and the athlete tools asking the same
range) hits the same entries of the shared read cache. Fetches run concurrently, bounded by a
semaphore; the deployment-wide limiter in the client seam still paces every request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar

from integrations.intervals import errors
from integrations.intervals.client import IntervalsClient
from integrations.intervals.schemas import Activity, Event, Message, Wellness
from mcpserver import present
from mcpserver.principal import AthleteAccess

T = TypeVar("T")

CONCURRENCY = 8  # upstream requests in flight per roster call (the limiter paces them further)
ACTIVITY_DAYS = 28  # activities: today-27 .. today
EVENT_PAST_DAYS = 14  # calendar: today-13 .. today+14
EVENT_NEXT_DAYS = 14
WELLNESS_DAYS = 42  # wellness: today-41 .. today (fitness series and the HRV baseline)
RACES = ("RACE_A", "RACE_B", "RACE_C")
MAX_THREADS_PER_ATHLETE = 8  # comment threads read per athlete and call
COMMENT_DAYS = 7  # "awaiting a reply" in the digest and the conversations: threads on activities of today-6 .. today


def allowed(access: AthleteAccess, tool: str) -> bool:
    """Would the athlete tool `tool` be allowed on this athlete for this token? (Deny if unknown.)"""
    from mcpserver.catalogue import REGISTRY

    spec = REGISTRY.get(tool)
    return spec is not None and access.allows_tool(spec.name, spec.scope, spec.read_only)


def can_activities(a: AthleteAccess) -> bool:
    return allowed(a, "get_training_history") or allowed(a, "get_training_summary")


def can_calendar(a: AthleteAccess) -> bool:
    return allowed(a, "get_events")


def can_fitness(a: AthleteAccess) -> bool:
    return allowed(a, "get_fitness")


def can_wellness(a: AthleteAccess) -> bool:
    return allowed(a, "get_wellness")


def can_comments(a: AthleteAccess) -> bool:
    """Comment threads: a granted tool that reads them, CHATS:READ upstream, and comments not hidden."""
    return (
        (allowed(a, "get_activity_detail") or allowed(a, "add_activity_comment"))
        and a.allows_scope("CHATS:READ")
        and "notes" not in a.hidden
    )


def who(a: AthleteAccess) -> str:
    """The athlete in a one-line text: the name fenced (free text), the id and time zone as they are."""
    return f"{present.fence(a.name, 40)} ({a.athlete_id}, {a.timezone or 'UTC'})"


def cached_client(a: AthleteAccess) -> IntervalsClient:
    """A client bound to the athlete resolved from the grant, so reads go through the shared cache."""
    client = a.client()
    if client.cache_athlete != a.athlete_id:  # until AthleteAccess.client() binds it itself
        client = IntervalsClient(a.credential(), cache_athlete=a.athlete_id)
    return client


def local_day(value: str | None) -> date | None:
    parsed = present.parse_local(value)
    return parsed.date() if parsed else None


def short(text: str | None, n: int = 60) -> str:
    t = " ".join((text or "").split())
    return t if len(t) <= n else t[: n - 1] + "…"


@dataclass
class AthleteData:
    """What was fetched for one athlete; None = not fetched (not granted), [] = nothing there."""

    access: AthleteAccess
    today: date
    activities: list[Activity] | None = None
    events: list[Event] | None = None
    wellness: list[Wellness] | None = None
    threads: dict[str, list[Message]] | None = None  # activity id -> messages
    errors: list[str] = field(default_factory=list)


class Fetcher:
    """Bounded concurrent upstream reads for one roster call."""

    def __init__(self, concurrency: int = CONCURRENCY) -> None:
        self.sem = asyncio.Semaphore(concurrency)

    async def run(self, what: str, data: AthleteData, fn: Callable[[], Awaitable[T]]) -> T | None:
        async with self.sem:
            try:
                return await fn()
            except errors.UpstreamRateLimited as exc:
                data.errors.append(f"{what}: {errors.retry_after_text(exc)}")
            except errors.IntervalsError as exc:
                data.errors.append(f"{what}: {exc.user_message}")
        return None

    async def athlete(
        self,
        access: AthleteAccess,
        *,
        activities: bool = True,
        events: bool = True,
        wellness: bool = True,
        threads_since: date | None = None,
    ) -> AthleteData:
        """Fetch the standard windows the grant allows; comment threads of activities since a date."""
        today = present.local_today(access.timezone)
        data = AthleteData(access=access, today=today)
        client = cached_client(access)
        aid = access.athlete_id
        jobs: list[Awaitable[Any]] = []

        async def get_activities() -> None:
            got = await self.run(
                "activities",
                data,
                lambda: client.list_activities(
                    aid, (today - timedelta(days=ACTIVITY_DAYS - 1)).isoformat(), f"{today.isoformat()}T23:59:59"
                ),
            )
            if got is not None:
                data.activities = got
                if threads_since is not None and can_comments(access):
                    await self._threads(client, data, threads_since)

        async def get_events() -> None:
            data.events = await self.run(
                "calendar",
                data,
                lambda: client.list_events(
                    aid,
                    (today - timedelta(days=EVENT_PAST_DAYS - 1)).isoformat(),
                    (today + timedelta(days=EVENT_NEXT_DAYS)).isoformat(),
                ),
            )

        async def get_wellness() -> None:
            data.wellness = await self.run(
                "wellness",
                data,
                lambda: client.list_wellness(
                    aid, (today - timedelta(days=WELLNESS_DAYS - 1)).isoformat(), today.isoformat()
                ),
            )

        if activities and can_activities(access):
            jobs.append(get_activities())
        if events and can_calendar(access):
            jobs.append(get_events())
        if wellness and (can_fitness(access) or can_wellness(access)):
            jobs.append(get_wellness())
        await asyncio.gather(*jobs)
        return data

    async def _threads(self, client: IntervalsClient, data: AthleteData, since: date) -> None:
        with_chat = [
            a
            for a in sorted(data.activities or [], key=lambda a: a.start_date_local or "", reverse=True)
            if a.icu_chat_id is not None and (local_day(a.start_date_local) or date.min) >= since
        ][:MAX_THREADS_PER_ATHLETE]

        async def one(a: Activity) -> tuple[str, list[Message] | None]:
            # The id comes from this athlete's own activity list: safe to cache under the athlete.
            return a.id, await self.run("comments", data, lambda: client.list_activity_messages(a.id, owned=True))

        got = await asyncio.gather(*(one(a) for a in with_chat))
        data.threads = {k: [m for m in v if not m.deleted] for k, v in got if v is not None}


def message_author(m: Message) -> str:
    return str(m.athlete_id or "").removeprefix("i")


def awaiting_reply(access: AthleteAccess, messages: list[Message]) -> bool:
    """The athlete wrote last: a coach reply is due. (The one definition every coach tool uses.)"""
    return bool(messages) and message_author(messages[-1]) == access.athlete_id.removeprefix("i")


def comment_since(today: date) -> date:
    """First day of the window whose threads the digest and get_conversations (by default) read."""
    return today - timedelta(days=COMMENT_DAYS - 1)


def strava_days(data: AthleteData) -> set[date]:
    """Days with a Strava import: the API hides its type and pairing, so a plan that day may have been done."""
    return {d for a in data.activities or [] if a.is_strava_stub and (d := local_day(a.start_date_local))}


def activity_label(data: AthleteData, activity_id: str) -> str:
    """'Sat 2026-09-12 Evening Run (i91000002)' for an activity of the fetched window."""
    act = next((a for a in data.activities or [] if a.id == activity_id), None)
    d = local_day(act.start_date_local) if act else None
    name = short(act.name, 36) if act and act.name else ""
    return " ".join(x for x in (present.day_label(d) if d else "?", name, f"({activity_id})") if x)


def activity_ref(data: AthleteData, activity_id: str) -> dict[str, Any]:
    """Which activity a comment is on, as data: its local date, id and (untrusted) name."""
    act = next((a for a in data.activities or [] if a.id == activity_id), None)
    d = local_day(act.start_date_local) if act else None
    ref: dict[str, Any] = {"date": present.day_label(d) if d else None, "activity_id": activity_id}
    if act is not None and act.name:
        ref["activity"] = present.untrusted(short(act.name, 36))
    return {k: v for k, v in ref.items() if v is not None}


def message_text(m: Message) -> str:
    extra = m.model_extra or {}
    return str(extra.get("content") or "")


def message_time(m: Message) -> str:
    extra = m.model_extra or {}
    return str(extra.get("created") or "")


def message_name(m: Message) -> str:
    extra = m.model_extra or {}
    return str(extra.get("name") or m.athlete_id or "?")


def message_item(m: Message, n: int) -> dict[str, Any]:
    """A comment as data: who wrote it and what they wrote are both the writer's own words (untrusted)."""
    return {"by": present.untrusted(short(message_name(m), 40)), "text": present.untrusted(short(message_text(m), n))}


def missed_workouts(data: AthleteData, since: date, until: date) -> list[Event]:
    """Planned WORKOUT events dated since..until (exclusive of `until`) with no activity paired to them and
    no Strava import that day (its pairing is hidden: maybe done, never called missed)."""
    if data.events is None or data.activities is None:
        return []
    done = {a.paired_event_id for a in data.activities if a.paired_event_id is not None}
    unknown = strava_days(data)
    out = []
    for e in data.events:
        d = local_day(e.start_date_local)
        if e.category == "WORKOUT" and d is not None and since <= d < until and e.id not in done and d not in unknown:
            out.append(e)
    return sorted(out, key=lambda e: e.start_date_local or "")


def ev_item(e: Event) -> dict[str, Any]:
    """An event in a list: its date and id, and its name as untrusted data (whoever wrote it)."""
    d = local_day(e.start_date_local)
    item: dict[str, Any] = {"date": present.day_label(d) if d else "?", "id": e.id}
    name = present.untrusted(short(e.name, 40))
    if name is not None:
        item["name"] = name
    return item


def gather_roster(accesses: list[AthleteAccess], fetch: Callable[[AthleteAccess], Awaitable[T]]) -> Awaitable[list[T]]:
    return asyncio.gather(*(fetch(a) for a in accesses))
