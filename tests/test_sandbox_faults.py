"""Fault knobs and request accounting (in Python and over the /_sandbox admin routes)."""

from __future__ import annotations

import threading
import time

import anyio
import httpx
import pytest
import uvicorn
from sandbox_conftest_helpers import (  # noqa: F401
    MARA,
    _clean_redis,
    _upstream_settings,
    anyio_backend,
    bearer,
    client,
    new_state,
)

from integrations.intervals.sandbox import create_app

pytestmark = pytest.mark.anyio


async def test_429_with_retry_after_n_times_then_ok() -> None:
    st = new_state()
    h = bearer(st.demo_token(MARA))
    st.faults.set(status=429, retry_after=3, times=2)
    async with client(st) as c:
        for _ in range(2):
            r = await c.get("/api/v1/athlete/0/connections", headers=h)
            assert r.status_code == 429 and r.headers["Retry-After"] == "3"
            assert r.json() == {"status": 429, "error": "Too Many Requests"}
        assert (await c.get("/api/v1/athlete/0/connections", headers=h)).status_code == 200
    assert st.request_count == 3
    assert [r[4] for r in st.requests] == [429, 429, 200]
    assert st.requests[-1] == ("GET", "/api/v1/athlete/0/connections", "bearer", MARA, 200)


async def test_500_path_filter_latency_and_counters_over_http() -> None:
    st = new_state()
    h = bearer(st.demo_token(MARA))
    async with client(st) as c:
        r = await c.post("/_sandbox/faults", json={"status": 500, "path_contains": "/wellness"})
        assert r.status_code == 200
        assert (await c.get("/api/v1/athlete/0/wellness", headers=h)).json() == {
            "status": 500,
            "error": "Internal Server Error",
        }
        assert (await c.get("/api/v1/athlete/0/connections", headers=h)).status_code == 200
        await c.delete("/_sandbox/faults")
        assert (await c.get("/api/v1/athlete/0/wellness", headers=h)).status_code == 200
        await c.post("/_sandbox/faults", json={"latency_ms": 150})
        t0 = time.perf_counter()
        await c.get("/api/v1/athlete/0/connections", headers=h)
        assert time.perf_counter() - t0 >= 0.14
        stats = (await c.get("/_sandbox/stats")).json()
        assert stats["request_count"] == 4 and stats["by_status"] == {"500": 1, "200": 3}
        assert stats["faults"]["latency_ms"] == 150
        await c.post("/_sandbox/reset-counters")
        assert (await c.get("/_sandbox/stats")).json()["request_count"] == 0
        assert (await c.post("/_sandbox/faults", json={"bogus": 1})).status_code == 422
    assert st.request_count == 0


async def test_hang_is_cancellable() -> None:
    st = new_state()
    st.faults.set(hang=True, times=1)
    async with client(st) as c:
        t0 = time.perf_counter()
        with anyio.move_on_after(0.3) as scope:  # ASGITransport ignores timeouts: cancel like a client would
            await c.get("/api/v1/athlete/0/connections", headers=bearer(st.demo_token(MARA)))
        assert scope.cancelled_caught and time.perf_counter() - t0 < 2
        assert (await c.get("/api/v1/athlete/0/connections", headers=bearer(st.demo_token(MARA)))).status_code == 200


def test_hang_over_real_server_shuts_down_cleanly() -> None:
    st = new_state()
    server = uvicorn.Server(
        uvicorn.Config(create_app(st), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    st.faults.set(hang=True)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/athlete/0", headers=bearer(st.demo_token(MARA)), timeout=0.3)
    st.faults.clear()
    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/athlete/0/connections", headers=bearer(st.demo_token(MARA)))
    assert r.status_code == 200
    server.should_exit = True
    thread.join(timeout=5)
    assert not thread.is_alive()
