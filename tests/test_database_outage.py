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
from tests.conftest import MARA, Sandbox, free_port, make_athlete
from tests.outage_helpers import FlakyProxy, Proc, stack_env, start_web, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET_SECONDS = 2.0


@pytest.fixture
def database() -> Iterator[FlakyProxy]:
    from django.conf import settings

    proxy = FlakyProxy(int(settings.DATABASES["default"]["PORT"] or 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def web(database: FlakyProxy, sandbox: Sandbox) -> Iterator[tuple[str, Proc]]:
    port = free_port()
    env = stack_env(
        DATABASE_URL=database.postgres_url(),
        INTERVALS_BASE_URL=sandbox.url,
        ALLOWED_HOSTS="127.0.0.1",
        # The principal is read from PostgreSQL on every request: what is measured is the database path.
        MCP_PRINCIPAL_CACHE_SECONDS="0",
    )
    proc = start_web(env, port)
    yield f"http://127.0.0.1:{port}", proc
    proc.stop()


def _whoami(client: httpx.Client, url: str) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    return client.post(url, json=body, headers=headers)


def _timed(call: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_it_answers_503_fast_while_the_database_is_down_and_recovers_within_2_s(
    web: tuple[str, Proc], database: FlakyProxy, sandbox: Sandbox
) -> None:
    base, proc = web
    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    token = ensure_athlete_token(mara)
    assert token is not None
    mcp = f"{base}/mcp/{reveal_token(token)}"
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
