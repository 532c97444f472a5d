"""roster_digest and athlete_overview end to end, checked against the sandbox's real calendar and data.

People: Mara grants Coach every read tool; Diego grants only get_training_history and get_events; Aroha
grants every read tool but hides HRV and notes/comments. One coach URL reaches all three.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from accounts.actions import reveal_token
from coaching.actions import accept_invite, add_private_note, grantable_tools, invite_coach
from mcpserver import present
from tests.conftest import AROHA, DIEGO, MARA, Sandbox, ServerThread, make_athlete
from tests.read_tools_helpers import ok, upstream

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

COACH = "coach@example.com"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Coach:
    url: str
    token_id: int


@pytest.fixture
def coach(product: ServerThread, sandbox: Sandbox) -> Coach:
    reads = grantable_tools()["read"]
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    aroha = make_athlete("aroha@example.com", athlete_id=AROHA, sandbox=sandbox)
    grant = accept_invite(invite_coach(mara, COACH, reads))
    accept_invite(invite_coach(diego, COACH, ["get_training_history", "get_events"]))
    accept_invite(invite_coach(aroha, COACH, reads, hidden=["hrv", "notes"]))
    assert grant.coach_token is not None
    add_private_note(grant.coach_token.pk, MARA, "Left knee niggle in October: keep run volume low.")
    return Coach(f"{product.url}/mcp/{reveal_token(grant.coach_token)}", grant.coach_token.pk)


def today_of(tz: str) -> date:
    return present.local_today(tz)


def strava_days(acts: list[dict[str, Any]]) -> set[str]:
    """Days of Strava imports (the API hides their pairing: a plan that day is not called missed)."""
    return {a["start_date_local"][:10] for a in acts if a.get("source") == "STRAVA" and not a.get("type")}


def expected_missed(sandbox: Sandbox, athlete: str, tz: str) -> list[str]:
    """Planned workouts of the last 7 days (not today) that no activity is paired with, from the sandbox."""
    today = today_of(tz)
    lo = today - timedelta(days=7)
    events = upstream(
        sandbox,
        athlete,
        f"/athlete/{athlete}/events",
        oldest=lo.isoformat(),
        newest=today.isoformat(),
        category="WORKOUT",
    )
    acts = upstream(
        sandbox,
        athlete,
        f"/athlete/{athlete}/activities",
        oldest=(today - timedelta(days=27)).isoformat(),
        newest=f"{today}T23:59:59",
    )
    paired = {a.get("paired_event_id") for a in acts}
    return [
        f"{present.day_label(date.fromisoformat(e['start_date_local'][:10]))} {e['name']}"[:60]
        for e in events
        if e["id"] not in paired
        and e["start_date_local"][:10] < today.isoformat()
        and e["start_date_local"][:10] not in strava_days(acts)
    ]


def flags_of(data: dict[str, Any], athlete: str) -> dict[str, list[str]]:
    rows = data["athletes"].get("rows", [])
    row = next((r for r in rows if r[0] == athlete), None)
    return {} if row is None else {f[0]: f for f in row[5]}


async def test_the_digest_ranks_real_flags_and_respects_each_grant(coach: Coach, sandbox: Sandbox) -> None:
    data = await ok(coach.url, "roster_digest", {})
    named = {r[0]: r for r in data["athletes"].get("rows", [])}
    for athlete, tz in ((MARA, "Europe/Stockholm"), (DIEGO, "America/Denver"), (AROHA, "Pacific/Auckland")):
        if athlete in named:
            assert named[athlete][2] == tz and named[athlete][3] == present.day_label(today_of(tz))
        else:
            assert athlete in data["clear"]
    # Missed sessions are exactly the sandbox's unpaired planned workouts.
    for athlete, tz in ((MARA, "Europe/Stockholm"), (DIEGO, "America/Denver")):
        missed = expected_missed(sandbox, athlete, tz)
        flag = flags_of(data, athlete).get("missed")
        if missed:
            assert flag is not None and flag[2].startswith(f"{len(missed)} missed"), (missed, flag)
            assert missed[0].split(" ")[1] in flag[2]  # the first missed date, athlete-local
        else:
            assert flag is None
    # Diego granted no fitness/wellness/comment tool; Aroha hid HRV and comments.
    skipped = data["skipped"]
    assert DIEGO in skipped["form"] and DIEGO in skipped["ramp"] and DIEGO in skipped["hrv"]
    assert DIEGO in skipped["comments"]
    assert AROHA in skipped["hrv (hidden)"] and AROHA in skipped["comments (hidden)"]
    assert MARA not in {a for ids in skipped.values() for a in ids}
    aroha = flags_of(data, AROHA)
    assert "hrv" not in aroha and "comments" not in aroha
    # Mara's comment threads: the athlete wrote last on these activities (sandbox replies).
    today = today_of("Europe/Stockholm")
    acts = upstream(
        sandbox,
        MARA,
        f"/athlete/{MARA}/activities",
        oldest=(today - timedelta(days=27)).isoformat(),
        newest=f"{today}T23:59:59",
    )
    waiting = []
    for a in acts:
        if a.get("icu_chat_id") and a["start_date_local"][:10] >= (today - timedelta(days=6)).isoformat():
            msgs = upstream(sandbox, MARA, f"/activity/{a['id']}/messages")
            if msgs and str(msgs[-1]["athlete_id"]).removeprefix("i") == MARA.removeprefix("i"):
                waiting.append(a["id"])
    flag = flags_of(data, MARA).get("comments")
    assert (flag is not None and flag[2].startswith(f"{len(waiting)} awaiting")) if waiting else flag is None


async def test_the_digest_stays_small_enough_for_fifty_athletes(coach: Coach) -> None:
    data = await ok(coach.url, "roster_digest", {})

    def size(obj: Any) -> int:
        return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())

    rows = data["athletes"]["rows"]
    assert rows, "the sandbox gives these athletes something to flag"
    fixed = size({k: v for k, v in data.items() if k not in ("athletes", "skipped", "clear")})
    per_athlete = sum(size(r) for r in rows) / len(rows)
    print(f"digest: {size(data)} B for 3 athletes; fixed {fixed} B; {per_athlete:.0f} B per flagged athlete")
    assert fixed + 50 * per_athlete < 12 * 1024, (fixed, per_athlete)


async def test_the_overview_has_every_part_the_grant_allows(coach: Coach, sandbox: Sandbox) -> None:
    data = await ok(coach.url, "athlete_overview", {"athlete": MARA})
    assert data["athlete"] == {"id": MARA, "name": {"untrusted": "Mara Lindqvist"}, "timezone": "Europe/Stockholm"}
    today = today_of("Europe/Stockholm")
    wellness = upstream(
        sandbox,
        MARA,
        f"/athlete/{MARA}/wellness",
        oldest=(today - timedelta(days=41)).isoformat(),
        newest=today.isoformat(),
    )
    last = [w for w in wellness if w.get("ctl") is not None][-1]
    assert data["load"]["date"] == present.day_label(date.fromisoformat(last["id"]))
    # Today as done so far, as get_fitness gives it (tests/test_done_vs_planned.py pins a day with a plan left).
    fitness = await ok(coach.url, "get_fitness", {"athlete": MARA})
    assert data["load"]["ctl"] == fitness["current"]["ctl"]
    planned = upstream(
        sandbox,
        MARA,
        f"/athlete/{MARA}/events",
        oldest=(today + timedelta(days=1)).isoformat(),
        newest=(today + timedelta(days=14)).isoformat(),
    )
    assert len(data["next_2_weeks"]) == len(planned)
    # An empty list is left out of answers (absent = none), so a day with nothing missed has no key.
    assert data["last_2_weeks"].get("missed", []) == expected_missed_2w(sandbox, today)
    assert "FTP" in next(iter(data["profile"].values()))
    assert data["private_notes"][0][1]["untrusted"].endswith("keep run volume low.")  # the coach's, but data
    assert "skipped" not in data


def expected_missed_2w(sandbox: Sandbox, today: date) -> list[dict[str, Any]]:
    lo = today - timedelta(days=13)
    events = upstream(
        sandbox, MARA, f"/athlete/{MARA}/events", oldest=lo.isoformat(), newest=today.isoformat(), category="WORKOUT"
    )
    acts = upstream(
        sandbox,
        MARA,
        f"/athlete/{MARA}/activities",
        oldest=(today - timedelta(days=27)).isoformat(),
        newest=f"{today}T23:59:59",
    )
    paired = {a.get("paired_event_id") for a in acts}
    out = []
    for e in events:
        day = e["start_date_local"][:10]
        if e["id"] not in paired and day < today.isoformat() and day not in strava_days(acts):
            name = e["name"] if len(e["name"]) <= 40 else e["name"][:39] + "…"
            label = present.day_label(date.fromisoformat(day))
            out.append({"date": label, "id": e["id"], "name": {"untrusted": name}})  # names are data
    return out


async def test_a_partial_grant_gets_only_its_parts(coach: Coach) -> None:
    data = await ok(coach.url, "athlete_overview", {"athlete": "Diego"})
    assert data["athlete"]["id"] == DIEGO
    assert "load" not in data and "profile" not in data and "open_threads" not in data
    assert "last_2_weeks" in data and "next_2_weeks" in data
    assert any("get_fitness" in s for s in data["skipped"])
    assert any("get_athlete_profile" in s for s in data["skipped"])
    hidden = await ok(coach.url, "athlete_overview", {"athlete": AROHA})
    dumped = json.dumps(hidden)
    assert "open_threads" not in hidden and "hrv" not in dumped.lower().replace("hrv (hidden)", "")
