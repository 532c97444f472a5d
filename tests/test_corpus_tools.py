"""Every read tool, athlete and coach, answering from real recorded Intervals.icu payloads (issue #14, part 1).

The upstream is `tests/corpus_upstream.py`: the corpus in tests/fixtures/intervals_corpus served over real
HTTP on a loopback port, behind the one client seam (`INTERVALS_BASE_URL`). Kiri (i900001) is the athlete
of every recording; she is linked with a full OAuth scope, and Sam the coach has a grant of every tool on
her. Ravi (i900002) is an athlete with no sport settings (his profile is derived, see the upstream).
Tools are called over MCP with the official client.

Today. The recordings end on Mon 2026-09-14 (last wellness row, last activity, the HR curves' end), and
several tools only look at windows relative to today (history's 28 days, fitness, every coach tool). The
simplest honest way to aim those windows at the corpus is to pin the product's clock, not to move the
data: `mcpserver.present.local_today`, the one function every tool asks for the athlete's today, answers
for 2026-09-14 20:00 in Brisbane (the athletes' time zone: every recorded start is UTC+10). The payloads
are then served byte for byte as recorded, the expected numbers below are the recorded ones, and the
answers are the same on every day of the year. (Shifting the dates by an offset from the real today
would move weekdays, and with them every Monday-aligned week, from one day to the next.)

Expected values are worked out by hand from the payloads and written as literals, each with a comment
showing the arithmetic; none is computed by the code under test. Where an endpoint has no recording, the
upstream answers with the sandbox (profile envelope, connections, power curves), whose own answer is
the reference; comment threads are derived from the OpenAPI `Message` schema.

Tests marked `xfail(strict=True)` assert the CORRECT answer where Threshold answers wrongly today (the
bugs issue #14 lists, found on these payloads): each fails today for the reason it gives, and flips to a
failure ("XPASS(strict)") when the fix lands, so whoever fixes it removes the mark. Their list is the
work queue of #14.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from accounts.actions import reveal_token
from coaching.actions import accept_invite, grantable_tools, invite_coach
from mcpserver import present
from tests.conftest import ServerThread, mcp_url
from tests.corpus_upstream import KIRI, RAVI, STAND_IN, TIMEZONE, Forwarder, create_app
from tests.read_tools_helpers import call

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

NOW = datetime(2026, 9, 14, 10, 0, tzinfo=UTC)  # 20:00 on Mon 2026-09-14 in Brisbane
COACH = "sam@example.com"
KIRI_ECHO = {"id": KIRI, "name": {"untrusted": "Kiri Walsh"}, "timezone": TIMEZONE}  # a name is free text: data


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Upstream:
    url: str
    forwarder: Forwarder  # the sandbox the upstream asks where the corpus has nothing


@pytest.fixture(scope="session")
def corpus_upstream() -> Iterator[Upstream]:
    app = create_app()
    server = ServerThread(app).start()
    yield Upstream(server.url, app.state.forwarder)
    server.stop()


@dataclass
class Urls:
    kiri: str
    ravi: str
    coach: str


def _link(email: str, athlete_id: str, name: str, token: str) -> Any:
    """A verified user linked to a corpus athlete with a full-scope OAuth token of the corpus upstream."""
    from allauth.account.models import EmailAddress

    from accounts.models import User
    from integrations.intervals.actions import link_intervals
    from integrations.intervals.schemas import OAuthAthlete, OAuthToken

    user = User.objects.create_user(email)  # no password: MCP URLs only (and no ~1 s of hashing per user)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    scope = "ACTIVITY:WRITE,WELLNESS:WRITE,CALENDAR:WRITE,LIBRARY:WRITE,SETTINGS:WRITE,CHATS:WRITE"
    oauth = OAuthToken(
        access_token=token, scope=scope, athlete=OAuthAthlete(id=athlete_id.removeprefix("i"), name=name)
    )
    link_intervals(user, oauth, timezone=TIMEZONE)
    return user


@pytest.fixture
def urls(product: ServerThread, corpus_upstream: Upstream, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Urls:
    settings.INTERVALS_BASE_URL = corpus_upstream.url
    real_local_today = present.local_today
    monkeypatch.setattr(present, "local_today", lambda tz, now=None: real_local_today(tz, now or NOW))
    kiri = _link("kiri@example.com", KIRI, "Kiri Walsh", "corpus-kiri-token")
    ravi = _link("ravi@example.com", RAVI, "Ravi Menon", "corpus-ravi-token")
    tools = grantable_tools()
    grant = accept_invite(invite_coach(kiri, COACH, tools["read"] + tools["write"]))
    assert grant.coach_token is not None
    coach = f"{product.url}/mcp/{reveal_token(grant.coach_token)}"
    return Urls(mcp_url(product, kiri), mcp_url(product, ravi), coach)


async def answer(url: str, tool: str, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(structuredContent, text) of a tool call that must succeed."""
    result = await call(url, tool, args)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content), str(result.content[0].text)


def flat(data: Any) -> str:
    """The whole answer as one string, for checks that must not depend on where a fix puts a fact."""
    return json.dumps(data, ensure_ascii=False)


def has(actual: dict[str, Any], expected: dict[str, Any], *, absent: tuple[str, ...] = ()) -> None:
    """`actual` holds every key of `expected` with that value, and none of `absent`. (Not equality: a fix of
    an xfail below may add a key, such as a pace or a done status, and must not break this check.)"""
    assert {k: actual.get(k) for k in expected} == expected, actual
    assert not set(absent) & set(actual), actual


# === athlete tools ======================================================================================


async def test_it_shows_the_recorded_thresholds_and_zones_in_the_profile(urls: Urls, corpus_upstream: Upstream) -> None:
    data, text = await answer(urls.kiri, "get_athlete_profile", {})
    assert data["athlete"] == KIRI_ECHO
    assert data["weight_kg"] == 65.0  # derived profile: the icu_weight of the latest recorded activity
    sandbox_links = corpus_upstream.forwarder.state.athletes[STAND_IN].connections  # derived: the sandbox's
    assert data["connected"] == sorted(
        label
        for key, label in (
            ("garmin_health_connected", "Garmin (health)"),
            ("garmin_training_connected", "Garmin (training)"),
            ("oura_connected", "Oura"),
            ("zwift_connected", "Zwift"),
        )
        if sandbox_links.get(key)
    )
    ride, run, swim, other = data["sports"]  # sport_settings_list.json, in its order
    assert ride["sports"] == ["Ride", "VirtualRide", "MountainBikeRide", "GravelRide", "TrackRide", "Cyclocross"]
    assert (ride["ftp_w"], ride["lthr_bpm"], ride["max_hr_bpm"]) == (231, 169, 187)
    # Each zone's number, and the name the athlete gave it (free text: untrusted data).
    assert [f"{z['zone']} {z['name']['untrusted']}" for z in ride["power_zones"]] == [
        "Z1 Active Recovery",
        "Z2 Endurance",
        "Z3 Tempo",
        "Z4 Threshold",
        "Z5 VO2 Max",
        "Z6 Anaerobic",
        "Z7 Neuromuscular",
    ]
    assert ride["power_zones"][0]["range"].endswith("-127 W")  # 55 % of 231 = 127.05
    # hr_zones [143, 151, 160, 168, 174, 179, 187]; % of LTHR 169: 143/169 = 84.6, 151/169 = 89.3, 160/169 = 94.7,
    # 168/169 = 99.4, 174/169 = 103.0, 179/169 = 105.9, 187/169 = 110.7. The workout_doc's `_hr` for "Z2-Z3 HR"
    # is 143-160 bpm: the same bounds.
    assert [(z["range"], z["pct"]) for z in ride["hr_zones"]] == [
        ("0-143 bpm", "0-85% LTHR"),
        ("143-151 bpm", "85-89% LTHR"),
        ("151-160 bpm", "89-95% LTHR"),
        ("160-168 bpm", "95-99% LTHR"),
        ("168-174 bpm", "99-103% LTHR"),
        ("174-179 bpm", "103-106% LTHR"),
        ("179-187 bpm", "106-111% LTHR"),
    ]
    assert run["threshold_pace"] == "4:50/km"  # 1000 m / 3.4482758 m/s = 290.0 s
    assert [z["range"] for z in run["hr_zones"]] == [
        "0-139 bpm",
        "139-151 bpm",
        "151-160 bpm",
        "160-168 bpm",
        "168-187 bpm",
    ]
    # % of threshold speed 3.4482758 m/s: 77.5 % = 2.6724 m/s = 374.2 s/km, 87.7 % = 330.7 s, 94.3 % = 307.5 s,
    # 103.4 % = 280.5 s, 111.5 % = 260.1 s.
    assert [z["range"] for z in run["pace_zones"]] == [
        "slower to 6:14/km",
        "6:14/km to 5:31/km",
        "5:31/km to 5:08/km",
        "5:08/km to 4:50/km",
        "4:50/km to 4:40/km",
        "4:40/km to 4:20/km",
        "4:20/km to faster",
    ]
    assert swim["threshold_pace"] == "1:55/100m"  # 100 m / 0.8695652 m/s = 115.0 s
    assert "pace_zones" not in swim  # pace_zones null in the recording
    assert other["sports"] == ["Other"] and "ftp_w" not in other and "threshold_pace" not in other
    assert text == (
        "«Kiri Walsh» (Australia/Brisbane): Ride/VirtualRide: FTP 231 W, LTHR 169 bpm; Run/VirtualRun: LTHR 169 bpm, "
        "threshold pace 4:50/km; Swim/OpenWaterSwim: LTHR 169 bpm, threshold pace 1:55/100m; Other: LTHR 169 bpm"
    )


@pytest.mark.xfail(
    strict=True, reason="#14: get_athlete_profile fails with an internal error for an athlete with no sport settings"
)
async def test_it_answers_the_profile_of_an_athlete_with_no_sport_settings(urls: Urls) -> None:
    result = await call(urls.ravi, "get_athlete_profile", {})
    assert not result.is_error, result.content
    data = dict(result.structured_content or {})
    assert data["athlete"] == {"id": RAVI, "name": {"untrusted": "Ravi Menon"}, "timezone": TIMEZONE}
    assert not data.get("sports")  # no sport settings: no thresholds or zones, and no crash


@pytest.mark.xfail(strict=True, reason="#14: power zone bounds are 1 % FTP off Intervals.icu's own resolution")
async def test_it_resolves_power_zones_as_intervals_does(urls: Urls) -> None:
    # Intervals resolves a zone from the whole percent after the previous zone's top: the workout_doc of
    # "Sweet spot mix" (events_workout_docs_hr_power_pace_swim.json) resolves "Z3" at FTP 231 to `_power`
    # 176-208 W = 76 % and 90 % of 231 (175.56, 207.9), as the 134-180 W at FTP 240 (56 %, 75 %).
    # (The same docs' zoneTimes carry minWatts/maxWatts 128-173, 174-207, 208-242 W: previous top + 1 and
    # floor. The corpus rewrote every value, and the two disagree; the step resolution agrees with the issue.)
    data, _ = await answer(urls.kiri, "get_athlete_profile", {})
    ranges = [z["range"] for z in data["sports"][0]["power_zones"]]
    assert ranges[1] == "129-173 W"  # 56 % of 231 = 129.36, 75 % = 173.25
    assert ranges[2] == "176-208 W"  # 76 % = 175.56, 90 % = 207.9
    assert ranges[3] == "210-243 W"  # 91 % = 210.21, 105 % = 242.55
    assert ranges[4] == "245-277 W"  # 106 % = 244.86, 120 % = 277.2
    assert ranges[6] == "349+ W"  # 151 % = 348.81


async def test_it_lists_the_recorded_activities_of_the_last_28_days(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_training_history", {})
    assert (data["start"], data["end"]) == ("Tue 2026-08-18", "Mon 2026-09-14")  # today - 27 days .. today
    rows = data["activities"]
    assert [r["id"] for r in rows] == ["i91000004", "i91000002", "i91000003", "i91000001"]
    expected = [
        {
            "id": "i91000004",
            "date": "Sun 2026-09-06",
            "time": "07:31",
            "sport": "Swim",
            "name": {"untrusted": "Pool Swim"},
            "duration": "25:44",  # moving_time 1544 s
            "distance_km": 1.6,  # 1600 m
            "load": 28,
            "intensity_pct": 80,  # icu_intensity 80.0411
            "avg_hr_bpm": 144,
            "rpe": 5,
        },
        {
            "id": "i91000002",
            "date": "Sat 2026-09-12",
            "time": "17:05",
            "sport": "Run",
            "name": {"untrusted": "Evening Run"},
            "duration": "36:01",  # 2161 s
            "distance_km": 6.5,  # 6502.3 m
            "climb_m": 58,  # 58.2091 m
            "load": 41,
            "intensity_pct": 86,  # 86.1093
            "avg_hr_bpm": 161,
            "rpe": 6,
        },
        {
            "id": "i91000003",  # WeightTraining: distance, speed and climb are null, so absent
            "date": "Sun 2026-09-13",
            "time": "18:20",
            "sport": "WeightTraining",
            "name": {"untrusted": "Strength"},
            "duration": "52:01",  # 3121 s
            "load": 16,
            "intensity_pct": 41,  # 41.2207
            "avg_hr_bpm": 109,
        },
        {
            "id": "i91000001",
            "date": "Mon 2026-09-14",
            "time": "06:40",
            "sport": "Run",
            "name": {"untrusted": "Morning Run"},
            "duration": "42:59",  # 2579 s
            "distance_km": 8.41,  # 8412.6 m
            "climb_m": 65,  # 64.81133 m
            "load": 61,
            "intensity_pct": 91,  # 90.87134
            "avg_hr_bpm": 166,
            "rpe": 6,
        },
    ]
    for row, want in zip(rows, expected, strict=True):
        has(row, want, absent=("climb_m",) if want["id"] in ("i91000004", "i91000003") else ())
    assert "distance_km" not in rows[2] and "rpe" not in rows[2]  # null in the recording: unknown, never 0
    # 1544 + 2161 + 3121 + 2579 = 9405 s; 1600 + 6502.3 + 8412.6 = 16514.9 m; 28 + 41 + 16 + 61 = 146
    assert data["totals"] == {"activities": 4, "moving_time": "2:36:45", "distance_km": 16.5, "load": 146}
    assert text == (
        "«Kiri Walsh» (Australia/Brisbane): 4 activities Tue 2026-08-18 to Mon 2026-09-14; "
        "2:36:45 moving, 16.5 km, load 146."
    )


async def test_it_says_a_strava_import_has_no_details_rather_than_zero(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_training_history", {"start": "2019-05-01", "end": "2019-05-31"})
    assert data["activities"] == [
        {
            "id": "17000000001",
            "date": "Sat 2019-05-04",
            "unavailable": "Imported from Strava: Intervals.icu may not share Strava data through its API, "
            "so no details (not zero).",
        }
    ]
    assert data["totals"]["strava_unavailable"] == 1
    assert "1 imported from Strava cannot be read" in text
    detail, _ = await answer(urls.kiri, "get_activity_detail", {"activity_id": "17000000001"})
    assert detail["date"] == "Sat 2019-05-04" and "summary" not in detail and "Strava" in detail["unavailable"]


@pytest.mark.xfail(strict=True, reason="#14: history totals say '0.0 km' when no activity had a distance")
async def test_it_says_no_distance_was_recorded_instead_of_zero_km(urls: Urls) -> None:
    # 2026-07-27 .. 08-14: the ride (subset without distance), the manual strength session and the track
    # ride record no distance at all.
    data, text = await answer(urls.kiri, "get_training_history", {"start": "2026-07-27", "end": "2026-08-14"})
    assert data["count"] == 3
    assert data["totals"].get("distance_km") != 0.0 and "0.0 km" not in text
    assert "no distance recorded" in flat(data) + text


@pytest.mark.xfail(
    strict=True,
    reason="#14: the history sport filter is exact ('Ride' leaves out TrackRide, 'cycling' finds nothing silently)",
)
async def test_it_filters_history_by_sport_family(urls: Urls) -> None:
    window = {"start": "2026-07-01", "end": "2026-09-14"}
    rides, _ = await answer(urls.kiri, "get_training_history", {**window, "sport": "Ride"})
    assert {a["id"] for a in rides["activities"]} == {"i91000021", "i91000023"}  # Ride and TrackRide
    result = await call(urls.kiri, "get_training_history", {**window, "sport": "cycling"})
    said = flat(result.structured_content) + str(result.content[0].text)
    found = {a["id"] for a in (result.structured_content or {}).get("activities", [])}
    # Either the family is understood, or the unknown sport is refused with the sports there are.
    assert found == {"i91000021", "i91000023"} or (result.is_error and "Ride" in said)


@pytest.mark.xfail(strict=True, reason="#14: history rows of runs and swims give no pace")
async def test_it_gives_the_pace_of_runs_and_swims_in_history(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_training_history", {})
    rows = {a["id"]: flat(a) for a in data["activities"]}
    assert "5:07/km" in rows["i91000001"]  # 1000 m / 3.262 m/s = 306.6 s (2579 s / 8.4126 km = 306.6 s too)
    assert "/100m" in rows["i91000004"]  # a pool swim's pace is per 100 m


async def test_it_summarises_a_recorded_run_with_its_laps_and_zones(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_activity_detail", {"activity_id": "i91000001"})
    assert data["date"] == "Mon 2026-09-14"
    has(
        data["summary"],
        {
            "sport": "Run",
            "name": {"untrusted": "Morning Run"},
            "time": "06:40",
            "duration": "42:59",  # moving_time 2579 s
            "elapsed": "43:03",  # elapsed_time 2583 s
            "distance_km": 8.41,
            "climb_m": 65,
            "pace": "5:07/km",  # 1000 / 3.262 m/s = 306.6 s
            "intensity_pct": 91,
            "load": 61,
            "avg_hr_bpm": 166,
            "max_hr_bpm": 182,
            "rpe": 6,
            "comments": 0,  # icu_chat_id null: no thread
            "work_intervals": 1,
            "work_time": "37:50",  # the WORK interval's 2270 s
        },
        absent=("avg_power_w", "norm_power_w", "gear"),  # no power recorded; the gear stub has a null name
    )
    assert data["intervals"] == {
        "columns": ["type", "duration", "distance_km", "intensity_pct", "avg_hr_bpm", "max_hr_bpm", "pace", "group"],
        "rows": [
            # 7398.12 m; 1000 / 3.2591 m/s = 306.8 s
            ["work", "37:50", 7.4, 96, 165, 176, "5:07/km", "2270s@165bpm82rpm"],
            # 309 s, 1014.48 m; 1000 / 3.2831 = 304.6 s
            ["recovery", "5:09", 1.01, 101, 174, 182, "5:05/km", None],
        ],
    }
    # icu_hr_zone_times [121, 188, 402, 1760, 108] (2579 s) in icu_hr_zones [140, 152, 161, 169, 188]:
    # 121/2579 = 4.7 %, 188 = 7.3 %, 402 = 15.6 %, 1760 = 68.2 %, 108 = 4.2 %
    assert data["zones"] == {
        "hr": [
            "Z1 0-140 bpm: 2:01 (5%)",
            "Z2 140-152 bpm: 3:08 (7%)",
            "Z3 152-161 bpm: 6:42 (16%)",
            "Z4 161-169 bpm: 29:20 (68%)",
            "Z5 169-188 bpm: 1:48 (4%)",
        ]
    }
    assert text == "«Kiri Walsh»: Run «Morning Run» Mon 2026-09-14, 42:59, load 61, avg HR 166 bpm, 1 work intervals."


async def test_it_summarises_a_pool_swim_with_rests_between_lengths(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_activity_detail", {"activity_id": "i91000004"})
    summary = data["summary"]
    assert (summary["duration"], summary["elapsed"]) == ("25:44", "32:35")  # 1544 s moving, 1955 s elapsed
    assert summary["pace"] == "1:44/100m"  # 100 / 0.958 m/s = 104.4 s
    assert (summary["work_intervals"], summary["work_time"]) == (2, "14:10")  # 541 + 309 = 850 s
    assert data["intervals"]["rows"] == [
        ["work", "9:01", 0.5, 133, 150, "1:48/100m", "541s@133bpm22rpm"],  # 502.1 m; 100 / 0.9281 = 107.7 s
        ["recovery", "1:54", None, 129, 141, None, None],  # a rest: null distance, cadence and speed
        ["work", "5:09", 0.3, 147, 156, "1:43/100m", "309s@147bpm20rpm"],  # 300 m; 100 / 0.9708 = 103.0 s
        ["recovery", "0:09", None, 155, 157, None, None],
    ]
    # icu_hr_zone_times [81, 203, 240, 498, 161, 120, 0] = 1303 s: 6.2 %, 15.6 %, 18.4 %, 38.2 %, 12.4 %, 9.2 %
    assert data["zones"]["hr"] == [
        "Z1 0-144 bpm: 1:21 (6%)",
        "Z2 144-152 bpm: 3:23 (16%)",
        "Z3 152-161 bpm: 4:00 (18%)",
        "Z4 161-169 bpm: 8:18 (38%)",
        "Z5 169-175 bpm: 2:41 (12%)",
        "Z6 175-180 bpm: 2:00 (9%)",
    ]


async def test_it_shows_the_laps_written_back_on_a_track_ride_and_a_manual_entry(urls: Urls) -> None:
    track, _ = await answer(urls.kiri, "get_activity_detail", {"activity_id": "i91000023"})
    assert track["intervals"]["rows"] == [
        ["recovery", "15:20", 7.2, 161, 109, None],  # 920 s, 7201.4 m
        ["work", "0:15", 0.15, 344, 112, "15s@341w86rpm"],  # "Lap 1", 151.1 m
        ["work", "0:15", 0.15, 338, 120, "15s@341w86rpm"],  # "Lap 2", 147.3 m
        ["recovery", "55:32", 27.1, 148, 118, None],  # 3332 s, 27102.55 m
    ]
    assert (track["summary"]["work_intervals"], track["summary"]["work_time"]) == (2, "0:30")
    manual, _ = await answer(urls.kiri, "get_activity_detail", {"activity_id": "i91000022"})
    assert manual["summary"]["duration"] == "45:00"  # 2700 s
    assert manual["summary"]["planned_event_id"] == 95000011
    assert "load" not in manual["summary"]  # icu_training_load null: unknown, not 0


@pytest.mark.xfail(
    strict=True, reason="#14: get_activity_detail fails when a comment is deleted (Message.deleted is a date-time)"
)
async def test_it_counts_comments_without_the_deleted_one(urls: Urls) -> None:
    result = await call(urls.kiri, "get_activity_detail", {"activity_id": "i91000021"})
    assert not result.is_error, result.content
    comments = (result.structured_content or {})["summary"]["comments"]
    assert (comments if isinstance(comments, int) else len(comments)) == 2  # 3 messages, 1 deleted


@pytest.mark.xfail(strict=True, reason="#14: get_activity_detail promises comments and returns a count")
async def test_it_gives_the_comments_themselves_in_the_detail(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_activity_detail", {"activity_id": "i91000002"})
    assert "legs heavy from Thursday" in flat(data)


@pytest.mark.xfail(strict=True, reason="#14: run detail labels cadence in rpm and intensity as % of FTP")
async def test_it_labels_run_cadence_and_intensity_for_a_run(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_activity_detail", {"activity_id": "i91000001"})
    assert "cadence_rpm" not in data["summary"]  # 82 is strides (steps / 2) per minute, not revolutions
    assert "FTP" not in data["units"].get("intensity_pct", "")  # no power: intensity is of LTHR (HRSS load)


@pytest.mark.xfail(strict=True, reason="#14: get_activity_detail does not say the load is HR-based")
async def test_it_says_the_run_load_comes_from_heart_rate(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_activity_detail", {"activity_id": "i91000001"})
    # hr_load 61 = icu_training_load, hr_load_type HRSS, power_load and pace_load null
    assert re.search(r"HRSS|HR[- ]based|heart[- ]rate[- ]based|from heart rate", flat(data), re.IGNORECASE)


async def test_it_computes_metrics_from_the_recorded_run_streams(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_extended_metrics", {"activity_id": "i91000001"})
    metrics = data["metrics"]
    assert (metrics["sport"], metrics["duration"]) == ("Run", "42:59")
    # HR without the 47 dropout samples: (2 x (121 + ... + 132) + 20 x 151 + 19 x 152) / 63 = 8944 / 63 = 142.0
    assert metrics["avg_hr_bpm"] == 142
    efforts = {e["over"]: e for e in data["best_efforts"]}
    assert (efforts["5s"]["power_w"], efforts["5s"]["starts_at"]) == (267, "0:12")  # 267 W at samples 12-16
    assert (efforts["30s"]["power_w"], efforts["30s"]["starts_at"]) == (260, "0:02")  # 7795 / 30 = 259.8
    # Zones from the stream, dropouts left out: 24 samples of 121-132 bpm (<= 140), 39 of 151-152 bpm
    assert data["zones"] == {"hr": ["Z1 0-140 bpm: 0:24 (38%)", "Z2 140-152 bpm: 0:39 (62%)"]}
    assert text.startswith("«Kiri Walsh»: Run «Morning Run» Mon 2026-09-14: decoupling ")


@pytest.mark.xfail(strict=True, reason="#14: extended metrics count heart-rate dropouts (0 bpm) as values")
async def test_it_ignores_heart_rate_dropouts_in_efforts_and_profile(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_extended_metrics", {"activity_id": "i91000001", "profile_points": 10})
    one_minute = {e["over"]: e for e in data["best_efforts"]}["1m"]
    # Today: 98 bpm (the 47 zero samples averaged in). Without them the best minute holds 151-152 bpm
    # (samples 50-109: 39 valid, 5908 / 39 = 151.5), or there is no honest 1-min HR to give.
    assert "hr_bpm" not in one_minute or 151 <= one_minute["hr_bpm"] <= 152
    # 10 buckets of 11 samples; the one at 0:33 (samples 33-43) is all dropout: no HR, never "0 bpm".
    assert all(p.get("hr_bpm", 121) >= 121 for p in data["profile"])


@pytest.mark.xfail(strict=True, reason="#14: extended metrics do not say how much heart rate was ignored")
async def test_it_says_how_much_heart_rate_dropped_out(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_extended_metrics", {"activity_id": "i91000001"})
    # samples 24-70 read 0 bpm: 47 s of 110
    assert re.search(r"\b47 ?(s|sec|seconds|samples)\b|0:47", flat(data) + text)


async def test_it_computes_best_efforts_between_recording_stops(urls: Urls) -> None:
    # The track ride's time stream runs 2400-2459, 2765-2824, 2869-2928 s: three identical 60-s blocks.
    data, _ = await answer(urls.kiri, "get_extended_metrics", {"activity_id": "i91000023"})
    efforts = {e["over"]: e for e in data["best_efforts"]}
    assert efforts["5s"]["power_w"] == 353  # 352 + 354 + 354 + 354 + 353 = 1767 / 5 = 353.4
    assert efforts["30s"]["power_w"] == 330  # samples 20-49: 9906 / 30 = 330.2
    assert efforts["1m"]["power_w"] == 272  # a whole block: 16301 / 60 = 271.7
    assert efforts["1m"]["hr_bpm"] == 157  # the third block, 148-166 bpm: 9447 / 60 = 157.45


@pytest.mark.xfail(
    strict=True, reason="#14: extended metrics assume one sample per second (starts_at wrong after a recording stop)"
)
async def test_it_places_efforts_on_the_time_stream(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_extended_metrics", {"activity_id": "i91000023"})
    starts = {e["over"]: e["starts_at"] for e in data["best_efforts"]}
    # Elapsed time of the first sample of each best window, read from the time stream (not its index):
    assert starts["5s"] == "40:37"  # sample 37: time 2437 s
    assert starts["30s"] == "40:20"  # sample 20: 2420 s
    assert starts["1m"] == "40:00"  # sample 0: 2400 s


async def test_it_summarises_the_last_four_weeks(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_training_summary", {})
    assert data["window"] == "Mon 2026-08-24 to Mon 2026-09-14"  # this week's Monday - 3 weeks .. today
    first, swim_week, run_week, today = data["periods"]
    assert first == {"period": "Mon 2026-08-24 to Sun 2026-08-30", "sessions": 0, "time": "0:00", "load": 0}
    assert {k: swim_week[k] for k in ("sessions", "time", "distance_km", "load")} == {
        "sessions": 1,
        "time": "25:44",
        "distance_km": 1.6,
        "load": 28,
    }
    # The swim's icu_hr_zone_times [81, 203, 240, 498, 161, 120, 0] of 1303 s
    for zone in (
        "Z1: 1:21 (6%)",
        "Z2: 3:23 (16%)",
        "Z3: 4:00 (18%)",
        "Z4: 8:18 (38%)",
        "Z5: 2:41 (12%)",
        "Z6: 2:00 (9%)",
    ):
        assert zone in swim_week["hr_zones"]
    # Run 2161 s + strength 3121 s = 5282 s; 6502.3 m (the strength session has none); 41 + 16
    assert {k: run_week[k] for k in ("sessions", "time", "distance_km", "load")} == {
        "sessions": 2,
        "time": "1:28:02",
        "distance_km": 6.5,
        "load": 57,
    }
    assert run_week["sports"] == [
        {"sport": "Run", "sessions": 1, "time": "36:01", "distance_km": 6.5, "load": 41},
        {"sport": "WeightTraining", "sessions": 1, "time": "52:01", "load": 16},
    ]
    assert {k: today[k] for k in ("period", "sessions", "time", "distance_km", "load")} == {
        "period": "Mon 2026-09-14 to Mon 2026-09-14",
        "sessions": 1,
        "time": "42:59",
        "distance_km": 8.4,  # 8412.6 m
        "load": 61,
    }
    assert text == "«Kiri Walsh»: 4 weeks Mon 2026-08-24 to Mon 2026-09-14; load per week: 0, 28, 57, 61."


async def test_it_checks_the_recorded_plan_against_the_paired_activities(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_training_summary", {"start": "2026-07-20", "end": "2026-08-02"})
    week = data["periods"][1]
    assert week["period"] == "Mon 2026-07-27 to Sun 2026-08-02"
    assert (week["sessions"], week["time"], week["load"]) == (2, "1:54:00", 66)  # 4140 + 2700 s; 66 + (null)
    # WORKOUT 95000010 (load 70, 4200 s) paired with i91000021 (66, 4140 s); 95000011 (null) with i91000022 (2700 s)
    assert week["plan"] == {
        "planned": 2,
        "done": 2,
        "missed": 0,
        "planned_load": 70,
        "done_load": 66,
        "planned_time": "1:10:00",
        "done_time": "1:54:00",
    }


@pytest.mark.xfail(strict=True, reason="#14: the summary adds HR zones of different zone systems by position")
async def test_it_keeps_hr_zone_systems_apart_in_the_summary(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_training_summary", {"start": "2026-09-07", "end": "2026-09-13"})
    # The run's 5 zones (Z1 <= 140 bpm: 140 s) and the strength session's 7 zones (Z1 <= 144 bpm: 3122 s)
    # are different systems: one "Z1 54:22" (140 + 3122 = 3262 s) is neither.
    assert "54:22" not in flat(data["periods"])


@pytest.mark.xfail(strict=True, reason="#14: the summary's planned load leaves races out")
async def test_it_counts_races_in_the_planned_load(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_training_summary", {"start": "2026-07-20", "end": "2026-08-02"})
    planned = sum(p.get("plan", {}).get("planned_load", 0) for p in data["periods"])
    assert planned == 138  # RACE_C "Evening 10 TT" 68 on Sun 07-26 + WORKOUT 70 on Wed 07-29


@pytest.mark.xfail(
    strict=True, reason="#14: the summary says load 0 for a sport whose activities have no load (silent zero)"
)
async def test_it_does_not_turn_an_unknown_load_into_zero(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_training_summary", {"start": "2026-07-27", "end": "2026-08-02"})
    sports = {s["sport"]: s for s in data["periods"][0]["sports"]}
    assert sports["WeightTraining"].get("load") != 0  # the manual entry's icu_training_load is null


async def test_it_shows_fitness_from_the_recorded_wellness_rows(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_fitness", {})
    # 42 days (2026-08-04 .. 09-14) are weekly rows; wellness is recorded from 09-05. Values of each week's
    # last row, load summed: 22 + 81 = 103; 0 + 12 + 40 + 90 + 31 + 55 + 27 = 255; 15.
    expected = [
        # 09-06: ctl 40.08, atl 37.19, form 2.89
        {
            "date": "Mon 2026-08-31",
            "load": 103,
            "ctl": 40.1,
            "atl": 37.2,
            "form": 2.9,
            "form_zone": "Grey zone",
            "ramp_rate": -0.4,
        },
        # 09-13: ctl 39.6, atl 38.46, form 1.14
        {
            "date": "Mon 2026-09-07",
            "load": 255,
            "ctl": 39.6,
            "atl": 38.5,
            "form": 1.1,
            "form_zone": "Grey zone",
            "ramp_rate": -1.8,
        },
        # 09-14: ctl 39.01, atl 35.11, form 3.9
        {
            "date": "Mon 2026-09-14",
            "load": 15,
            "ctl": 39.0,
            "atl": 35.1,
            "form": 3.9,
            "form_zone": "Grey zone",
            "ramp_rate": 0.3,
        },
    ]
    assert len(data["rows"]) == len(expected)
    for row, want in zip(data["rows"], expected, strict=True):
        has(row, want)
    has(data["current"], expected[-1])
    assert text == (
        "«Kiri Walsh» on Mon 2026-09-14: fitness (CTL) 39.0, fatigue (ATL) 35.1, form +3.9 (Grey zone), ramp +0.3/week."
    )


async def test_it_shows_the_recorded_wellness_days(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_wellness", {})
    assert data["window"] == "Tue 2026-09-01 to Mon 2026-09-14"
    rows = {r[0]: dict(zip(data["columns"], r, strict=True)) for r in data["rows"]}
    assert len(rows) == 10  # 09-05 .. 09-14
    has(rows["Sat 2026-09-05"], {"resting_hr_bpm": 52, "sleep_h": 7.3, "weight_kg": 65.0})  # 26410 s / 3600 = 7.34 h
    has(rows["Wed 2026-09-09"], {"resting_hr_bpm": 57, "sleep_h": 6.4, "weight_kg": 65.0})  # 22950 / 3600 = 6.375 h
    has(rows["Mon 2026-09-14"], {"resting_hr_bpm": 58, "sleep_h": 7.5, "weight_kg": 65.0})  # 26880 / 3600 = 7.47 h
    assert text.startswith("«Kiri Walsh»: 10 wellness days Tue 2026-09-01 to Mon 2026-09-14")
    # A day recorded with sportInfo [{type, eftp: null}] and the 2025 key order reads too.
    may, _ = await answer(urls.kiri, "get_wellness", {"start": "2026-05-20", "end": "2026-05-28"})
    (day,) = may["rows"]
    has(
        dict(zip(may["columns"], day, strict=True)), {"date": "Sun 2026-05-24", "resting_hr_bpm": 48, "weight_kg": 71.0}
    )


@pytest.mark.xfail(strict=True, reason="#14: get_wellness drops HRV recorded as SDNN (hrvSDNN) silently")
async def test_it_shows_hrv_recorded_as_sdnn_and_says_so(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_wellness", {})
    hrv = [c for c in data["columns"] if "sdnn" in c.lower()]
    assert hrv, data["columns"]  # hrvSDNN set on every day, hrv (rMSSD) null
    rows = {r[0]: dict(zip(data["columns"], r, strict=True)) for r in data["rows"]}
    assert rows["Mon 2026-09-14"][hrv[0]] in (40.66, 40.7)  # hrvSDNN 40.66
    assert "rmssd" not in flat(data.get("baseline", {}).get(hrv[0], "")).lower()


@pytest.mark.xfail(strict=True, reason="#14: get_wellness ignores spO2")
async def test_it_shows_the_recorded_spo2(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_wellness", {})
    spo2 = [c for c in data["columns"] if "spo2" in c.lower()]
    assert spo2, data["columns"]
    rows = {r[0]: dict(zip(data["columns"], r, strict=True)) for r in data["rows"]}
    assert rows["Mon 2026-09-14"][spo2[0]] == 97


@pytest.mark.xfail(strict=True, reason="#14: get_wellness baselines move with the asked window")
async def test_it_anchors_a_days_baseline_to_that_day(urls: Urls) -> None:
    # The 28 days before 09-14 hold 09-05 .. 09-13: restingHR 52 + 53 + 53 + 55 + 57 + 54 + 51 + 55 + 56 = 486 / 9
    # = 54.0, whatever window is asked. Today a 09-12 .. 09-14 window measures 09-14 against 09-05 .. 09-11
    # (375 / 7 = 53.6).
    data, _ = await answer(urls.kiri, "get_wellness", {"start": "2026-09-12", "end": "2026-09-14"})
    assert 54.0 in data["baseline"]["resting_hr_bpm"]


async def test_it_reads_hr_and_pace_bests_from_the_recorded_curves(urls: Urls) -> None:
    hr, text = await answer(urls.kiri, "get_best_efforts", {"metric": "hr", "start": "2026-06-16", "end": "2026-09-14"})
    # r.2026-06-16.2026-09-14 is the recorded 90d HR curve; secs 60, 300, 1200, 3600 are its points 59, 89, 109, 149.
    assert hr["window"] == "Tue 2026-06-16 to Mon 2026-09-14"
    assert hr["efforts"] == [
        {
            "over": "1m",
            "value": 182,
            "date": "Fri 2026-08-21",
            "activity_id": "i91000011",
            "activity": {"untrusted": "Hill repeats"},
        },
        {
            "over": "5m",
            "value": 182,
            "date": "Thu 2026-07-30",
            "activity_id": "i91000012",
            "activity": {"untrusted": "Tempo run"},
        },
        {
            "over": "20m",
            "value": 180,
            "date": "Sun 2026-09-06",
            "activity_id": "i91000013",
            "activity": {"untrusted": "Long run"},
        },
        {
            "over": "1h",
            "value": 176,
            "date": "Sun 2026-09-06",
            "activity_id": "i91000013",
            "activity": {"untrusted": "Long run"},
        },
    ]
    assert text == "«Kiri Walsh» best hr Tue 2026-06-16 to Mon 2026-09-14: 1m 182; 5m 182; 20m 180; 1h 176."
    pace, _ = await answer(
        urls.kiri, "get_best_efforts", {"metric": "pace", "start": "2026-06-17", "end": "2026-09-15"}
    )
    # The recorded 90d pace curve (06-17 .. 09-15). Its 10 km and half-marathon points name an April
    # activity: the re-authored corpus's own inconsistency, shown as recorded.
    assert pace["sport"] == "Run"
    assert [(e["over"], e["value"], e["pace"], e["activity_id"]) for e in pace["efforts"]] == [
        ("1 km", 251.0, "4:11/km", "i91000042"),  # 251 s per km
        ("5 km", 1410.0, "4:42/km", "i91000043"),  # 1410 / 5 = 282 s
        ("10 km", 2990.0, "4:59/km", "i91000044"),  # 2990 / 10 = 299 s
        ("half marathon", 7003.0, "5:32/km", "i91000044"),  # 7003 / 21.0975 = 331.9 s
    ]
    assert pace["efforts"][0]["date"] == "Tue 2026-07-21"


async def test_it_reads_power_bests_from_the_sandbox_where_nothing_was_recorded(
    urls: Urls, corpus_upstream: Upstream
) -> None:
    data, _ = await answer(urls.kiri, "get_best_efforts", {})
    assert (data["sport"], data["window"]) == ("Ride", "Wed 2026-06-17 to Mon 2026-09-14")  # 90 days to today
    # Derived: no power curve was recorded; the reference is the sandbox's own curve for the same range.
    curve = (
        await corpus_upstream.forwarder.get(
            f"/athlete/{STAND_IN}/power-curves", {"curves": "r.2026-06-17.2026-09-14", "type": "Ride"}
        )
    )["list"][0]
    expected = {secs: curve["values"][curve["secs"].index(secs)] for secs in (5, 60, 300, 1200, 3600)}
    assert {e["over"]: e["value"] for e in data["efforts"]} == {
        "5s": expected[5],
        "1m": expected[60],
        "5m": expected[300],
        "20m": expected[1200],
        "1h": expected[3600],
    }


async def test_it_compares_the_recorded_hr_and_pace_curves(urls: Urls) -> None:
    hr, _ = await answer(urls.kiri, "get_power_curves", {"metric": "hr", "periods": ["90d", "1y"]})
    assert [p["label"] for p in hr["periods"]] == ["90 days", "1 year"]
    assert hr["periods"][1] == {"label": "1 year", "start": "Sun 2025-09-14", "end": "Mon 2026-09-14"}
    rows = {r["at"]: (r["first"], r["second"], r["change_pct"]) for r in hr["rows"]}
    assert rows["5s"] == (182.0, 187.0, -2.7)  # (182 - 187) / 187 = -2.67 %
    assert rows["10m"] == (181.0, 186.0, -2.7)  # -5 / 186 = -2.69 %
    assert rows["1h"] == (176.0, 181.0, -2.8)  # -5 / 181 = -2.76 %
    assert rows["2h"] == (171.0, 176.0, -2.8)  # -5 / 176 = -2.84 %
    assert len(rows) == 11  # every standard point is a recorded second
    pace, _ = await answer(urls.kiri, "get_power_curves", {"metric": "pace", "periods": ["90d", "all"]})
    assert pace["periods"][1] == {"label": "All time", "start": "Wed 1986-01-01", "end": "Tue 2026-09-15"}
    by_distance = {r["at"]: r for r in pace["rows"]}
    assert list(by_distance) == [
        "400 m",
        "800 m",
        "1 km",
        "1 mile",
        "3 km",
        "5 km",
        "10 km",
        "half marathon",
    ]  # no 42195 m
    assert (by_distance["400 m"]["first"], by_distance["400 m"]["second"], by_distance["400 m"]["change_pct"]) == (
        92.0,
        88.0,
        -4.5,
    )
    assert by_distance["400 m"]["first_pace"] == "3:50/km"  # 92 s / 0.4 km = 230 s
    assert (by_distance["1 mile"]["first"], by_distance["1 mile"]["first_pace"]) == (
        418.0,
        "4:20/km",
    )  # 418 / 1.60934 = 259.7 s
    assert by_distance["3 km"]["change_pct"] == -4.1  # slower by (822 - 790) / 790 = 4.05 %
    assert by_distance["half marathon"]["change_pct"] == -4.5  # (7003 - 6702) / 6702 = 4.49 %


async def test_it_compares_power_curves_from_the_sandbox_where_nothing_was_recorded(
    urls: Urls, corpus_upstream: Upstream
) -> None:
    data, _ = await answer(urls.kiri, "get_power_curves", {})
    curves = (
        await corpus_upstream.forwarder.get(f"/athlete/{STAND_IN}/power-curves", {"curves": "s0,s1", "type": "Ride"})
    )["list"]
    assert [p["label"] for p in data["periods"]] == [c["label"] for c in curves]
    this_season = dict(zip(curves[0]["secs"], curves[0]["values"], strict=True))
    assert {r["at"]: r["first"] for r in data["rows"]}["1m"] == this_season[60]


async def test_it_renders_the_recorded_calendar(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_events", {"start": "2026-02-01", "end": "2026-07-31"})
    events = {e["id"]: e for e in data["events"]}
    assert list(events) == [
        93000001,
        93000002,
        93000003,
        93000004,
        93000005,
        93000011,
        93000012,
        93000013,
        93000014,
        95000004,
        95000001,
        93000021,
        95000002,
        95000003,
        95000010,
        95000011,
    ]
    has(
        events[93000001],
        {
            "date": "Tue 2026-02-03",
            "category": "workout",
            "sport": "Yoga",
            "name": {"untrusted": "Evening yoga"},
            "duration": "25:00",  # 1500 s
            "load": 58,
            "intensity_pct": 121,  # 121.0441
        },
        absent=("steps",),  # an empty workout_doc, no description
    )
    # Other with null moving_time, indoor and load: nothing made up
    has(events[93000002], {"sport": "Other", "name": {"untrusted": "Mobility"}}, absent=("duration", "load", "indoor"))
    # NOTE with null type, description and workout_doc
    has(events[93000003], {"category": "note", "name": {"untrusted": "Travel day"}}, absent=("sport", "note"))
    assert events[93000004]["indoor"] is True
    has(
        events[93000005],
        {"date": "Mon 2026-02-09", "category": "note", "name": {"untrusted": "Coach call"}},
        absent=("note",),
    )
    # HR targets of LTHR 169, as the workout_doc's `_hr`: 55 % = 92.95, 72 % = 121.68, 82 % = 138.58, 60 % = 101.4,
    # 75 % = 126.75; Z2-Z3 of the Ride HR zones = 143-160 bpm.
    assert events[93000011]["steps"]["untrusted"] == (
        "15m 55-72% LTHR (93-122 bpm); 10m 82% LTHR (139 bpm); 10m ramp 60→75% LTHR (101→127 bpm); "
        "10m Z2-3 HR (143-160 bpm)"
    )
    # %FTP targets of FTP 231, as `_power`: 45 % = 103.95, 70 % = 161.7, 50 % = 115.5, 88 % = 203.28, 94 % = 217.14
    steps = events[93000012]["steps"]["untrusted"]  # workout text: untrusted data
    assert steps.startswith("15m ramp 45→70% FTP (104→162 W); ")
    assert "; 8m 50% FTP (116 W); 12m 88-94% FTP (203-217 W); " in steps
    # %pace targets of 3.4482758 m/s, as `_pace`: 75 % = 2.5862 m/s = 386.7 s/km, 95 % = 305.3 s, 105 % = 276.2 s
    assert events[93000013]["steps"]["untrusted"].startswith(
        "15m 75% pace (6:27/km); 10m 95-105% pace (5:05/km-4:36/km); "
    )
    assert (events[93000013]["distance_km"], events[93000013]["duration"]) == (7.31, "45:00")
    # Swim distance steps of 0.8695652 m/s: 60 % = 191.7 s/100m, 80 % = 143.75, 50 % = 230, 100 % = 115
    assert events[93000014]["steps"]["untrusted"] == (
        "600 m 60% pace (3:12/100m); 400 m 80% pace (2:24/100m); 5m 50% pace (3:50/100m); 231 m 100% pace (1:55/100m)"
    )
    assert events[95000004]["steps"]["untrusted"] == '"Lower body 3x6" 20m; "Upper body and core" 20m; "Mobility" 10m'
    assert events[93000021]["note"] == {"untrusted": "Travel to race venue"}
    has(
        events[95000002],
        {"date": "Sat 2026-06-13", "category": "A race", "sport": "TrackRide", "name": {"untrusted": "Club pursuit"}},
        absent=("load", "duration"),  # null in the recording
    )
    assert (events[95000003]["category"], events[95000003]["load"]) == ("C race", 68)
    # WORKOUT loads: 58 + 27 + 39 + 44 + 9 + 70 (Mobility, Trainer spin and both strength sessions: null)
    assert data["planned_load"] == 247
    assert text == (
        "«Kiri Walsh» calendar Sun 2026-02-01 to Fri 2026-07-31: 10 workouts, 4 notes, 1 A race, 1 C race; "
        "planned load 247."
    )


@pytest.mark.xfail(
    strict=True, reason="#14: power zone targets in workout steps are 1 % FTP off Intervals.icu's resolution"
)
async def test_it_resolves_a_power_zone_step_as_intervals_does(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_events", {"start": "2026-03-10", "end": "2026-03-10"})
    steps = {e["id"]: e.get("steps", "") for e in data["events"]}[93000012]
    assert "Z3 (176-208 W)" in steps  # `_power` of the "Z3" step: 76 % and 90 % of 231 = 175.56, 207.9


@pytest.mark.xfail(strict=True, reason="#14: get_events shows no done/missed status for past planned workouts")
async def test_it_says_which_past_planned_workouts_were_done(urls: Urls) -> None:
    data, _ = await answer(urls.kiri, "get_events", {"start": "2026-07-26", "end": "2026-07-31"})
    rows = {e["id"]: flat(e) for e in data["events"]}
    # i91000021 is paired with 95000010, i91000022 with 95000011 (their paired_event_id)
    assert "i91000021" in rows[95000010] or "done" in rows[95000010].lower()
    assert "i91000022" in rows[95000011] or "done" in rows[95000011].lower()


async def test_it_lists_the_recorded_library_with_steps(urls: Urls) -> None:
    data, text = await answer(urls.kiri, "get_workout_library", {"with_steps": True})
    assert data["folders"] == [
        {
            "id": 940001,
            "name": {"untrusted": "Workouts"},
            "kind": "folder",
            "workouts": [
                {
                    "id": 7,
                    "name": {"untrusted": "Tempo blocks"},
                    "sport": "Ride",
                    "duration": "1:15:00",  # 4500 s
                    "load": 63,
                    "intensity_pct": 75,  # 75.3318
                    # FTP 231: 55 % = 127.05, 88 % = 203.28, 60 % = 138.6, 40 % = 92.4, 95 % = 219.45, 105 % = 242.55
                    "steps": {
                        "untrusted": "15m 55% FTP (127 W); 3x[10m 88% FTP (203 W), 5m 55% FTP (127 W)]; "
                        "10m 60-40% FTP (139-92 W); 5m 95-105% FTP (219-243 W) 85-95 rpm"
                    },
                }
            ],
        }
    ]
    assert data["workouts"] == 1
    assert text == "«Kiri Walsh» library: 1 workouts in 1 folders."


# === coach tools ========================================================================================


async def test_it_lists_the_athlete_with_every_granted_tool(urls: Urls) -> None:
    data, text = await answer(urls.coach, "list_athletes", {})
    tools = grantable_tools()
    assert data["athletes"] == [{**KIRI_ECHO, "tools": sorted(tools["read"] + tools["write"])}]
    assert (
        text == f"1 athletes: «Kiri Walsh» (i900001, Australia/Brisbane, {len(tools['read'] + tools['write'])} tools)."
    )


async def test_it_finds_the_athlete_with_her_last_upload(urls: Urls) -> None:
    data, _ = await answer(urls.coach, "search_roster", {"query": "kiri", "sort": "last_activity"})
    assert data["athletes"]["rows"] == [
        ["i900001", {"untrusted": "Kiri Walsh"}, "Australia/Brisbane", "kiri@example.com", "Mon 2026-09-14"]
    ]


async def test_it_prepares_a_call_from_the_recorded_data(urls: Urls) -> None:
    data, text = await answer(urls.coach, "athlete_overview", {"athlete": KIRI})
    assert data["today"] == "Mon 2026-09-14"
    assert data["profile"] == {
        "Ride/VirtualRide": "FTP 231 W, LTHR 169 bpm",
        "Run/VirtualRun": "LTHR 169 bpm, threshold pace 4:50/km",
        "Swim/OpenWaterSwim": "LTHR 169 bpm, threshold pace 1:55/100m",
        "Other": "LTHR 169 bpm",
    }
    # Wellness 09-05 .. 09-14; weeks end 09-06 (ctl 40.08), 09-13 (39.6), 09-14 (39.01)
    has(
        data["load"],
        {
            "date": "Mon 2026-09-14",
            "ctl": 39.0,
            "atl": 35.1,
            "form": 3.9,
            "form_zone": "Grey zone",
            "ramp": 0.3,
            "ctl_weekly": [40.1, 39.6, 39.0],
        },
    )
    # 09-01 .. 09-14: swim, run, strength, run; 1544 + 2161 + 3121 + 2579 = 9405 s; 28 + 41 + 16 + 61; no plan recorded
    has(
        data["last_2_weeks"],
        {
            "window": "Tue 2026-09-01 to Mon 2026-09-14",
            "done_sessions": 4,
            "done_time": "2:36:45",
            "done_load": 146,
            "planned_sessions": 0,
            "planned_done": 0,
        },
    )
    assert data["open_threads"] == [
        {
            "date": "Sat 2026-09-12",
            "activity_id": "i91000002",
            "activity": {"untrusted": "Evening Run"},
            "messages": 2,
            "awaiting_reply": True,  # Kiri wrote last
            "last": {
                "by": {"untrusted": "Kiri Walsh"},
                "text": {"untrusted": "Meant to be easy, legs heavy from Thursday."},
            },
        }
    ]
    assert "next_2_weeks" not in data and "races" not in data  # nothing recorded on or after 2026-09-14
    assert text == (
        "«Kiri Walsh» (i900001, Australia/Brisbane), Mon 2026-09-14; CTL 39.0, form +3.9 (Grey zone), ramp +0.3/week; "
        "last 2 weeks 4 sessions, load 146, 0/0 planned done; 1 comment threads awaiting a reply."
    )


async def test_it_flags_what_the_recorded_weeks_show(urls: Urls) -> None:
    data, text = await answer(urls.coach, "roster_digest", {})
    (row,) = data["athletes"]["rows"]
    assert row[:5] == [
        "i900001",
        {"untrusted": "Kiri Walsh"},
        "Australia/Brisbane",
        "Mon 2026-09-14",
        4,
    ]  # two medium flags
    assert row[5] == [
        # last 7 days (09-08 .. 09-14): 41 + 16 + 61 = 118; the 3 weeks before (08-18 .. 09-07): the swim's 28,
        # 28 / 3 = 9.3 a week; 118 / 9.33 = 12.6; 118 - 9.3 >= 100
        ["load_jump", "medium", "load 118 in 7 days vs 9/week before (x12.6)"],
        ["comments", "medium", "1 awaiting a reply: Sat 2026-09-12 i91000002"],
    ]
    assert "clear" not in data  # flagged
    assert text.startswith("Roster digest: 1 of 1 athletes flagged; most urgent: «Kiri Walsh» (i900001, 4)")


@pytest.mark.xfail(strict=True, reason="#14: roster_digest drops HRV recorded as SDNN (hrvSDNN) silently")
async def test_it_says_the_digest_read_hrv_as_sdnn(urls: Urls) -> None:
    data, text = await answer(urls.coach, "roster_digest", {})
    # Every recorded day has hrvSDNN and no rMSSD; the HRV check may run on SDNN (last 3: 50.9, 54.12, 40.66 =
    # 48.6 vs 46.8 before: no drop) or be skipped, but it must say which, not pass silently as "rMSSD".
    assert "sdnn" in (flat(data) + text).lower()


async def test_it_lists_the_open_conversation(urls: Urls) -> None:
    data, text = await answer(urls.coach, "get_conversations", {})
    assert data["threads"]["rows"] == [
        [
            "i900001",
            {"untrusted": "Kiri Walsh"},
            "Sat 2026-09-12",
            "i91000002",
            {"untrusted": "Evening Run"},
            2,
            True,
            {"untrusted": "Kiri Walsh"},
            {"untrusted": "Meant to be easy, legs heavy from Thursday."},
        ]
    ]
    assert text == "1 comment threads on activities of the last 7 days, 1 awaiting a reply."


async def test_it_catches_up_on_the_last_week(urls: Urls) -> None:
    data, text = await answer(urls.coach, "catch_up", {})
    (news,) = data["athletes"]
    assert news["since"] == "Tue 2026-09-08"  # first call: today - 6 days
    assert news["activities"] == [
        {
            "date": "Sat 2026-09-12",
            "id": "i91000002",
            "sport": "Run",
            "name": {"untrusted": "Evening Run"},
            "duration": "36:01",
            "load": 41,
        },
        {
            "date": "Sun 2026-09-13",
            "id": "i91000003",
            "sport": "WeightTraining",
            "name": {"untrusted": "Strength"},
            "duration": "52:01",
            "load": 16,
        },
        {
            "date": "Mon 2026-09-14",
            "id": "i91000001",
            "sport": "Run",
            "name": {"untrusted": "Morning Run"},
            "duration": "42:59",
            "load": 61,
        },
    ]
    first, second = news["comments"]  # the derived thread on i91000002, oldest first
    assert first == {
        "by": {"untrusted": "Sam Okafor"},
        "text": {"untrusted": "HR sat at 161: was that meant to be easy?"},
    }
    assert second == {
        "by": {"untrusted": "Kiri Walsh"},
        "text": {"untrusted": "Meant to be easy, legs heavy from Thursday."},
    }
    assert news["awaiting_reply"] == 1
    # 09-08 .. 09-14 = 7 rows; 09-14: restingHR 58, sleepSecs 26880 = 7.47 h, weight 65
    assert news["wellness"].startswith("7 days logged; latest Mon 2026-09-14: ")
    for part in ("resting HR 58 bpm", "sleep 7.5 h", "weight 65 kg"):
        assert part in news["wellness"]
    assert text == "Catch-up: news for 1 of 1 athletes («Kiri Walsh»); cursor moved to now."


@pytest.mark.xfail(strict=True, reason="#14: catch_up drops HRV recorded as SDNN (hrvSDNN) silently")
async def test_it_catches_up_on_hrv_recorded_as_sdnn(urls: Urls) -> None:
    data, _ = await answer(urls.coach, "catch_up", {})
    wellness = data["athletes"][0]["wellness"]
    assert "SDNN" in wellness and re.search(r"40\.7|40\.66", wellness)  # hrvSDNN 40.66 on 09-14


@pytest.mark.xfail(strict=True, reason="#14: catch_up lists comments without their activity or date")
async def test_it_says_which_activity_each_new_comment_is_on(urls: Urls) -> None:
    data, _ = await answer(urls.coach, "catch_up", {})
    for line in data["athletes"][0]["comments"]:
        assert "2026-09-12" in line or "Evening Run" in line or "i91000002" in line, line
