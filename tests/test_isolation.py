"""Isolation, exhaustively (issue #6), on a representative subset: the same code as `python -m bench.isolation`.

The world (bench/isolation.py): Mara, Diego, Aroha and Sam have their own URLs; Maya is the outsider (signed up,
read-only scopes, invited by no one); Priya exists on Intervals.icu but not in Sam's stored roster. Coach Full
has every tool on Mara; Coach Partial two read tools on Diego (HRV hidden) and an expired grant from Aroha;
Coach Gone lost Aroha's grant and keeps get_fitness on Mara; Sam coaches through his Intervals.icu API key and
Mara's invite narrows him to get_fitness on her. Maya invited Coach Full, Sam and Coach New, and none accepted;
Coach Partial and Coach Gone had selected Aroha before her grant ended. Every forbidden call must fail with the
one answer of its class, reach Intervals.icu never (athletes) or only through the acting athlete's own
collection (object ids).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench import isolation
from bench.isolation import AROHA, DIEGO, MARA, SAM, Case, Outcome, Report, World
from mcpserver.gate import NOT_FOUND_BODY
from tests.conftest import Sandbox, ServerThread


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """This module's own upstream: two generated athletes (Maya, Priya), and Sam does not coach Maya there."""
    from integrations.intervals.sandbox import SandboxState
    from integrations.intervals.sandbox.app import create_app

    state = SandboxState(isolation.sandbox_config())
    isolation.prepare_sandbox(state)
    server = ServerThread(create_app(state=state)).start()
    yield Sandbox(state=state, url=server.url)
    server.stop()


@pytest.fixture
def world(product: ServerThread, sandbox: Sandbox) -> World:
    return isolation.build_world(sandbox.state, product.url)


def failures(report: Report) -> str:
    return "\n".join(report.failures[:20])


@pytest.mark.django_db(transaction=True)
def test_it_refuses_every_kind_of_forbidden_athlete_and_every_dead_token_the_same_way_without_upstream_calls(
    world: World, sandbox: Sandbox
) -> None:
    every = isolation.athlete_cases(world)
    kinds = {c.kind for c in every}
    assert kinds >= {"unknown", "other tenant", "ungranted tool", "expired grant", "revoked grant", "stale roster"}
    assert {"unaccepted invite", "removed selection, athlete omitted"} <= kinds
    assert "ungranted tool, athlete omitted" in kinds and "coach tool on an athlete URL" in kinds
    cases = isolation.subset(every, per_class=2, always=lambda c: c.kind == "ungranted tool, athlete omitted")
    assert len({c.klass for c in cases}) == len({c.klass for c in every}), "every (token, tool) class is sampled"
    before = sandbox.state.request_count
    outcomes = isolation.run_cases(world, sandbox.state, cases)
    report = isolation.check(world, outcomes, [])
    assert not report.failures, failures(report)
    assert sandbox.state.request_count == before, "a refused athlete never reaches Intervals.icu"
    assert all(len(texts) == 1 for texts in report.answers.values())
    # The refusal names what was asked and lists only where the tool is available.
    partial = report.answers[("athlete", "coach:partial", "get_fitness")]
    assert partial == {"No athlete '<athlete>' with get_fitness on this MCP URL. Available with get_fitness: none."}
    # Sam selected Diego, who is read-only for him: a write without `athlete` is refused on Diego, never
    # moved to Aroha or Sam where Sam may write.
    (sam_push,) = [
        o
        for o in outcomes
        if o.case.token == "coach:sam-option-b"
        and o.case.tool == "push_workout"
        and o.case.kind == "ungranted tool, athlete omitted"
    ]
    assert sam_push.raw.startswith(f"No athlete '{DIEGO}' with push_workout on this MCP URL."), sam_push.raw
    isolation.hidden_class_check(world, report, sandbox.state)
    assert report.hidden_previews == 7  # one coach per hidden class, one hiding nothing
    assert not report.failures, failures(report)

    tools = ["whoami", "get_training_history", "push_workout", "list_athletes", "undo_last_write"]
    answers, calls, upstream, client_refused = isolation.run_dead(world, sandbox.state, tools)
    assert calls == len(world.dead) * (len(tools) + 1) * 2  # initialize + each tool, in the path and the header
    assert dict(answers) == {(404, NOT_FOUND_BODY): calls}
    assert upstream == 0
    assert client_refused, "the official client cannot even connect with a revoked URL"


@pytest.mark.django_db(transaction=True)
def test_it_refuses_invites_from_strangers_and_removed_selections_like_unknown_athletes(
    world: World, sandbox: Sandbox
) -> None:
    every = isolation.athlete_cases(world)
    strangers = [c for c in every if c.kind == "unaccepted invite"]
    removed = [c for c in every if c.kind == "removed selection, athlete omitted"]
    assert {c.token for c in strangers} == {"coach:full", "coach:sam-option-b", "coach:new"}
    assert {c.token for c in removed} == {"coach:partial", "coach:gone"}
    classes = {c.klass for c in strangers + removed}
    # The yardstick: an id no one has, asked on the same URL with the same tool.
    unknown = [c for c in every if c.kind == "unknown" and c.asked == "i999999" and c.klass in classes]
    before = sandbox.state.request_count
    outcomes = isolation.run_cases(world, sandbox.state, strangers + removed + unknown)
    report = isolation.check(world, outcomes, [])
    assert not report.failures, failures(report)
    assert sandbox.state.request_count == before, "neither reaches Intervals.icu"
    assert all(len(report.answers[k]) == 1 for k in classes), "the same answer as an unknown athlete"

    # An invite nobody accepted reaches nothing, not even on a URL that reaches no one else.
    (maya,) = [
        o
        for o in outcomes
        if o.case.token == "coach:new" and o.case.tool == "get_wellness" and o.case.asked == isolation.MAYA
    ]
    assert maya.raw.startswith(f"No athlete '{isolation.MAYA}' with get_wellness on this MCP URL."), maya.raw
    assert "Maya" not in maya.raw.replace(f"'{isolation.MAYA}'", "")
    # Coach Gone selected Aroha, who revoked: get_fitness without `athlete` is refused with the choices,
    # never answered for Mara, the only athlete left (who did grant get_fitness).
    (gone,) = [o for o in removed_of(outcomes) if o.case.token == "coach:gone" and o.case.tool == "get_fitness"]
    assert gone.raw.startswith(
        f"No athlete '{AROHA}' with get_fitness on this MCP URL. Available with get_fitness: {MARA}."
    ), gone.raw


def removed_of(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.case.kind == "removed selection, athlete omitted"]


@pytest.mark.django_db(transaction=True)
def test_it_answers_someone_else_s_object_ids_exactly_like_ids_that_do_not_exist(
    world: World, sandbox: Sandbox
) -> None:
    every = isolation.object_cases(world)
    assert {c.tool for c in every} == set(isolation.OBJECT_TOOLS)
    cases = isolation.subset(every, per_class=2)
    outcomes = isolation.run_cases(world, sandbox.state, cases)
    controls = isolation.run_cases(world, sandbox.state, isolation.control_cases(world))
    report = isolation.check(world, outcomes, controls)
    assert not report.failures, failures(report)
    assert {o.case.kind for o in outcomes} >= {"someone else's", "nonexistent or malformed"}
    assert {o.case.tool for o in controls} == set(isolation.OBJECT_TOOLS), "each tool also works on own objects"

    # Sam's API key can read Mara's activities on Intervals.icu; acting for Aroha, Sam comments on one of them.
    # It used to be fetched by id (/activity/<id>) to learn its owner: now only Aroha's collection is asked.
    maras = world.objects[MARA]["activity"][0]
    comment = Case(
        "coach:sam-option-b",
        "add_activity_comment",
        {"athlete": AROHA, "activity_id": maras, "text": "Nice ride", "dry_run": False},
        ("object", "coach:sam-option-b", AROHA, "add_activity_comment"),
        "someone else's",
        maras,
        MARA,
        AROHA,
    )
    (outcome,) = isolation.run_cases(world, sandbox.state, [comment])
    assert outcome.is_error and outcome.text == f"No activity <id> for athlete {AROHA}."
    assert [(m, p, kind, who) for m, p, kind, who, _ in outcome.upstream] == [
        ("GET", f"/api/v1/athlete/{AROHA}/activities/{maras}", "api_key", SAM)
    ]
    assert not sandbox.state.athletes[MARA].messages.get(maras), "nothing was posted on Mara's activity"


def _outcome(world: World, token: str, text: str, *, owner: str | None, upstream: list[Any] | None = None) -> Outcome:
    case = Case(
        token, "get_activity_detail", {}, ("object", token, MARA, "get_activity_detail"), "k", "i42", owner, MARA
    )
    return Outcome(case, True, text, text, upstream or [])


def test_its_checker_catches_a_leak_a_second_answer_a_write_and_a_foreign_credential() -> None:
    # The verdicts must be able to fail: fabricated outcomes break each rule once.
    coach = isolation.Token("coach:full", "", "coach", {MARA: frozenset()}, credential={MARA: MARA})
    world = World("http://x", [coach], {}, {MARA: "Mara Lindqvist", AROHA: "Aroha Ngata"}, {}, {}, {})
    not_found = f"No activity <id> for athlete {MARA}. List activities with get_training_history."
    outcomes = [
        _outcome(world, "coach:full", not_found, owner=AROHA),
        _outcome(world, "coach:full", not_found + " (Aroha Ngata)", owner=AROHA),
        _outcome(
            world,
            "coach:full",
            not_found,
            owner=None,
            upstream=[("PUT", f"/api/v1/athlete/{MARA}/x", "bearer", MARA, 200)],
        ),
        _outcome(
            world, "coach:full", not_found, owner=None, upstream=[("GET", "/api/v1/activity/i42", "bearer", AROHA, 200)]
        ),
    ]
    report = isolation.check(world, outcomes, [])
    text = "\n".join(report.failures)
    assert "names the forbidden athlete (Aroha Ngata)" in text
    assert "2 distinct answers" in text
    assert "wrote upstream" in text
    assert "another credential (i100003)" in text and "outside i100001's own collection" in text
