"""Coach URLs, deny by default: each forbidden token x athlete x tool fails the same way, upstream untouched.

People: Mara (cyclist) invites Coach Full with every tool; Diego (runner) invites Coach Partial with two
read tools and hides HRV; Aroha's grant to Coach Partial has expired; Sam invited nobody.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core import mail
from mcp.client import Client

from accounts.actions import reveal_token
from coaching.actions import accept_invite, grantable_tools, invite_coach, revoke_coach
from coaching.models import CoachGrant
from mcpserver.catalogue import REGISTRY
from tests.conftest import AROHA, DIEGO, MARA, SAM, Sandbox, ServerThread, make_athlete

pytestmark = pytest.mark.django_db(transaction=True)

PARTIAL_TOOLS = ["get_training_history", "get_wellness"]


@dataclass
class Roster:
    full_url: str
    partial_url: str
    mara_grant: CoachGrant


def coach_url(product: ServerThread, grant: CoachGrant) -> str:
    assert grant.coach_token is not None
    return f"{product.url}/mcp/{reveal_token(grant.coach_token)}"


@pytest.fixture
def roster(product: ServerThread, sandbox: Sandbox) -> Iterator[Roster]:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    aroha = make_athlete("aroha@example.com", athlete_id=AROHA, sandbox=sandbox)
    make_athlete("sam@example.com", athlete_id=SAM, sandbox=sandbox)
    everything = [t for group in grantable_tools().values() for t in group]
    full = accept_invite(invite_coach(mara, "full@coach.example", everything))
    partial = accept_invite(invite_coach(diego, "partial@coach.example", PARTIAL_TOOLS, hidden=["hrv"]))
    expired = accept_invite(invite_coach(aroha, "partial@coach.example", PARTIAL_TOOLS))
    CoachGrant.objects.filter(pk=expired.pk).update(expires_on=dt.date(2020, 1, 1))  # time has passed
    assert partial.coach_token_id == expired.coach_token_id, "invites to one email share one coach token"
    yield Roster(coach_url(product, full), coach_url(product, partial), full)


def call(url: str, tool: str, args: dict[str, Any]) -> Any:
    async def go() -> Any:
        async with Client(url, mode="legacy") as client:
            return await client.call_tool(tool, args)

    return async_to_sync(go)()


def call_many(url: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Many calls through one client session (each is still its own stateless HTTP request)."""

    async def go() -> list[Any]:
        async with Client(url, mode="legacy") as client:
            return [await client.call_tool(tool, args) for tool, args in calls]

    return list(async_to_sync(go)())


def list_athletes(url: str) -> list[dict[str, Any]]:
    result = call(url, "list_athletes", {})
    assert not result.is_error, result.content
    return list(result.structured_content["athletes"])


def minimal_args(tool: str) -> dict[str, Any]:
    """Arguments that pass validation for each tool (the grant check must refuse before they matter)."""
    schema = REGISTRY[tool].input_model.model_json_schema()
    args: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        kind = prop.get("type") or next((s.get("type") for s in prop.get("anyOf", []) if s.get("type")), "string")
        args[name] = {"integer": 1, "number": 1, "boolean": False, "array": []}.get(kind, "2030-01-01")
        if name == "sport":
            args[name] = "Ride"
        if name == "priority":
            args[name] = "A"
    return args


def test_it_sends_the_coach_one_invite_email_with_their_url(roster: Roster) -> None:
    to_full = [m for m in mail.outbox if m.to == ["full@coach.example"]]
    assert len(to_full) == 1
    assert roster.full_url.rsplit("/", 1)[1] in to_full[0].body
    assert "Settings" in to_full[0].body and to_full[0].alternatives  # setup steps, text and HTML


def test_it_shows_each_coach_only_their_athletes_and_granted_tools(roster: Roster) -> None:
    full = {a["id"]: a for a in list_athletes(roster.full_url)}
    assert set(full) == {MARA}
    assert "push_workout" in full[MARA]["tools"] and "get_wellness" in full[MARA]["tools"]
    partial = {a["id"]: a for a in list_athletes(roster.partial_url)}
    assert set(partial) == {DIEGO}, "the expired grant stops by itself"
    assert partial[DIEGO]["tools"] == sorted(PARTIAL_TOOLS)
    assert partial[DIEGO]["hidden_data"] == ["hrv"]
    assert partial[DIEGO]["timezone"] == "America/Denver"


def test_it_refuses_every_forbidden_combination_the_same_way_with_zero_upstream_calls(
    roster: Roster, sandbox: Sandbox
) -> None:
    athlete_tools = [n for n, s in REGISTRY.items() if s.group in ("read", "write") and s.scope is not None]
    cases = []
    for url, reachable in ((roster.full_url, {MARA}), (roster.partial_url, {DIEGO})):
        granted = {a["id"]: set(a["tools"]) for a in list_athletes(url)}
        for athlete in (MARA, DIEGO, AROHA, SAM, "i999999", "Nobody Atall"):
            for tool in athlete_tools:
                if athlete in reachable and tool in granted[athlete]:
                    continue
                cases.append((url, athlete, tool))
    assert len(cases) > 100
    refusals = {}
    before = sandbox.state.request_count
    for url in (roster.full_url, roster.partial_url):
        mine = [c for c in cases if c[0] == url]
        results = call_many(url, [(tool, {**minimal_args(tool), "athlete": athlete}) for _, athlete, tool in mine])
        for (_, athlete, tool), result in zip(mine, results, strict=True):
            assert result.is_error, (athlete, tool, result.structured_content)
            refusals[(url, athlete, tool)] = result.content[0].text.replace(f"'{athlete}'", "'<athlete>'")
    assert sandbox.state.request_count == before, "a refused call must never reach Intervals.icu"
    # For one URL and one tool, an unknown id, another tenant's athlete and a known athlete without the
    # grant read exactly alike: the answer reveals nothing about who else exists.
    for url, _athlete, tool in cases:
        same_tool = {refusals[(u, a, t)] for (u, a, t) in cases if u == url and t == tool}
        assert len(same_tool) == 1, same_tool
        assert next(iter(same_tool)).startswith(f"No athlete '<athlete>' with {tool} on this MCP URL.")


def test_it_reads_the_right_athletes_data_where_allowed(roster: Roster) -> None:
    mara = call(roster.full_url, "get_training_history", {"athlete": "Mara"})
    assert not mara.is_error and mara.structured_content["athlete"]["id"] == MARA
    diego = call(roster.partial_url, "get_training_history", {})  # the only athlete: no guessing needed
    assert not diego.is_error and diego.structured_content["athlete"]["id"] == DIEGO
    wellness = call(roster.partial_url, "get_wellness", {"athlete": DIEGO})
    assert not wellness.is_error, wellness.content
    data = wellness.structured_content
    assert data["athlete"]["id"] == DIEGO
    assert all("hrv" not in str(c) and "resting_hr" not in str(c) for c in data.get("columns", []))
    assert "hrv" not in str(data.get("baseline", {}))
    assert "hrv" in wellness.content[0].text.lower()  # the text says the class is hidden, not its values
    assert "ms" not in wellness.content[0].text


def test_it_applies_a_revocation_on_the_very_next_request(roster: Roster, sandbox: Sandbox) -> None:
    ok = call(roster.full_url, "get_training_history", {"athlete": MARA})
    assert not ok.is_error
    revoke_coach(roster.mara_grant, actor=roster.mara_grant.athlete)
    before = sandbox.state.request_count
    refused = call(roster.full_url, "get_training_history", {"athlete": MARA})
    assert refused.is_error and refused.content[0].text.startswith("No athlete 'i100001'")
    assert sandbox.state.request_count == before
    assert list_athletes(roster.full_url) == []


def test_it_remembers_the_selected_athlete_across_stateless_requests(roster: Roster, sandbox: Sandbox) -> None:
    # A second athlete for Coach Full: now the URL reaches two and a call without `athlete` must not guess.
    aroha_user = make_athlete("aroha2@example.com", athlete_id=AROHA, sandbox=sandbox)
    accept_invite(invite_coach(aroha_user, "full@coach.example", ["get_training_history"]))
    ambiguous = call(roster.full_url, "get_training_history", {})
    assert ambiguous.is_error and "several athletes" in ambiguous.content[0].text
    assert "i100001, i100003" in ambiguous.content[0].text and "Lindqvist" not in ambiguous.content[0].text
    chosen = call(roster.full_url, "select_athlete", {"athlete": "aroha"})
    assert not chosen.is_error and chosen.structured_content["athlete"]["id"] == AROHA
    follow_up = call(roster.full_url, "get_training_history", {})  # a new HTTP request, same URL
    assert follow_up.structured_content["athlete"]["id"] == AROHA
    # Aroha did not grant get_wellness: the selected athlete is refused, never swapped for Mara.
    refused = call(roster.full_url, "get_wellness", {})
    assert refused.is_error and refused.content[0].text.startswith("No athlete 'i100003' with get_wellness")


def test_it_gives_a_coach_who_trains_one_url_for_their_own_data_and_their_athletes(
    product: ServerThread, sandbox: Sandbox
) -> None:
    # Aroha trains and coaches. (Not Sam: another test disconnects Sam's sandbox app, which revokes his
    # demo token for the rest of the shared session.)
    aroha = make_athlete("aroha@example.com", athlete_id=AROHA, sandbox=sandbox)
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    own = invite_coach(aroha, "aroha@example.com", ["get_training_history", "get_fitness"])
    theirs = accept_invite(invite_coach(mara, "AROHA@example.com", ["get_training_history"]))
    assert own.coach_token_id == theirs.coach_token_id
    url = coach_url(product, own)
    athletes = {a["id"]: a["tools"] for a in list_athletes(url)}
    assert athletes == {AROHA: ["get_fitness", "get_training_history"], MARA: ["get_training_history"]}
    mine = call(url, "get_fitness", {"athlete": "Aroha"})
    assert not mine.is_error and mine.structured_content["athlete"]["id"] == AROHA


def test_it_stops_a_coach_reaching_an_athlete_whose_account_was_deactivated(roster: Roster) -> None:
    from accounts.models import User

    assert [a["id"] for a in call(roster.full_url, "whoami", {}).structured_content["athletes"]] == [MARA]
    User.objects.filter(pk=roster.mara_grant.athlete_id).update(is_active=False)
    assert call(roster.full_url, "whoami", {}).structured_content["athletes"] == []
    refused = call(roster.full_url, "get_training_history", {"athlete": MARA})
    assert refused.is_error
