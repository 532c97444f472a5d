"""Isolation, exhaustively (issue #6): every token x athlete x tool x object id outside the grants fails
identically, with zero upstream calls (object ids: only the acting athlete's credential, nothing of the owner).

Run: BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/threshold_bench .venv/bin/python -m bench.isolation
(the database must exist; the bench flushes it). Without BENCH_DATABASE_URL it uses a private SQLite file.

The world (people named as in the tests; the sandbox runs with two generated athletes):
- athletes with their own URL: Mara (i100001), Diego (i100002), Aroha (i100003), Sam (i100004, also a coach),
  and Maya (i100005), the outsider: signed up, connected with read-only scopes, invited by nobody;
- Priya (i100006) exists on Intervals.icu (Sam coaches her there) but is unknown to Threshold: her roster row
  is stale, so Sam's URL must not reach her;
- coach tokens: Coach Full (every tool on Mara), Coach Partial (two read tools on Diego with HRV hidden, and an
  expired grant from Aroha), Coach Gone (Aroha's grant revoked, get_fitness on Mara still live), and Sam's
  Option B URL (his Intervals.icu API key roster: Mara, Diego read-only, Aroha, himself; Mara also invited him
  for get_fitness only, which narrows his reach on her); every invite above was accepted by its coach;
- invites from strangers: Maya invited Coach Full, Sam and Coach New (whose URL reaches no one else), and none
  of them accepted: each must refuse her exactly like an unknown athlete;
- removed selections: Coach Partial had selected Aroha before her grant expired, Coach Gone before her grant
  was revoked: a call without `athlete` must be refused with the choices, never go to the athlete left;
- dead tokens: revoked, deactivated owner, regenerated (old value), never issued, malformed (bad checksum,
  wrong prefix, truncated, empty).

Answer classes (each must hold exactly one distinct answer, after removing the echoed label or id):
- "athlete": one per (token, tool): every athlete the token must not reach with that tool (unknown ids and
  names, other tenants, ungranted tools, expired/revoked grants, stale roster, narrower invite), zero upstream;
- "object": one per (token, acting athlete, tool): object ids (activities, events, library workouts, access-log
  entries) of every other athlete, nonexistent and malformed ids, while acting for an athlete the token does
  reach. Upstream: only GETs, only the acting athlete's credential, only on that athlete's own collection;
- "dead": every dead token on every tool and both URL shapes: one byte-identical 404, zero upstream.
Controls: the same tools on the acting athlete's own objects succeed (writes as dry runs), so a refusal is
about ownership, never about arguments.
Hidden data classes, by value: distinctive values planted in Diego's wellness never reach Coach Partial (HRV
hidden), nor, under each hidden class, the answers of a coach who logs wellness over them and previews and
runs `undo_last_write`; a coach who hides nothing sees them. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import secrets
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

MARA, DIEGO, AROHA, SAM, MAYA, PRIYA = "i100001", "i100002", "i100003", "i100004", "i100005", "i100006"
EXTRA_ATHLETES = 2  # Maya and Priya
ALL_SCOPES = "ACTIVITY:WRITE,WELLNESS:WRITE,CALENDAR:WRITE,LIBRARY:WRITE,SETTINGS:WRITE,CHATS:WRITE"
READ_SCOPES = "ACTIVITY:READ,WELLNESS:READ,CALENDAR:READ,LIBRARY:READ,SETTINGS:READ,CHATS:READ"
PARTIAL_TOOLS = ["get_training_history", "get_wellness"]
# Labels no one in the world answers to. "0" and "i0" mean "the caller" to Intervals.icu itself: passed
# through, they would reach the credential's owner; Threshold must treat them as unknown.
UNKNOWN_LABELS = ("i999999", "999999", "Nobody Atall", "0", "i0")
OBJECT_TOOLS = {
    "get_activity_detail": "activity",
    "get_extended_metrics": "activity",
    "add_activity_comment": "activity",
    "edit_workout": "event",
    "delete_workout": "event",
    "schedule_library_workout": "workout",
    "undo_last_write": "entry",
}
OBJECT_ARG = {"activity": "activity_id", "event": "event_id", "workout": "workout_id", "entry": "entry_id"}
NOT_FOUND = {
    "activity": "No activity <id> for athlete {athlete}.",
    "event": "No event <id> for athlete {athlete}.",
    "workout": "No library workout <id> for athlete {athlete}.",
    "entry": "No access-log entry <id> for athlete {athlete}.",
}
# Ids that belong to no one: unknown, zero/negative, out of range, and (string ids) shapes that would
# change the upstream path if pasted into it unchecked.
NONEXISTENT: dict[str, tuple[Any, ...]] = {
    "activity": ("i99999999", "000000", "i1,i69410000", "x/../../athlete/{other}", "x%2F..%2F{other}", "{own}?x=1"),
    "event": (999_999_999, 0, -1, 10**15),
    "workout": (999_999_999, 0, -1, 10**15),
    "entry": (999_999_999, 0, -1),
}


# --- The world -------------------------------------------------------------------------------------------


@dataclass
class Token:
    key: str  # "athlete:mara", "coach:full", ...
    raw: str
    kind: str  # "athlete" | "coach"
    reach: dict[str, frozenset[str]]  # athlete id -> the athlete tools the grants allow there (expected)
    why: dict[str, str] = field(default_factory=dict)  # athlete id -> why it is out of reach (for reports)
    credential: dict[str, str] = field(default_factory=dict)  # athlete id -> whose credential acts for them
    default: str | None = None  # the athlete a call without `athlete` is about (single athlete or selected)
    removed_default: str | None = None  # a selected athlete no longer reached: calls without `athlete` refused


@dataclass
class World:
    base_url: str
    tokens: list[Token]
    dead: dict[str, str]  # what kind of dead -> raw token
    names: dict[str, str]  # every athlete id in the world -> name
    objects: dict[str, dict[str, list[Any]]]  # athlete id -> kind -> ids (own objects, legitimately reachable)
    entries_by_token: dict[str, dict[str, list[int]]]  # token key -> athlete id -> undoable entries it may undo
    today: dict[str, dt.date]

    def token(self, key: str) -> Token:
        return next(t for t in self.tokens if t.key == key)


def athlete_tools() -> list[str]:
    from mcpserver.catalogue import REGISTRY

    return [n for n, s in REGISTRY.items() if s.group in ("read", "write") and s.scope is not None]


def tools_in(scopes: str) -> frozenset[str]:
    """The athlete tools a link with these Intervals.icu scopes allows (deny by default)."""
    from integrations.intervals.models import scope_allows
    from mcpserver.catalogue import REGISTRY

    held = set(scopes.split(","))
    needed = {n: REGISTRY[n].scope for n in athlete_tools()}
    return frozenset(n for n, scope in needed.items() if scope is None or scope_allows(held, scope))


def sandbox_config() -> Any:
    """The upstream for this world: two generated athletes; a short history keeps generation cheap."""
    from integrations.intervals.sandbox import SandboxConfig

    clients: dict[str, tuple[str, list[str] | None]] = {"threshold-test": ("threshold-test-secret", None)}
    return SandboxConfig(clients=clients, extra_athletes=EXTRA_ATHLETES, history_days=60)


def prepare_sandbox(state: Any) -> None:
    """Maya invited nobody, not even on Intervals.icu: Sam's API key must not coach her there either."""
    state.specs[SAM].coached.pop(MAYA, None)


def _link(email: str, athlete_id: str, state: Any, scopes: str = ALL_SCOPES) -> Any:
    from allauth.account.models import EmailAddress

    from accounts.models import User
    from integrations.intervals.actions import link_intervals
    from integrations.intervals.schemas import OAuthAthlete, OAuthToken

    user = User.objects.create_user(email, "isolation-password-42")
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    athlete = state.athletes[athlete_id]
    token = OAuthToken(
        access_token=state.demo_token(athlete_id),
        scope=scopes,
        athlete=OAuthAthlete(id=athlete_id.removeprefix("i"), name=athlete.name),
    )
    link_intervals(user, token, timezone=athlete.timezone)
    return user


def _own_objects(state: Any, athlete_id: str, today: dt.date) -> dict[str, list[Any]]:
    """A few objects of each kind that belong to the athlete, read from the sandbox's own data."""
    data = state.athletes[athlete_id]
    acts = [a.id for a in data.activities if not a.stub][-2:]
    future = sorted(
        (e for e in data.events.values() if e.get("category") == "WORKOUT" and e["start_date_local"][:10] > str(today)),
        key=lambda e: e["start_date_local"],
    )
    return {
        "activity": acts,
        "event": [e["id"] for e in future[:2]],
        "workout": sorted(data.workouts)[:2],
        "entry": [],
    }


def build_world(state: Any, base_url: str) -> World:
    """Create every person, grant and token (sync, ORM) and the writes whose log entries undo can target."""
    from accounts import tokens as token_mod
    from accounts.actions import ensure_athlete_token, regenerate_own_token, reveal_token
    from accounts.models import McpToken
    from coaching.actions import (
        accept_invite,
        grantable_tools,
        invite_coach,
        link_coach_api_key,
        revoke_coach,
        select_athlete,
    )
    from coaching.models import CoachGrant, RosterAthlete
    from mcpserver import present

    every = frozenset(athlete_tools())
    read = frozenset(grantable_tools()["read"])
    mara = _link("mara@example.com", MARA, state)
    diego = _link("diego@example.com", DIEGO, state)
    aroha = _link("aroha@example.com", AROHA, state)
    sam = _link("sam@example.com", SAM, state)
    maya = _link("maya@example.com", MAYA, state, scopes=READ_SCOPES)

    full = accept_invite(invite_coach(mara, "full@coach.example", sorted(every)))
    partial = accept_invite(invite_coach(diego, "partial@coach.example", PARTIAL_TOOLS, hidden=["hrv"]))
    expired = accept_invite(invite_coach(aroha, "partial@coach.example", PARTIAL_TOOLS))
    assert expired.coach_token_id is not None
    select_athlete(expired.coach_token_id, AROHA)  # selected, then the grant runs out
    CoachGrant.objects.filter(pk=expired.pk).update(expires_on=dt.date(2020, 1, 1))  # time has passed
    gone = accept_invite(invite_coach(aroha, "gone@coach.example", sorted(read)))
    assert gone.coach_token_id is not None
    select_athlete(gone.coach_token_id, AROHA)  # selected, then Aroha revokes
    revoke_coach(gone, actor=aroha)
    gone_live = accept_invite(invite_coach(mara, "gone@coach.example", ["get_fitness"]))
    link_coach_api_key(sam, state.api_key(SAM))
    # An invite narrows the roster's reach.
    narrower = accept_invite(invite_coach(mara, "sam@example.com", ["get_fitness"]))
    # Invites from a stranger, never accepted: Coach Full, Sam (who does not coach Maya upstream), Coach New.
    for coach in ("full@coach.example", "sam@example.com", "new@coach.example"):
        invite_coach(maya, coach, sorted(tools_in(READ_SCOPES)))
    new_row = McpToken.objects.get(kind=McpToken.Kind.COACH, email="new@coach.example", revoked_at=None)
    sam_row = McpToken.objects.get(kind=McpToken.Kind.COACH, user=sam, revoked_at=None)
    assert narrower.coach_token_id == sam_row.pk, "the invite and the API key share Sam's one coach URL"
    RosterAthlete.objects.filter(coach=sam, athlete_id=PRIYA).delete()  # she joined after the last refresh
    select_athlete(sam_row.pk, DIEGO)  # Sam picked Diego (read-only): writes without `athlete` must not go elsewhere

    # Dead tokens: a revoked coach URL, a deactivated owner, an athlete URL's old value after regenerating.
    dropped = accept_invite(invite_coach(diego, "dropped@coach.example", sorted(read)))
    assert dropped.coach_token is not None
    dead_revoked = reveal_token(dropped.coach_token)
    McpToken.objects.filter(pk=dropped.coach_token.pk).update(revoked_at=dt.datetime.now(dt.UTC))
    quinn = _link("quinn@example.com", MAYA, state, scopes=READ_SCOPES)
    quinn_row = ensure_athlete_token(quinn)
    assert quinn_row is not None
    dead_inactive = reveal_token(quinn_row)
    quinn.is_active = False
    quinn.save(update_fields=["is_active"])
    old_row = ensure_athlete_token(mara)
    assert old_row is not None
    dead_regenerated = reveal_token(old_row)
    regenerated = regenerate_own_token(mara)
    assert regenerated is not None
    mara_raw = regenerated[1]
    never = token_mod.generate()
    bad_check = never[:-1] + ("A" if never[-1] != "A" else "B")
    dead = {
        "revoked": dead_revoked,
        "owner deactivated": dead_inactive,
        "regenerated (old value)": dead_regenerated,
        "never issued": never,
        "bad checksum": bad_check,
        "wrong prefix": "tkn_" + never[4:],
        "truncated": never[:-6],
        "garbage": "thr_../../admin",
    }

    def raw(user: Any) -> str:
        row = ensure_athlete_token(user)
        assert row is not None
        return reveal_token(row)

    def coach_raw(grant: CoachGrant) -> str:
        assert grant.coach_token is not None
        return reveal_token(grant.coach_token)

    sam_roster = {MARA: frozenset({"get_fitness"}), DIEGO: read, AROHA: every, SAM: every}
    tokens = [
        Token("athlete:mara", mara_raw, "athlete", {MARA: every}),
        Token("athlete:diego", raw(diego), "athlete", {DIEGO: every}),
        Token("athlete:aroha", raw(aroha), "athlete", {AROHA: every}),
        Token("athlete:sam", raw(sam), "athlete", {SAM: every}),
        Token("athlete:maya", raw(maya), "athlete", {MAYA: tools_in(READ_SCOPES)}),
        Token("coach:full", coach_raw(full), "coach", {MARA: every}, why={MAYA: "unaccepted invite"}),
        Token(
            "coach:partial",
            coach_raw(partial),
            "coach",
            {DIEGO: frozenset(PARTIAL_TOOLS)},
            why={AROHA: "expired grant"},
            removed_default=AROHA,
        ),
        Token(
            "coach:gone",
            coach_raw(gone_live),
            "coach",
            {MARA: frozenset({"get_fitness"})},
            why={AROHA: "revoked grant"},
            removed_default=AROHA,
        ),
        Token(
            "coach:sam-option-b",
            coach_raw(narrower),
            "coach",
            sam_roster,
            why={PRIYA: "stale roster", MAYA: "unaccepted invite"},
            credential={DIEGO: SAM, AROHA: SAM, SAM: SAM},
            default=DIEGO,
        ),
        Token("coach:new", reveal_token(new_row), "coach", {}, why={MAYA: "unaccepted invite"}),
    ]
    for t in tokens:
        for aid in t.reach:
            t.credential.setdefault(aid, aid)
        if t.default is None and t.removed_default is None and len(t.reach) == 1:
            t.default = next(iter(t.reach))
    names = {aid: state.athletes[aid].name for aid in (MARA, DIEGO, AROHA, SAM, MAYA, PRIYA)}
    today = {aid: present.local_today(state.athletes[aid].timezone) for aid in names}
    objects = {aid: _own_objects(state, aid, today[aid]) for aid in names}
    world = World(base_url, tokens, dead, names, objects, {}, today)
    _seed_writes(world)
    return world


def _seed_writes(world: World) -> None:
    """Writes made through Threshold (each an access-log entry undo could target), by different tokens."""
    from accounts.actions import reveal_token
    from coaching.models import AccessLogEntry

    writes = [
        ("athlete:diego", DIEGO, "push_workout"),
        ("athlete:mara", MARA, "log_wellness"),
        ("coach:full", MARA, "push_workout"),
        ("coach:sam-option-b", AROHA, "push_workout"),
        ("athlete:aroha", AROHA, "add_calendar_note"),
        ("athlete:sam", SAM, "add_calendar_note"),
    ]
    nonce = secrets.token_hex(4)  # writes are retry-safe: a second world on the same sandbox must still write
    for key, aid, tool in writes:
        args = tool_args(tool, world.today[aid] + dt.timedelta(days=9), aid)
        for name in ("name", "title", "notes"):
            if name in args:
                args[name] = f"{args[name]} {nonce}"
        call = {**args, "athlete": aid, "dry_run": False}
        result = asyncio.run(_call(world, world.token(key), [(tool, call)]))[0]
        code = (result.structured_content or {}).get("confirm") if not result.is_error else None
        if code:  # it would replace a value: the preview first, then the same call with its confirm code
            result = asyncio.run(_call(world, world.token(key), [(tool, {**call, "confirm": code})]))[0]
        if result.is_error:
            raise RuntimeError(f"seed write {key} {tool} failed: {text_of(result)}")
    written = AccessLogEntry.objects.filter(is_write=True, outcome="ok", undo_of__isnull=True).order_by("pk")
    undoable = [e for e in written.select_related("token") if e.undoable]
    if len(undoable) != len(writes):
        raise RuntimeError(f"{len(writes)} seed writes left {len(undoable)} undoable entries")
    for entry in undoable:
        world.objects[entry.athlete_id]["entry"].append(entry.pk)
    # Which entries each token may legitimately undo: an athlete's own URL any write on them; a coach only
    # what their own URL wrote (mcpserver/undo.py). Every other entry is someone else's object.
    by_key = {t.raw: t.key for t in world.tokens}
    for entry in undoable:
        owner_user = entry.athlete_user_id
        for t in world.tokens:
            if entry.athlete_id not in t.reach:
                continue
            own_athlete = t.kind == "athlete" and owner_user is not None and t.key == _athlete_key(world, owner_user)
            own_coach = t.kind == "coach" and entry.token is not None and by_key.get(reveal_token(entry.token)) == t.key
            if own_athlete or own_coach:
                world.entries_by_token.setdefault(t.key, {}).setdefault(entry.athlete_id, []).append(entry.pk)


def _athlete_key(world: World, user_id: int) -> str:
    from accounts.models import User

    email = User.objects.get(pk=user_id).email
    return "athlete:" + email.split("@")[0]


# --- Arguments --------------------------------------------------------------------------------------------


def tool_args(tool: str, day: dt.date, athlete_id: str) -> dict[str, Any]:
    """Arguments that are valid for `tool` (so only the grant or the object's owner can refuse the call)."""
    d = day.isoformat()
    steps = [{"seconds": 600, "target": {"type": "hr_zone", "value": 2}}]
    per_tool: dict[str, dict[str, Any]] = {
        "get_activity_detail": {"activity_id": "i1"},
        "get_extended_metrics": {"activity_id": "i1"},
        "push_workout": {"date": d, "sport": "Ride", "name": f"Isolation probe {athlete_id}", "steps": steps},
        "schedule_library_workout": {"workout_id": 1, "date": d},
        "edit_workout": {"event_id": 1, "name": "Isolation edit"},
        "delete_workout": {"event_id": 1},
        "add_calendar_note": {"date": d, "title": f"Isolation note {athlete_id}"},
        "add_race": {"date": d, "name": "Isolation race", "sport": "Ride", "priority": "A"},
        "log_wellness": {"notes": f"Isolation probe {athlete_id} {day}"},  # a value that always changes
        "add_activity_comment": {"activity_id": "i1", "text": "Isolation probe comment"},
        "add_private_note": {"text": "Isolation probe note"},
        "select_athlete": {},
    }
    return dict(per_tool.get(tool, {}))


# --- Cases -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    token: str
    tool: str
    args: dict[str, Any]
    klass: tuple[str, ...]  # ("athlete", token, tool) | ("object", token, acting athlete, tool)
    kind: str  # why this call is forbidden (for the report)
    asked: str  # the label or id the answer may echo (normalised away before comparing)
    owner: str | None  # the athlete whose data must not appear (None: belongs to no one)
    acting: str | None = None  # object cases: the athlete the token legitimately acts for


def _labels(aid: str, name: str) -> list[str]:
    return [aid, aid.removeprefix("i"), name]


def athlete_cases(world: World) -> list[Case]:
    """Every (token, tool, athlete label) the grants do not allow."""
    from mcpserver.catalogue import REGISTRY

    cases = []
    for t in world.tokens:
        for tool, spec in REGISTRY.items():
            if "athlete" not in spec.input_model.model_fields:
                continue
            coach_tool = spec.group == "coach"
            for aid, name in world.names.items():
                if coach_tool:
                    allowed = t.kind == "coach" and aid in t.reach
                    kind = "coach tool on an athlete URL" if t.kind == "athlete" else t.why.get(aid, "other tenant")
                else:
                    allowed = tool in t.reach.get(aid, frozenset())
                    kind = t.why.get(aid) or ("ungranted tool" if aid in t.reach else "other tenant")
                if allowed:
                    continue
                for label in _labels(aid, name):
                    args = {**tool_args(tool, world.today[aid] + dt.timedelta(days=9), aid), "athlete": label}
                    cases.append(Case(t.key, tool, args, ("athlete", t.key, tool), kind, label, aid))
            for label in UNKNOWN_LABELS:
                args = {**tool_args(tool, world.today[MARA] + dt.timedelta(days=9), MARA), "athlete": label}
                cases.append(Case(t.key, tool, args, ("athlete", t.key, tool), "unknown", label, None))
            if t.default is not None and not coach_tool and tool not in t.reach[t.default]:
                # No `athlete`: the default athlete did not grant the tool. Refused, never moved to another.
                args = tool_args(tool, world.today[t.default] + dt.timedelta(days=9), t.default)
                kind = "ungranted tool, athlete omitted"
                cases.append(Case(t.key, tool, args, ("athlete", t.key, tool), kind, t.default, None))
            gone = t.removed_default
            if gone is not None and not coach_tool:
                # No `athlete`, and the selected athlete left the URL: refused with the choices, even for a
                # tool the one athlete left did grant (never a silent move to them).
                args = tool_args(tool, world.today[gone] + dt.timedelta(days=9), gone)
                kind = "removed selection, athlete omitted"
                cases.append(Case(t.key, tool, args, ("athlete", t.key, tool), kind, gone, gone))
    return cases


def _object_args(world: World, tool: str, acting: str, object_id: Any) -> dict[str, Any]:
    kind = OBJECT_TOOLS[tool]
    args = tool_args(tool, world.today[acting] + dt.timedelta(days=9), acting)
    args[OBJECT_ARG[kind]] = object_id
    args["athlete"] = acting
    if tool in (
        "add_activity_comment",
        "edit_workout",
        "delete_workout",
        "schedule_library_workout",
        "undo_last_write",
    ):
        args["dry_run"] = False  # a forbidden write must fail as a real write, not only as a preview
    return args


def object_cases(world: World) -> list[Case]:
    """Every object id of another athlete (and nonexistent/malformed ids) while acting for a reached athlete."""
    cases = []
    for t in world.tokens:
        for acting, tools in t.reach.items():
            for tool in sorted(tools & OBJECT_TOOLS.keys()):
                kind = OBJECT_TOOLS[tool]
                klass = ("object", t.key, acting, tool)
                mine = set(world.entries_by_token.get(t.key, {}).get(acting, [])) if kind == "entry" else set()
                for owner, objects in world.objects.items():
                    for oid in objects[kind]:
                        if owner == acting and (kind != "entry" or oid in mine):
                            continue
                        args = _object_args(world, tool, acting, oid)
                        if owner == acting:  # the acting athlete's own data, but a write this URL may not undo
                            why, shown_owner = "same athlete, another URL's write", None
                        else:
                            why, shown_owner = "someone else's", owner
                        cases.append(Case(t.key, tool, args, klass, why, str(oid), shown_owner, acting))
                for template in NONEXISTENT[kind]:
                    other = next(a for a in world.names if a != acting)
                    own = world.objects[acting]["activity"][0]
                    oid = template.format(other=other, own=own) if isinstance(template, str) else template
                    args = _object_args(world, tool, acting, oid)
                    cases.append(Case(t.key, tool, args, klass, "nonexistent or malformed", str(oid), None, acting))
    return cases


def control_cases(world: World) -> list[Case]:
    """The same object tools on the acting athlete's own objects: must succeed (writes as dry runs)."""
    cases = []
    for t in world.tokens:
        for acting, tools in t.reach.items():
            for tool in sorted(tools & OBJECT_TOOLS.keys()):
                kind = OBJECT_TOOLS[tool]
                ids = world.entries_by_token.get(t.key, {}).get(acting, []) if kind == "entry" else None
                own = ids if ids is not None else world.objects[acting][kind]
                if not own:
                    continue
                args = {**_object_args(world, tool, acting, own[0]), "dry_run": True}
                if tool in ("get_activity_detail", "get_extended_metrics"):
                    args.pop("dry_run")
                cases.append(Case(t.key, tool, args, ("control", t.key, acting, tool), "own object", "", None, acting))
    return cases


# --- Running ---------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    case: Case
    is_error: bool
    text: str  # the answer's text with the echoed label/id replaced
    raw: str  # the answer as sent (text + structured content)
    upstream: list[tuple[str, str, str, str | None, int]]


# In a call's arguments: the confirmation code of the answer just before it (the preview of an overwrite).
CONFIRM = "<the code of the preview just before>"


async def _call(world: World, token: Token, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    from mcp.client import Client

    async with Client(f"{world.base_url}/mcp/{token.raw}", mode="legacy") as client:
        out: list[Any] = []
        for tool, args in calls:
            if args.get("confirm") == CONFIRM:
                code = (out[-1].structured_content or {}).get("confirm") if out else None
                args = {**args, "confirm": code}
            out.append(await client.call_tool(tool, args))
        return out


def text_of(result: Any) -> str:
    """The answer's one text block ("" if it has none)."""
    from mcp_types import TextContent

    first = result.content[0] if result.content else None
    return first.text if isinstance(first, TextContent) else ""


def _settled(state: Any) -> int:
    """The sandbox's request count once the last request it served is recorded (it records after sending)."""
    count = int(state.request_count)
    while True:
        time.sleep(0.002)
        now = int(state.request_count)
        if now == count:
            return now
        count = now


_ECHO = re.compile(r"^No athlete '[^']*'")


def normalise(text: str, case: Case) -> str:
    """Remove the one part of a refusal that may vary inside its class: the label or id it echoes."""
    if case.klass[0] == "athlete":
        # The echo is what was asked, or the default athlete's id / "(default athlete)" when nothing was.
        return _ECHO.sub("No athlete '<athlete>'", text.replace(f"'{case.asked}'", "'<athlete>'"))
    # Only the echo (the first occurrence): an id asked as "0" must not eat the zeros of the athlete's id.
    return text.replace(case.asked, "<id>", 1) if case.asked else text


async def _run_token(world: World, state: Any, token: Token, cases: list[Case]) -> list[Outcome]:
    from mcp.client import Client

    out = []
    end = await asyncio.to_thread(_settled, state)
    async with Client(f"{world.base_url}/mcp/{token.raw}", mode="legacy") as client:
        for case in cases:
            mark = end
            result = await client.call_tool(case.tool, case.args)
            end = await asyncio.to_thread(_settled, state)
            text = text_of(result)
            raw = text + json.dumps(result.structured_content or {}, sort_keys=True)
            seen = list(state.requests[mark:end])
            out.append(Outcome(case, bool(result.is_error), normalise(text, case), raw, seen))
    return out


def run_cases(world: World, state: Any, cases: list[Case]) -> list[Outcome]:
    """Each case over real HTTP with the official client, one session per token, upstream requests attributed."""
    by_token: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_token[case.token].append(case)

    async def go() -> list[Outcome]:
        out: list[Outcome] = []
        for key, mine in by_token.items():
            out += await _run_token(world, state, world.token(key), mine)
        return out

    return asyncio.run(go())


def run_dead(world: World, state: Any, tools: Iterable[str]) -> tuple[Counter[tuple[int, bytes]], int, int, bool]:
    """Every dead token on every tool, in the path and in the Authorization header: answers, calls, upstream."""
    import httpx
    from mcp.client import Client

    answers: Counter[tuple[int, bytes]] = Counter()
    before = _settled(state)
    calls = 0
    with httpx.Client(timeout=30) as http:
        for raw in world.dead.values():
            for i, tool in enumerate(["<initialize>", *tools]):
                if tool == "<initialize>":
                    body: dict[str, Any] = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}
                else:
                    params = {"name": tool, "arguments": {"athlete": MARA}}
                    body = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params}
                headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
                targets = [(f"{world.base_url}/mcp/{raw}", headers)]
                targets.append((f"{world.base_url}/mcp/", {**headers, "Authorization": f"Bearer {raw}"}))
                for url, hdrs in targets:
                    response = http.post(url, json=body, headers=hdrs)
                    answers[(response.status_code, response.content)] += 1
                    calls += 1

    async def official_client_refused() -> bool:
        try:
            async with Client(f"{world.base_url}/mcp/{world.dead['revoked']}", mode="legacy") as client:
                await client.call_tool("get_training_history", {"athlete": MARA})
        except Exception:  # any failure to connect is the expected outcome here
            return True
        return False

    refused = asyncio.run(official_client_refused())
    return answers, calls, _settled(state) - before, refused


# --- Verdicts --------------------------------------------------------------------------------------------


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    answers: dict[tuple[str, ...], set[str]] = field(default_factory=lambda: defaultdict(set))
    object_upstream: Counter[str] = field(default_factory=Counter)
    hidden_previews: int = 0

    def fail(self, message: str) -> None:
        self.failures.append(message)


def _leaks(world: World, outcome: Outcome) -> list[str]:
    """Names or ids of the forbidden athlete found in the answer (after removing what the caller sent)."""
    owner = outcome.case.owner
    if owner is None:
        return []
    asked = outcome.case.asked
    shown = outcome.raw.replace(f"'{asked}'", "").replace(asked, "") if asked else outcome.raw
    return [s for s in (owner, world.names[owner]) if s in shown]


_SHAPE = re.compile(r"\d{5,}")


def check(world: World, outcomes: list[Outcome], controls: list[Outcome], report: Report | None = None) -> Report:
    """Apply every rule; record failures (never raises)."""
    report = report or Report()
    for o in outcomes:
        c = o.case
        label = f"{c.token} {c.tool} {c.kind} {c.asked!r}" + (f" acting for {c.acting}" if c.acting else "")
        if not o.is_error:
            report.fail(f"forbidden call succeeded: {label}: {o.raw[:200]}")
            continue
        report.answers[c.klass].add(o.text)
        for leak in _leaks(world, o):
            report.fail(f"answer names the forbidden athlete ({leak}): {label}: {o.raw[:200]}")
        if c.klass[0] == "athlete":
            if o.upstream:
                report.fail(f"refused athlete reached Intervals.icu: {label}: {o.upstream}")
            if not o.text.startswith("No athlete '<athlete>'"):
                report.fail(f"unexpected refusal: {label}: {o.text}")
            continue
        acting = c.acting or ""
        expected = NOT_FOUND[OBJECT_TOOLS[c.tool]].format(athlete=acting)
        if not o.text.startswith(expected):
            report.fail(f"object refusal is not the not-found answer: {label}: {o.text}")
        credential = world.token(c.token).credential[acting]
        for method, path, auth, who, status in o.upstream:
            shape = _SHAPE.sub("N", path.replace(acting, "{A}"))
            report.object_upstream[
                f"{c.tool}: {method} {shape} -> {status} ({auth} of {'A' if who == credential else who})"
            ] += 1
            if method != "GET":
                report.fail(f"a refused object call wrote upstream: {label}: {method} {path}")
            if auth != "none" and who != credential:  # "none": no route matched, nothing was authenticated
                report.fail(f"a refused object call used another credential ({who}): {label}: {path}")
            if not path.startswith(f"/api/v1/athlete/{acting}/"):
                report.fail(f"a refused object call asked outside {acting}'s own collection: {label}: {path}")
    for klass, texts in report.answers.items():
        if len(texts) != 1:
            report.fail(f"{len(texts)} distinct answers for {klass}: {sorted(texts)}")
    for o in controls:
        if o.is_error:
            c = o.case
            report.fail(f"control failed (own object refused): {c.token} {c.tool} acting for {c.acting}: {o.raw[:200]}")
    return report


# Distinctive values planted in Diego's wellness for the hidden-class checks, and how they show in answers
# (a number not inside a longer one). The wellness comment may mention anything: every hidden class hides it.
HIDDEN_PLANT = {
    "weight": 71.3,
    "hrv": 83.2,
    "restingHR": 47,
    "sleepSecs": 26460,  # 7.35 h
    "menstrualPhase": "LUTEAL",
    "comments": "marker-notes-wellness",
}
_N = r"(?<![\d.:]){}(?![\d])"
HIDDEN_MARKERS: dict[str, list[str]] = {
    "weight": [_N.format(r"71\.3")],
    "hrv": [_N.format(r"83\.2"), _N.format("47")],
    "sleep": [_N.format(r"7\.35")],
    "menstrual": ["(?i)luteal"],
    "location": [],  # a wellness record has no location: the class is checked through the comment alone
    "notes": ["marker-notes-wellness"],
}
HIDDEN_COMMENT = "marker-notes-wellness"
HIDDEN_CLASSES = ("weight", "hrv", "sleep", "menstrual", "location", "notes")


def _blob(result: Any) -> str:
    """An answer's text and structured content, without the access-log id it may echo (a counter) or its
    confirmation code (a fresh MAC, which could read like a planted value)."""
    data = dict(result.structured_content or {})
    if isinstance(data.get("undone"), dict):
        data["undone"] = {k: v for k, v in data["undone"].items() if k != "entry_id"}
    blob = text_of(result) + "\n" + json.dumps(data, ensure_ascii=False)
    code = data.get("confirm")
    return blob.replace(code, "<confirm>") if isinstance(code, str) and code else blob


def _plant_hidden(world: World, state: Any) -> None:
    data = state.athletes[DIEGO]
    for back in range(3):
        state.put_wellness(data, world.today[DIEGO] - dt.timedelta(days=back), HIDDEN_PLANT)


def hidden_class_check(world: World, report: Report, state: Any) -> None:
    """Hidden classes, checked by value. Distinctive values are planted in Diego's wellness; Coach Partial
    (HRV hidden) reads it without them. Then, under every hidden class (and under none, as a control), a
    coach allowed to log wellness on Diego writes over the planted values and previews `undo_last_write`:
    the preview must not show the planted values of the hidden class (nor the wellness comment), which
    the control coach sees."""
    from accounts.actions import reveal_token
    from accounts.models import User
    from coaching.actions import accept_invite, invite_coach

    _plant_hidden(world, state)
    partial = world.token("coach:partial")
    own = world.token("athlete:diego")
    read = asyncio.run(_call(world, partial, [("get_wellness", {"athlete": DIEGO})]))[0]
    mine = asyncio.run(_call(world, own, [("get_wellness", {})]))[0]
    if read.is_error or mine.is_error:
        report.fail(f"hidden-class control failed: {text_of(read)} / {text_of(mine)}")
        return
    for pattern in [*HIDDEN_MARKERS["hrv"][:1], HIDDEN_COMMENT]:
        if not re.search(pattern, _blob(mine)):
            report.fail(f"Diego's own get_wellness does not show the planted {pattern!r}: the check proves nothing")
        if re.search(pattern, _blob(read)):
            report.fail(f"hidden HRV value {pattern!r} shown to Coach Partial in get_wellness")

    diego = User.objects.get(email="diego@example.com")
    logged = {"weight_kg": 70.1, "resting_hr": 50, "hrv_ms": 60.5, "sleep_hours": 6.5, "soreness": 2, "notes": "x"}
    for hidden in ("", *HIDDEN_CLASSES):
        grant = accept_invite(
            invite_coach(
                diego,
                f"hides-{hidden or 'nothing'}@coach.example",
                ["log_wellness", "undo_last_write"],
                hidden=[hidden] if hidden else [],
            )
        )
        assert grant.coach_token is not None
        coach = Token(f"coach:hides-{hidden}", reveal_token(grant.coach_token), "coach", {DIEGO: frozenset()})
        _plant_hidden(world, state)
        # Writing over the planted values and undoing both overwrite: each is previewed, then confirmed.
        calls = [
            ("log_wellness", {"athlete": DIEGO, **logged, "dry_run": True}),
            ("log_wellness", {"athlete": DIEGO, **logged, "confirm": CONFIRM}),
            ("undo_last_write", {"athlete": DIEGO, "dry_run": True}),
            ("undo_last_write", {"athlete": DIEGO, "confirm": CONFIRM}),  # puts the planted values back
        ]
        answers = asyncio.run(_call(world, coach, calls))
        failed = [f"{tool}: {text_of(r)}" for (tool, _), r in zip(calls, answers, strict=True) if r.is_error]
        if failed:
            report.fail(f"hidden-class undo check ({hidden or 'nothing'} hidden) failed: {failed}")
            continue
        preview = _blob(answers[2])
        report.hidden_previews += 1
        if not hidden:
            missing = [
                p for c in HIDDEN_CLASSES for p in HIDDEN_MARKERS[c] if c != "menstrual" and not re.search(p, preview)
            ]
            if missing:
                report.fail(f"the undo preview of a coach who hides nothing misses {missing}: the check proves nothing")
            continue
        for pattern in [*HIDDEN_MARKERS[hidden], HIDDEN_COMMENT]:
            named = zip(answers, ("log_wellness preview", "log_wellness", "undo preview", "undo"), strict=True)
            for answer, name in named:
                if re.search(pattern, _blob(answer)):
                    report.fail(f"{hidden} hidden, yet {name} shows {pattern!r}: {_blob(answer)[:300]}")


def subset(cases: list[Case], per_class: int, always: Callable[[Case], bool] | None = None) -> list[Case]:
    """Up to `per_class` cases per answer class, spread over the kinds of refusal and, class after class,
    rotated over the labels and ids (deterministic); plus every case `always` selects."""
    chosen: list[Case] = []
    by_class: dict[tuple[str, ...], list[Case]] = defaultdict(list)
    for c in cases:
        by_class[c.klass].append(c)
    for turn, members in enumerate(by_class.values()):
        by_kind: dict[str, list[Case]] = defaultdict(list)
        for c in members:
            by_kind[c.kind].append(c)
        for kind, group in by_kind.items():
            shift = turn % len(group)
            by_kind[kind] = group[shift:] + group[:shift]
        picked = [c for c in members if always is not None and always(c)]
        kinds = sorted(by_kind)
        kinds = kinds[turn % len(kinds) :] + kinds[: turn % len(kinds)]
        while len(picked) < per_class and any(by_kind.values()):
            for kind in kinds:
                if by_kind[kind] and len(picked) < per_class:
                    case = by_kind[kind].pop(0)
                    if case not in picked:
                        picked.append(case)
        chosen += picked
    return chosen


# --- The benchmark ---------------------------------------------------------------------------------------


def _serve(app: Any, port: int) -> Callable[[], None]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--per-class", type=int, default=0, help="cases per answer class (0: all)")
    options = parser.parse_args()

    from bench._support import free_port, setup_django

    # setup_django flushes the bench's Redis database: use one no other bench flushes under us.
    os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    sandbox_port, product_port = free_port(), free_port()
    setup_django(
        INTERVALS_BASE_URL=f"http://127.0.0.1:{sandbox_port}",
        INTERVALS_CLIENT_ID="threshold-test",
        INTERVALS_CLIENT_SECRET="threshold-test-secret",
        SITE_URL=f"http://127.0.0.1:{product_port}",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",  # invites are emailed; no SMTP here
    )
    from config.asgi import build_application
    from integrations.intervals.sandbox import SandboxState
    from integrations.intervals.sandbox.app import create_app
    from mcpserver.catalogue import REGISTRY
    from mcpserver.gate import NOT_FOUND_BODY

    state = SandboxState(sandbox_config())
    prepare_sandbox(state)
    stops = [
        _serve(create_app(state=state), sandbox_port),
        _serve(build_application(mount_sandbox=False), product_port),
    ]
    try:
        started = time.perf_counter()
        world = build_world(state, f"http://127.0.0.1:{product_port}")
        setup_s = time.perf_counter() - started
        forbidden = athlete_cases(world) + object_cases(world)
        if options.per_class:
            forbidden = subset(forbidden, options.per_class)
        started = time.perf_counter()
        outcomes = run_cases(world, state, forbidden)
        controls = run_cases(world, state, control_cases(world))
        forbidden_s = time.perf_counter() - started
        report = check(world, outcomes, controls)
        hidden_class_check(world, report, state)
        started = time.perf_counter()
        dead_answers, dead_calls, dead_upstream, client_refused = run_dead(world, state, REGISTRY)
        dead_s = time.perf_counter() - started
        if set(dead_answers) != {(404, NOT_FOUND_BODY)}:
            report.fail(f"dead tokens answered {len(dead_answers)} ways: {list(dead_answers)[:3]}")
        if dead_upstream:
            report.fail(f"dead tokens caused {dead_upstream} upstream requests")
        if not client_refused:
            report.fail("the official client connected with a revoked token")
    finally:
        for stop in reversed(stops):
            stop()

    athlete_out = [o for o in outcomes if o.case.klass[0] == "athlete"]
    object_out = [o for o in outcomes if o.case.klass[0] == "object"]
    classes = Counter(k[0] for k in report.answers)
    distinct = Counter(k[0] for k, v in report.answers.items() if len(v) == 1)
    figures = {
        "tokens (live)": len(world.tokens),
        "tokens (dead)": len(world.dead),
        "athletes": len(world.names),
        "athlete labels tried": len({o.case.asked for o in athlete_out}),
        "tools": len(REGISTRY),
        "object ids": len({(o.case.tool, o.case.asked) for o in object_out}),
        "forbidden calls (athlete)": len(athlete_out),
        "forbidden calls (object)": len(object_out),
        "dead-token requests": dead_calls,
        "control calls (own objects)": len(controls),
        "answer classes athlete / object": f"{classes['athlete']} / {classes['object']}",
        "classes with exactly 1 answer": f"{distinct['athlete']} / {distinct['object']}",
        "dead-token distinct answers": len(dead_answers),
        "undo previews checked by value (hidden classes + control)": report.hidden_previews,
        "upstream requests, athlete refusals": sum(len(o.upstream) for o in athlete_out),
        "upstream requests, object refusals": sum(len(o.upstream) for o in object_out),
        "upstream requests, dead tokens": dead_upstream,
        "world set-up s": round(setup_s, 1),
        "forbidden + control calls s": round(forbidden_s, 1),
        "dead tokens s": round(dead_s, 1),
    }
    width = max(len(k) for k in figures)
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    print("upstream requests during object refusals (path shape -> status, credential):")
    for shape, n in sorted(report.object_upstream.items()):
        print(f"  {n:5d}  {shape}")
    print(f"failures: {len(report.failures)}")
    for f in report.failures[:50]:
        print("  " + f)
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
