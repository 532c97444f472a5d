"""Hidden data classes (issues #13, #14, #15), checked by value over every tool.

Mara hides data classes from her coaches. Distinctive values are planted in her data upstream (the
sandbox): wellness (weight 71.3 kg, resting HR 47 bpm, HRV 83.2 ms, sleep 7.35 h, menstrual phase LUTEAL, a
comment "marker-notes-wellness"), her profile (weight, resting HR, the city "Markerville"), a recent activity
(description "marker-notes-description", weather 13.37 °C) and a comment she wrote on it. Coach Open sees
everything; one coach per class hides that class alone; Coach Closed hides them all. No hidden value may
appear anywhere in an answer (structuredContent or text) of a coach it is hidden from, through reads, writes,
undo previews and undos; Mara's own free text (wellness comment, activity description) may mention anything,
so every hidden class hides it. Coach Open sees each of them. Reads are also checked by difference: the
class's values are changed upstream and every read answer of the coach who hides it must stay the same,
byte for byte, while Coach Open's changes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from mcp.client import Client as McpClient

from accounts.actions import reveal_token
from coaching.actions import accept_invite, grantable_tools, invite_coach
from coaching.models import AccessLogEntry, CatchUpCursor, CoachGrant
from mcpserver import present, redact
from tests.conftest import MARA, PASSWORD, Sandbox, ServerThread, make_athlete

pytestmark = pytest.mark.django_db(transaction=True)

CLASSES = redact.DATA_CLASSES
STOCKHOLM = "Europe/Stockholm"
PLANTED_DAYS = 4  # the last few days of Mara's calendar (today included) carry the planted values

# What is planted for each class (the world's values), and the other values the difference check uses.
WELLNESS_A: dict[str, dict[str, Any]] = {
    "weight": {"weight": 71.3},
    "hrv": {"hrv": 83.2, "restingHR": 47, "readiness": 66.0},
    "sleep": {"sleepSecs": 26460, "sleepScore": 64.0, "sleepQuality": 3},
    "menstrual": {"menstrualPhase": "LUTEAL", "menstrualPhasePredicted": "LUTEAL"},
    "location": {},
    "notes": {"comments": "marker-notes-wellness"},
}
WELLNESS_B: dict[str, dict[str, Any]] = {
    "weight": {"weight": 68.8},
    "hrv": {"hrv": 91.7, "restingHR": 52, "readiness": 58.0},
    "sleep": {"sleepSecs": 23040, "sleepScore": 79.0, "sleepQuality": 1},
    "menstrual": {"menstrualPhase": "FOLLICULAR", "menstrualPhasePredicted": "FOLLICULAR"},
    "location": {},
    "notes": {"comments": "marker-notes-wellness-changed"},
}
PROFILE_A = {
    "weight": {"weight": 71.3, "icu_weight": 71.3},
    "hrv": {"icu_resting_hr": 47},
    "location": {"city": "Markerville"},
}
PROFILE_B = {
    "weight": {"weight": 68.8, "icu_weight": 68.8},
    "hrv": {"icu_resting_hr": 52},
    "location": {"city": "Otherton"},
}
ACTIVITY_A = {"location": {"average_weather_temp": 13.37}, "notes": {"description": "marker-notes-description"}}
ACTIVITY_B = {"location": {"average_weather_temp": 21.21}, "notes": {"description": "marker-notes-description-changed"}}
MESSAGE_A, MESSAGE_B = "marker-notes-chat", "marker-notes-chat-changed"

# The planted values as they can appear in an answer (numbers not inside a longer number).
_NUM = r"(?<![\d.]){}(?![\d])"
MARKERS: dict[str, list[str]] = {
    "weight": [_NUM.format(r"71\.3")],
    "hrv": [_NUM.format(r"83\.2")],
    "sleep": [_NUM.format(r"7\.35")],
    "menstrual": ["(?i)luteal"],
    "location": ["Markerville", _NUM.format(r"13\.37")],
    "notes": ["marker-notes"],
}
# Free text Mara wrote for herself (the wellness comment, the activity's description) may mention any class:
# every hidden class hides it.
OWN_TEXT = ("marker-notes-wellness", "marker-notes-description")
NOT_SHOWN_BY_ANY_TOOL: set[str] = set()  # get_wellness shows the menstrual phase since issue #14


@dataclass
class World:
    url: dict[str, str]  # coach key -> MCP URL
    token_id: dict[str, int]
    activity_id: str
    today: dt.date


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """This module's own upstream, so the values planted in Mara's data reach no other test."""
    from integrations.intervals.sandbox import SandboxConfig, SandboxState
    from integrations.intervals.sandbox.app import create_app
    from tests.conftest import ServerThread as Server

    state = SandboxState(SandboxConfig(clients={"threshold-test": ("threshold-test-secret", None)}, history_days=60))
    server = Server(create_app(state=state)).start()
    yield Sandbox(state=state, url=server.url)
    server.stop()


def _activity(sandbox: Sandbox, today: dt.date) -> str:
    """Mara's latest activity of the last week with a comment thread (coach tools read those threads)."""
    data = sandbox.state.athletes[MARA]
    recent = [a for a in data.activities if not a.stub and a.id in data.messages and a.day >= today - dt.timedelta(6)]
    return max(recent, key=lambda a: a.day).id


def plant(sandbox: Sandbox, world_today: dt.date, activity_id: str, values: str, classes: tuple[str, ...]) -> None:
    """Put the A (world) or B (changed) values of `classes` in Mara's upstream data."""
    state = sandbox.state
    data = state.athletes[MARA]
    wellness, profile, activity = (
        (WELLNESS_A, PROFILE_A, ACTIVITY_A) if values == "A" else (WELLNESS_B, PROFILE_B, ACTIVITY_B)
    )
    for cls in classes:
        for i in range(PLANTED_DAYS):
            if wellness[cls]:
                state.put_wellness(data, world_today - dt.timedelta(days=i), wellness[cls])
        data.profile.update(profile.get(cls, {}))
        data.by_id[activity_id].data.update(activity.get(cls, {}))
        if cls == "notes":
            data.messages[activity_id][-1]["content"] = MESSAGE_A if values == "A" else MESSAGE_B


def build_world(product: ServerThread, sandbox: Sandbox) -> World:
    today = present.local_today(STOCKHOLM)
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    activity_id = _activity(sandbox, today)
    data = sandbox.state.athletes[MARA]
    if data.messages[activity_id][-1]["athlete_id"] != MARA:  # Mara wrote last: her comment awaits a reply
        message = dict(data.messages[activity_id][-1], id=59_999_999, athlete_id=MARA, name="Mara Lindqvist")
        sandbox.state.add_message(data, activity_id, message)
    plant(sandbox, today, activity_id, "A", CLASSES)
    everything = [t for group in grantable_tools().values() for t in group]
    hides = {"open": [], "closed": list(CLASSES), **{cls: [cls] for cls in CLASSES}}
    url, token_id = {}, {}
    for key, hidden in hides.items():
        grant = accept_invite(invite_coach(mara, f"{key}@coach.example", everything, hidden=hidden))
        assert grant.coach_token is not None
        url[key] = f"{product.url}/mcp/{reveal_token(grant.coach_token)}"
        token_id[key] = grant.coach_token.pk
    return World(url, token_id, activity_id, today)


def read_calls(world: World) -> list[tuple[str, dict[str, Any]]]:
    """Every tool that reads Mara's data, on Mara (the roster-wide coach tools in both forms)."""
    start = str(world.today - dt.timedelta(days=27))
    return [
        ("select_athlete", {"athlete": MARA}),  # first: a selection made once shows in every round alike
        ("whoami", {}),
        ("list_athletes", {}),
        ("get_training_history", {"athlete": MARA}),
        ("get_activity_detail", {"athlete": MARA, "activity_id": world.activity_id}),
        ("get_extended_metrics", {"athlete": MARA, "activity_id": world.activity_id}),
        ("get_training_summary", {"athlete": MARA}),
        ("get_fitness", {"athlete": MARA}),
        ("get_wellness", {"athlete": MARA}),
        ("get_wellness", {"athlete": MARA, "start": start, "by": "week"}),
        ("get_best_efforts", {"athlete": MARA}),
        ("get_power_curves", {"athlete": MARA}),
        ("get_events", {"athlete": MARA}),
        ("get_workout_library", {"athlete": MARA}),
        ("get_athlete_profile", {"athlete": MARA}),
        ("athlete_overview", {"athlete": MARA}),
        ("catch_up", {"athlete": MARA}),
        ("catch_up", {}),
        ("get_conversations", {"athlete": MARA}),
        ("get_conversations", {}),
        ("roster_digest", {}),
        ("search_roster", {}),
        ("get_private_notes", {"athlete": MARA}),
    ]


def write_calls(world: World) -> list[tuple[str, dict[str, Any]]]:
    """Writes whose answers quote Mara's data: log wellness over the planted values (a replacement: preview,
    then confirmed with the preview's code), preview its undo, undo it with that preview's code (which puts the
    planted values back); and the other writes as previews."""
    later = str(world.today + dt.timedelta(days=5))
    steps = [{"seconds": 600, "target": {"type": "hr_zone", "value": 2}}]
    logged = {"weight_kg": 70.1, "resting_hr": 50, "hrv_ms": 60.5, "sleep_hours": 6.5, "sleep_quality": 2}
    return [
        ("log_wellness", {"athlete": MARA, **logged, "soreness": 2, "notes": "coach wrote", "dry_run": True}),
        ("log_wellness", {"athlete": MARA, **logged, "soreness": 2, "notes": "coach wrote", "confirm": CONFIRM}),
        ("undo_last_write", {"athlete": MARA, "dry_run": True}),
        ("undo_last_write", {"athlete": MARA, "dry_run": False, "confirm": CONFIRM}),
        ("push_workout", {"athlete": MARA, "date": later, "sport": "Ride", "name": "Probe", "steps": steps}),
        ("add_calendar_note", {"athlete": MARA, "date": later, "title": "Probe"}),
        ("add_race", {"athlete": MARA, "date": later, "name": "Probe", "sport": "Ride", "priority": "A"}),
        ("add_activity_comment", {"athlete": MARA, "activity_id": world.activity_id, "text": "Probe"}),
        ("add_private_note", {"athlete": MARA, "text": "Probe note"}),
    ]


# In a call's arguments: the confirmation code of the answer just before it (a preview of the same call).
CONFIRM = "<the code of the preview just before>"


@dataclass
class Answer:
    tool: str
    args: dict[str, Any]
    is_error: bool
    text: str
    data: dict[str, Any]

    def blob(self) -> str:
        data = dict(self.data)
        if isinstance(data.get("undone"), dict):  # an access-log id is a counter, not data
            data["undone"] = {k: v for k, v in data["undone"].items() if k != "entry_id"}
        text, blob = self.text, json.dumps(data, ensure_ascii=False, sort_keys=True)
        code = self.data.get("confirm")
        if isinstance(code, str) and code:  # a confirmation code is a fresh MAC, not data (it could read "71.3")
            text, blob = text.replace(code, "<confirm>"), blob.replace(code, "<confirm>")
        return text + "\n" + blob


def run(url: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Answer]:
    async def go() -> list[Answer]:
        async with McpClient(url, mode="legacy") as client:
            out = []
            for tool, args in calls:
                if args.get("confirm") == CONFIRM:
                    assert out and out[-1].data.get("confirm"), (tool, out[-1] if out else None)
                    args = {**args, "confirm": out[-1].data["confirm"]}
                r = await client.call_tool(tool, args)
                text = r.content[0].text if r.content else ""  # type: ignore[union-attr]
                out.append(Answer(tool, args, bool(r.is_error), text, dict(r.structured_content or {})))
            return out

    return list(async_to_sync(go)())


def reads(world: World, coach: str, only: frozenset[str] | None = None) -> list[Answer]:
    CatchUpCursor.objects.filter(token_id=world.token_id[coach]).delete()  # each round starts from the same cursor
    return run(world.url[coach], [(t, a) for t, a in read_calls(world) if only is None or t in only])


# Tools that show some class to Coach Open (enough to see that a changed value reaches an open coach).
CARRIERS = frozenset(
    {"get_wellness", "get_athlete_profile", "get_activity_detail", "catch_up", "get_conversations", "select_athlete"}
)


def shown(answers: list[Answer], pattern: str) -> list[str]:
    return [f"{a.tool} {a.args}" for a in answers if re.search(pattern, a.blob())]


def test_it_never_shows_a_hidden_class_by_value_in_any_answer_while_an_open_coach_sees_each(
    product: ServerThread, sandbox: Sandbox, settings: Any
) -> None:
    settings.INTERVALS_CACHE_SECONDS = 0  # values are changed upstream behind Threshold's back: read them fresh
    world = build_world(product, sandbox)
    first = {coach: reads(world, coach) for coach in world.url}

    # By difference: change one class's values upstream; every read answer of the coach who hides it stays
    # the same (rounded, averaged or derived values included), while Coach Open's answers change.
    for cls in CLASSES:
        plant(sandbox, world.today, world.activity_id, "B", (cls,))
        try:
            hider, opened = reads(world, cls), reads(world, "open", CARRIERS)
        finally:
            plant(sandbox, world.today, world.activity_id, "A", (cls,))
        changed = [f"{a.tool} {a.args}" for a, b in zip(first[cls], hider, strict=True) if a.blob() != b.blob()]
        assert not changed, (cls, changed)
        was = [a for a in first["open"] if a.tool in CARRIERS]
        seen = [f"{a.tool} {a.args}" for a, b in zip(was, opened, strict=True) if a.blob() != b.blob()]
        assert bool(seen) != (cls in NOT_SHOWN_BY_ANY_TOOL), (cls, seen)

    answers = {coach: first[coach] + run(world.url[coach], write_calls(world)) for coach in world.url}
    for coach, mine in answers.items():
        failed = [f"{a.tool} {a.args}: {a.text}" for a in mine if a.is_error]
        assert not failed, (coach, failed)

    # Coach Open sees every planted value somewhere (the menstrual phase nowhere: no tool shows it).
    for cls in CLASSES:
        for pattern in MARKERS[cls]:
            where = shown(answers["open"], pattern)
            assert bool(where) != (cls in NOT_SHOWN_BY_ANY_TOOL), (cls, pattern, where)
    assert all(shown(answers["open"], text) for text in OWN_TEXT)
    # The coach who hides a class never sees its values, in any answer; nor Mara's own free text.
    for coach in (*CLASSES, "closed"):
        hidden = CLASSES if coach == "closed" else (coach,)
        for cls in hidden:
            for pattern in MARKERS[cls]:
                assert not shown(answers[coach], pattern), (coach, cls, pattern, shown(answers[coach], pattern))
        for text in OWN_TEXT:
            assert not shown(answers[coach], text), (coach, text, shown(answers[coach], text))
    # ...while what is not hidden stays: the weight coach still sees HRV, the HRV coach the weight.
    assert shown(answers["weight"], MARKERS["hrv"][0]) and shown(answers["hrv"], MARKERS["weight"][0])

    # The undo preview of a wellness write (issue #13): Coach Closed sees what would change, minus values.
    preview = next(a for a in answers["closed"] if a.tool == "undo_last_write" and a.args["dry_run"])
    assert preview.data["status"] == "preview" and set(preview.data["result"]["restore"]) == {"soreness"}
    assert set(preview.data["undone"]) == {"entry_id", "tool", "kind", "when"}, "the logged summary is not shown"
    open_preview = next(a for a in answers["open"] if a.tool == "undo_last_write" and a.args["dry_run"])
    assert open_preview.data["result"]["restore"]["weight_kg"] == 71.3
    assert open_preview.data["result"]["restore"]["sleep_hours"] == 7.35

    # Every key of every answer about one athlete is registered: hiding a class no field belongs to drops
    # nothing (an unregistered key would be dropped whatever is hidden). The roster-wide coach tools
    # (no `athlete`) leave out each athlete's hidden classes themselves.
    for a in answers["open"]:
        if a.data and "athlete" in a.args:
            assert redact.redact_data(a.tool, a.data, frozenset({"no such class"})) == a.data, (a.tool, a.args)


def coach(product: ServerThread, sandbox: Sandbox, hidden: list[str], email: str = "sam@coach.example") -> str:
    today = present.local_today(STOCKHOLM)
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    plant(sandbox, today, _activity(sandbox, today), "A", CLASSES)
    everything = [t for group in grantable_tools().values() for t in group]
    grant = accept_invite(invite_coach(mara, email, everything, hidden=hidden))
    assert grant.coach_token is not None
    return f"{product.url}/mcp/{reveal_token(grant.coach_token)}"


def test_it_keeps_the_coach_s_own_private_notes_when_notes_are_hidden(product: ServerThread, sandbox: Sandbox) -> None:
    url = coach(product, sandbox, ["notes"])
    saved, overview, notes = run(
        url,
        [
            ("add_private_note", {"text": "Ask Mara about the March camp"}),
            ("athlete_overview", {}),
            ("get_private_notes", {}),
        ],
    )
    assert not saved.is_error and saved.data["notes"] == 1
    assert [present.UNTRUSTED, "Ask Mara about the March camp"] in [
        [k, v] for _, note in overview.data["private_notes"] for k, v in note.items()
    ]
    assert "open_threads" not in overview.data, "the athlete's comment threads stay hidden"
    assert notes.data["notes"][0][1] == {present.UNTRUSTED: "Ask Mara about the March camp"}


def _wait_for_rows(token_id: int, count: int) -> list[AccessLogEntry]:
    """Read calls reach the access log in batches (MCP_READ_LOG_FLUSH_SECONDS): wait for them."""
    deadline = time.monotonic() + 10
    while True:
        rows = list(AccessLogEntry.objects.filter(token_id=token_id).order_by("pk"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_it_logs_the_whole_answer_for_the_athlete_while_the_coach_gets_it_without_the_hidden_classes(
    product: ServerThread, sandbox: Sandbox
) -> None:
    url = coach(product, sandbox, ["weight", "hrv", "sleep"])
    wellness, logged = run(
        url,
        [
            ("get_wellness", {}),
            ("log_wellness", {"weight_kg": 70.4, "hrv_ms": 61.5, "soreness": 2, "dry_run": True}),
            ("log_wellness", {"weight_kg": 70.4, "hrv_ms": 61.5, "soreness": 2, "confirm": CONFIRM}),
        ],
    )[::2]
    assert "83.2" not in wellness.text and "70.4" not in logged.text
    grant = CoachGrant.objects.get(coach_email="sam@coach.example")
    assert grant.coach_token_id is not None
    rows = _wait_for_rows(grant.coach_token_id, 3)  # the read, the preview and the write
    summaries = {r.tool: r.summary for r in rows}
    # Mara's own access log says what her coach read and wrote, in full.
    assert "HRV 83.2 ms" in summaries["get_wellness"], summaries
    assert "weight_kg 70.4" in summaries["log_wellness"] and "hrv_ms 61.5" in summaries["log_wellness"], summaries
    web = Client()
    assert web.login(email="mara@example.com", password=PASSWORD)
    page = web.get("/dashboard/access-log/").content.decode()
    assert "HRV 83.2 ms" in page and "weight_kg 70.4" in page


def test_it_renders_the_coach_s_text_from_what_is_left_of_the_answer(product: ServerThread, sandbox: Sandbox) -> None:
    url = coach(product, sandbox, ["hrv"])
    wellness, history = run(url, [("get_wellness", {}), ("get_training_history", {})])
    # The text carries the answer minus HRV and resting HR: a client that passes only the text still has data.
    assert "hrv" in wellness.text and "weight_kg" in wellness.text and "71.3" in wellness.text, wellness.text
    assert "83.2" not in wellness.text and "resting_hr" not in wellness.text and "47 bpm" not in wellness.text
    assert json.dumps(wellness.data["rows"], ensure_ascii=False, separators=(", ", ": ")) in wellness.text
    # A tool whose text holds no hideable data keeps its own one line (her name fenced: it is data).
    assert history.text.startswith("«Mara Lindqvist» (Europe/Stockholm): ") and "activities" in history.text


def test_it_does_not_name_a_hidden_field_when_an_undo_is_refused(product: ServerThread, sandbox: Sandbox) -> None:
    url = coach(product, sandbox, ["weight"])
    preview, logged = run(
        url,
        [
            ("log_wellness", {"weight_kg": 70.2, "soreness": 3, "dry_run": True}),
            ("log_wellness", {"weight_kg": 70.2, "soreness": 3, "confirm": CONFIRM}),
        ],
    )
    assert preview.data["status"] == "preview", preview.text
    assert not logged.is_error, logged.text
    # Mara changes both values in Intervals.icu afterwards: undoing would overwrite her change.
    today = present.local_today(STOCKHOLM)
    sandbox.state.put_wellness(sandbox.state.athletes[MARA], today, {"weight": 72.9, "soreness": 1})
    (refused,) = run(url, [("undo_last_write", {"dry_run": True})])
    assert refused.is_error
    assert "changed after this write (soreness)" in refused.text, refused.text
    assert "weight" not in refused.text and "72.9" not in refused.text


# --- The allow-list itself (pure) -------------------------------------------------------------------------


def test_its_classes_are_the_ones_an_athlete_can_hide() -> None:
    assert set(redact.DATA_CLASSES) == set(CoachGrant.DataClass.values)


def test_it_drops_unknown_and_upstream_keys_and_keeps_what_is_registered_and_not_hidden() -> None:
    data = {
        "athlete": {"id": MARA, "name": "Mara Lindqvist", "timezone": STOCKHOLM},
        "result": {"restore": {"restingHR": 47, "sleepSecs": 26460, "hrv_ms": 83.2, "soreness": 1, "mystery": 3}},
        "columns": ["date", "weight_kg", "resting_hr_bpm", "soreness"],
        "rows": [["Mon 2026-11-16", 71.3, 47, 2]],
    }
    out = redact.redact_data("get_wellness", data, frozenset({"hrv"}))
    assert out == {
        "athlete": data["athlete"],
        "result": {"restore": {"soreness": 1}},
        "columns": ["date", "weight_kg", "soreness"],
        "rows": [["Mon 2026-11-16", 71.3, 2]],
    }
    assert redact.redact_data("get_wellness", data, frozenset()) == data, "nothing hidden: nothing dropped"


def test_it_keeps_free_text_only_when_no_class_it_may_carry_is_hidden() -> None:
    data = {"comments": ["Mon: slept badly"], "summary": {"description": "period cramps", "load": 80}}
    assert redact.redact_data("get_wellness", data, frozenset({"location"})) == {"summary": {"load": 80}}
    undo = {"undone": {"tool": "log_wellness", "summary": "Logged weight_kg 71.3"}, "action": "put back weight 71.3"}
    assert redact.redact_data("undo_last_write", undo, frozenset({"weight"})) == {"undone": {"tool": "log_wellness"}}


def test_it_keeps_the_coach_s_own_notes_and_label_keyed_maps() -> None:
    overview = {"private_notes": ["2026-11-02: knee"], "profile": {"Ride/VirtualRide": "FTP 265 W"}, "open_threads": []}
    assert redact.redact_data("athlete_overview", overview, frozenset({"notes"})) == {
        "private_notes": ["2026-11-02: knee"],
        "profile": {"Ride/VirtualRide": "FTP 265 W"},
    }
    notes = {"notes": [["Mon 2026-11-16 08:00", "knee"]], "total": 1}
    assert redact.redact_data("get_private_notes", notes, frozenset({"notes"})) == notes


def test_it_rebuilds_a_text_that_may_quote_hidden_data_from_what_is_left() -> None:
    data = {"athlete": {"id": MARA}, "logged": {"weight_kg": 70.1, "soreness": 2}}
    shown_data, text = redact.answer(
        "log_wellness", data, "Logged weight_kg 70.1, soreness 2.", frozenset({"weight"}), "Mara"
    )
    assert shown_data == {"athlete": {"id": MARA}, "logged": {"soreness": 2}}
    assert text == 'Mara, without weight data (hidden by the athlete): {"logged": {"soreness": 2}}'
    plain = redact.answer("get_fitness", {"athlete": {}}, "CTL 74.3.", frozenset({"weight"}), "Mara")
    assert plain[1] == "CTL 74.3."
