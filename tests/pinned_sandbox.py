"""A sandbox anchored on a fixed day, with the product's clock pinned to it (issue #14: tests that depend on
"today" pin it). On Thu 2026-03-12 (13:00 in Stockholm) Mara has:

* a Strava import on Wed 2026-03-11 (the API shows five keys: no type, no load, no pairing) done for the
  planned "Endurance ride" of that day, which Intervals.icu paired and counts in her fitness;
* a planned "Tempo 2x20" today, not done yet, whose load Intervals.icu's own fitness line already counts
  (the wellness row of today has ctlLoad 76 = that workout's planned load);
* a VirtualRide on Thu 2026-03-05, exactly 7 days ago.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from integrations.intervals.sandbox import SandboxConfig, SandboxState, create_app
from mcpserver import present
from tests.conftest import Sandbox, ServerThread

TODAY = date(2026, 3, 12)
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
STRAVA_DAY = date(2026, 3, 11)


def start() -> tuple[Sandbox, ServerThread]:
    state = SandboxState(SandboxConfig(clients={"threshold-test": ("threshold-test-secret", None)}, today=TODAY))
    server = ServerThread(create_app(state=state)).start()
    return Sandbox(state=state, url=server.url), server


def aim(pinned: Sandbox, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the product at the pinned sandbox and pin its clock to NOW."""
    settings.INTERVALS_BASE_URL = pinned.url
    real_local_today = present.local_today
    monkeypatch.setattr(present, "local_today", lambda tz, now=None: real_local_today(tz, now or NOW))


@pytest.fixture(scope="module")
def pinned() -> Iterator[Sandbox]:
    """The pinned sandbox for one test module (import this fixture by name)."""
    sandbox, server = start()
    yield sandbox
    server.stop()
