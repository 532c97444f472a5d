"""PostgreSQL down, then back: pages and MCP answer a short 503 within 2 s (never Django's 500 page or a
traceback per request), and everything works again within 2 s of the database's return.

The product runs in the production shape (DEBUG off, uvicorn, a PostgreSQL pool) with DATABASE_URL
pointing at a TCP proxy in front of the test database, which the test switches between up and refused
(tests/outage_helpers.py). The real PostgreSQL is never stopped: other tests share it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from accounts.actions import ensure_athlete_token, reveal_token
from coaching.models import AccessLogEntry
from tests.conftest import MARA, Sandbox, free_port, make_athlete
from tests.outage_helpers import FlakyProxy, Proc, stack_env, start_web, wait_for
from tests.test_tools_write_helpers import THRESHOLD_STEPS, future_day

MARA_TZ = "Europe/Stockholm"

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET_SECONDS = 2.0


@pytest.fixture
def database() -> Iterator[FlakyProxy]:
    from django.conf import settings

    proxy = FlakyProxy(int(settings.DATABASES["default"]["PORT"] or 5432))
    yield proxy
    proxy.close()


def _start(database: FlakyProxy, sandbox: Sandbox, **extra: str) -> tuple[str, Proc]:
    port = free_port()
    env = stack_env(
        DATABASE_URL=database.postgres_url(), INTERVALS_BASE_URL=sandbox.url, ALLOWED_HOSTS="127.0.0.1", **extra
    )
    return f"http://127.0.0.1:{port}", start_web(env, port)


@pytest.fixture
def web(database: FlakyProxy, sandbox: Sandbox) -> Iterator[tuple[str, Proc]]:
    # The principal is read from PostgreSQL on every request: what is measured is the database path.
    base, proc = _start(database, sandbox, MCP_PRINCIPAL_CACHE_SECONDS="0")
    yield base, proc
    proc.stop()


@pytest.fixture
def web_cached(database: FlakyProxy, sandbox: Sandbox) -> Iterator[tuple[str, Proc]]:
    # The worker keeps the token's principal: tool calls still run with PostgreSQL away.
    base, proc = _start(database, sandbox)
    yield base, proc
    proc.stop()


def _call(client: httpx.Client, url: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    return client.post(url, json=body, headers=headers)


def _whoami(client: httpx.Client, url: str) -> httpx.Response:
    return _call(client, url, "whoami", {})


def _mara_url(base: str, sandbox: Sandbox) -> str:
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    token = ensure_athlete_token(mara)
    assert token is not None
    return f"{base}/mcp/{reveal_token(token)}"


def _push(name: str) -> dict[str, Any]:
    day = future_day(MARA_TZ, 20)
    return {"date": day.isoformat(), "sport": "Ride", "name": name, "steps": THRESHOLD_STEPS}


def _events_named(sandbox: Sandbox, name: str) -> list[Any]:
    return [e for e in sandbox.state.athletes[MARA].events.values() if e.get("name") == name]


def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_it_answers_503_fast_while_the_database_is_down_and_recovers_within_2_s(
    web: tuple[str, Proc], database: FlakyProxy, sandbox: Sandbox
) -> None:
    base, proc = web
    mcp = _mara_url(base, sandbox)
    # A session cookie makes the dashboard read the session (and so the database) before anything else.
    cookies = {"sessionid": "a-session-that-is-looked-up-in-postgresql"}
    with httpx.Client(timeout=10, cookies=cookies) as client:
        assert client.get(f"{base}/readyz").status_code == 200
        assert _whoami(client, mcp).status_code == 200
        assert client.get(f"{base}/dashboard/").status_code == 302  # to the login page

        database.set_mode("refused")
        for _ in range(3):
            page, took = _timed(lambda: client.get(f"{base}/dashboard/"))
            assert page.status_code == 503, page.text[:300]
            assert page.headers["retry-after"] == "5"
            assert "Back in a moment" in page.text
            assert took < BUDGET_SECONDS, f"the 503 page took {took:.2f} s"
            answer, took = _timed(lambda: _whoami(client, mcp))
            assert answer.status_code == 503
            assert took < BUDGET_SECONDS, f"the MCP 503 took {took:.2f} s"
            ready, took = _timed(lambda: client.get(f"{base}/readyz"))
            assert ready.status_code == 503
            assert took < BUDGET_SECONDS

        database.set_mode("up")
        back = time.monotonic()
        wait_for(lambda: client.get(f"{base}/readyz").status_code == 200, 10, "readiness after recovery", proc)
        wait_for(lambda: _whoami(client, mcp).status_code == 200, 10, "MCP after recovery", proc)
        wait_for(lambda: client.get(f"{base}/dashboard/").status_code == 302, 10, "pages after recovery", proc)
        recovered = time.monotonic() - back
        assert recovered < BUDGET_SECONDS, f"errors outlasted the outage by {recovered:.2f} s"
        # Once back, nothing fails any more.
        assert [_whoami(client, mcp).status_code for _ in range(10)] == [200] * 10

    log = proc.log()
    assert "Traceback" not in log
    assert "database unavailable" in log


def test_it_drains_on_sigterm_readiness_first_then_stops(tmp_path: Any) -> None:
    """docker/serve.sh: on SIGTERM /readyz answers 503 at once while every other request is still served
    for DRAIN_SECONDS; then gunicorn finishes and the process exits."""
    import signal
    import subprocess

    from tests.outage_helpers import collected_static
    from tests.stack_helpers import ROOT

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = stack_env(
        STATIC_ROOT=collected_static(),
        ALLOWED_HOSTS="127.0.0.1",
        DRAIN_SECONDS="3",
        READINESS_DRAIN_FILE=str(tmp_path / "draining"),
    )
    command = ["sh", "docker/serve.sh", str(ROOT / ".venv/bin/gunicorn"), "config.asgi:application"]
    command += ["-k", "uvicorn_worker.UvicornWorker", "--workers", "1", "--bind", f"127.0.0.1:{port}"]
    command += ["--graceful-timeout", "5"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(timeout=5) as client:

            def ready() -> bool:
                try:
                    return client.get(f"{base}/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(ready, 60, "gunicorn to serve")
            proc.send_signal(signal.SIGTERM)
            wait_for(lambda: client.get(f"{base}/readyz").status_code == 503, 2, "readiness to flip")
            assert client.get(f"{base}/readyz").json()["status"] == "draining"
            # Still serving everything else while the load balancer takes the instance out.
            assert client.get(f"{base}/healthz").status_code == 200
            assert client.get(f"{base}/").status_code == 200
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_it_refuses_a_write_it_cannot_journal_and_changes_nothing_upstream(
    web_cached: tuple[str, Proc], database: FlakyProxy, sandbox: Sandbox
) -> None:
    base, _proc = web_cached
    mcp = _mara_url(base, sandbox)
    with httpx.Client(timeout=10) as client:
        assert _whoami(client, mcp).status_code == 200
        database.set_mode("refused")
        assert _whoami(client, mcp).status_code == 200  # served from the worker's principal
        answer, took = _timed(lambda: _call(client, mcp, "push_workout", _push("Refused while the journal is down")))
        database.set_mode("up")
    assert answer.status_code == 200
    result = answer.json()["result"]
    assert result["isError"] is True
    assert "Nothing was changed" in result["content"][0]["text"]
    assert took < BUDGET_SECONDS
    assert _events_named(sandbox, "Refused while the journal is down") == []


def test_a_write_that_outlives_the_database_is_journaled_when_it_returns(
    web_cached: tuple[str, Proc], database: FlakyProxy, sandbox: Sandbox
) -> None:
    """PostgreSQL goes away while Intervals.icu is writing: the answer still goes out, the pending row
    says the write started, and the completion (with its undo pre-image) lands once PostgreSQL is back."""
    import threading

    base, proc = web_cached
    mcp = _mara_url(base, sandbox)
    name = "Written across an outage"
    answers: list[httpx.Response] = []
    sandbox.state.faults.set(latency_ms=1500, path_contains="/events")
    try:
        with httpx.Client(timeout=20) as client:
            assert _whoami(client, mcp).status_code == 200
            call = threading.Thread(target=lambda: answers.append(_call(client, mcp, "push_workout", _push(name))))
            call.start()
            started = AccessLogEntry.objects.filter(tool="push_workout", outcome="pending")
            wait_for(started.exists, 5, "the pending row")
            database.set_mode("refused")
            call.join(timeout=20)
    finally:
        sandbox.state.faults.clear()
    assert answers and answers[0].status_code == 200, answers
    assert answers[0].json()["result"].get("isError") is not True
    assert len(_events_named(sandbox, name)) == 1
    row = AccessLogEntry.objects.get(tool="push_workout")
    assert row.outcome == "pending"  # what the athlete sees while the database is away: it may have happened
    database.set_mode("up")
    wait_for(lambda: AccessLogEntry.objects.get(pk=row.pk).outcome == "ok", 10, "the completed row", proc)
    row.refresh_from_db()
    assert row.write_kind == "event.create" and row.undoable
    assert "pending" not in proc.log().lower() or "completed after a database outage" in proc.log()
