"""Shared helpers/fixtures for the sandbox tests (tests/test_sandbox_*.py).

Import the fixtures into a test module with
``from sandbox_conftest_helpers import _clean_redis, _upstream_settings, anyio_backend  # noqa: F401``.
The two underscore fixtures override the project conftest's Django/Redis autouse fixtures, so the sandbox
suite runs standalone (``-p no:django``): the sandbox never needs Django.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integrations.intervals.sandbox import SandboxConfig, SandboxState, create_app

TODAY = dt.date(2026, 3, 10)
MARA, DIEGO, AROHA, SAM = "i100001", "i100002", "i100003", "i100004"
BASE = "http://sandbox.test"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _upstream_settings() -> Iterator[None]:
    yield


@pytest.fixture(scope="session", autouse=True)
def _clean_redis() -> None:
    return None


def new_state(**kw: Any) -> SandboxState:
    kw.setdefault("today", TODAY)
    return SandboxState(SandboxConfig(**kw))


@functools.lru_cache(maxsize=1)
def shared_state() -> SandboxState:
    """A read-mostly state shared by tests that do not mutate data (saves generation time)."""
    return new_state()


def client(state: SandboxState, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state)), base_url=BASE, **kw)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_key(state: SandboxState, athlete_id: str) -> dict[str, str]:
    raw = base64.b64encode(f"API_KEY:{state.api_key(athlete_id)}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}
