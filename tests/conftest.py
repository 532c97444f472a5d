"""Shared fixtures: real servers on loopback ports, named people, the sandbox upstream.

The Intervals.icu sandbox runs under uvicorn on its own loopback port (a real HTTP upstream, so
timeouts and faults behave as on the wire); the product runs under uvicorn too, in a thread of this
process, so tests can look at the sandbox's counters and the database directly.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from django.conf import settings as dj_settings

from integrations.intervals.client import reset_breakers
from integrations.intervals.ratelimit import reset_limiter

MARA = "i100001"  # cyclist, Europe/Stockholm
DIEGO = "i100002"  # runner, America/Denver
AROHA = "i100003"  # triathlete, Pacific/Auckland
SAM = "i100004"  # coach who also trains, Europe/London
PASSWORD = "correct-horse-battery-42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn in a background thread, started and stopped cleanly."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Sandbox:
    state: Any
    url: str


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    from integrations.intervals.sandbox import SandboxConfig, SandboxState, create_app

    config = SandboxConfig(clients={"threshold-test": ("threshold-test-secret", None)})
    state = SandboxState(config)
    server = ServerThread(create_app(state=state)).start()
    yield Sandbox(state=state, url=server.url)
    server.stop()


@pytest.fixture(autouse=True)
def _upstream_settings(request: pytest.FixtureRequest, settings: Any) -> Iterator[None]:
    """Point the client seam at the sandbox; generous upstream budget unless a test sets its own."""
    settings.INTERVALS_CLIENT_ID = "threshold-test"
    settings.INTERVALS_CLIENT_SECRET = "threshold-test-secret"
    settings.INTERVALS_RATE_PER_SECOND = 1000.0
    settings.INTERVALS_RATE_BURST = 1000
    settings.INTERVALS_ATHLETE_RATE_PER_SECOND = 1000.0  # each athlete's share: off (tests/test_upstream_fairness.py)
    settings.INTERVALS_ATHLETE_BURST = 1000
    settings.MCP_TOKEN_CALLS_PER_MINUTE = 1_000_000
    settings.MCP_TOKEN_BURST = 100_000
    settings.INTERVALS_DEADLINE_SECONDS = 10.0
    sb = request.getfixturevalue("sandbox") if "sandbox" in request.fixturenames else None
    if sb is not None:
        settings.INTERVALS_BASE_URL = sb.url
        sb.state.faults.clear()
    reset_limiter()
    reset_breakers()
    yield
    reset_limiter()
    reset_breakers()
    if sb is not None:
        sb.state.faults.clear()  # also releases requests held by a "hang" fault


@pytest.fixture(scope="session", autouse=True)
def _clean_redis() -> Iterator[None]:
    """Tests share the machine's Redis (cache keys are prefixed per run): drop this run's keys after."""
    yield
    if dj_settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(dj_settings.REDIS_URL)
        prefix = dj_settings.CACHES["default"].get("KEY_PREFIX", "")
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


@pytest.fixture(autouse=True)
def _redis_circuit_closed() -> Iterator[None]:
    """A test that makes Redis fail (on purpose) opens this process's Redis circuit for a few seconds;
    the next test must not inherit that, or its cache and limits silently run in outage mode."""
    from config import redis_guard

    redis_guard.circuit.reset()
    yield
    redis_guard.circuit.reset()


@pytest.fixture
def product(sandbox: Sandbox, settings: Any, transactional_db: Any) -> Iterator[ServerThread]:
    """The whole product (Django + MCP) served by uvicorn on a loopback port."""
    from config.asgi import build_application

    port = free_port()
    settings.SITE_URL = f"http://127.0.0.1:{port}"
    settings.CSRF_TRUSTED_ORIGINS = [settings.SITE_URL]
    server = ServerThread(build_application(mount_sandbox=False), port=port).start()
    yield server
    server.stop()


def make_athlete(
    email: str, *, athlete_id: str | None, sandbox: Sandbox | None = None, scopes: str | None = None
) -> Any:
    """A verified user, optionally linked to a sandbox athlete with its demo token."""
    from allauth.account.models import EmailAddress

    from accounts.models import User
    from integrations.intervals.actions import link_intervals
    from integrations.intervals.schemas import OAuthAthlete, OAuthToken

    user = User.objects.create_user(email, PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    if athlete_id and sandbox is not None:
        athlete = sandbox.state.athletes[athlete_id]
        token = OAuthToken(
            access_token=sandbox.state.demo_token(athlete_id),
            scope=scopes or "ACTIVITY:WRITE,WELLNESS:WRITE,CALENDAR:WRITE,LIBRARY:WRITE,SETTINGS:WRITE,CHATS:WRITE",
            athlete=OAuthAthlete(id=athlete_id.removeprefix("i"), name=athlete.name),
        )
        link_intervals(user, token, timezone=athlete.timezone)
    return user


def inviting_athlete(email: str, athlete_id: str) -> Any:
    """A verified athlete with an Intervals.icu link (an invite needs one), linked without the sandbox:
    for tests that invite a coach and never call upstream."""
    from integrations.intervals.actions import link_intervals
    from integrations.intervals.schemas import OAuthAthlete, OAuthToken

    user = make_athlete(email, athlete_id=None)
    token = OAuthToken(
        access_token=f"offline-{athlete_id}",
        scope="ACTIVITY:READ,WELLNESS:READ,CALENDAR:READ",
        athlete=OAuthAthlete(id=athlete_id.removeprefix("i"), name=email.split("@")[0].title()),
    )
    link_intervals(user, token, timezone="Europe/Stockholm")
    return user


def mcp_url(server: ServerThread, user: Any) -> str:
    from accounts.actions import ensure_athlete_token, reveal_token

    row = ensure_athlete_token(user)
    assert row is not None
    return f"{server.url}/mcp/{reveal_token(row)}"


@pytest.fixture(scope="session", autouse=True)
def _release_stray_connections(request: pytest.FixtureRequest) -> Iterator[None]:
    """Async tests reach the ORM through helper threads whose connections nobody closes; end those
    sessions before the test database is dropped, so teardown never finds it "in use"."""
    if not request.config.pluginmanager.hasplugin("django"):
        yield  # the sandbox suite can run without Django
        return
    request.getfixturevalue("django_db_setup")
    blocker = request.getfixturevalue("django_db_blocker")
    yield
    from django.db import connection

    if connection.vendor != "postgresql" or not str(connection.settings_dict["NAME"]).startswith("test_"):
        return  # the test database is already gone (or was never made): nothing to release
    with blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
