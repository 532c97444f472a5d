"""Fairness of the shared Intervals.icu budget (issue #13): three noisy tokens flat out, one quiet tenant.

Run: BENCH_DATABASE_URL=postgres://… .venv/bin/python -m bench.fairness [--seconds 20] [--blocks 2]
     [--noisy-clients 8] [--latency-ms 50]

Two products side by side, one uvicorn process each, on the same database and sandbox: fairness on (each
athlete's share, INTERVALS_ATHLETE_RATE_PER_SECOND=4 burst 4, as deployed) and off (0: one first-come
queue, the limiter before issue #13). Both run the production budget: 10 upstream requests/s burst 5 for
the deployment, the per-token MCP limits as deployed (120 calls/min, burst 30), the shared read cache off
(every read goes upstream, as an attacker varying its windows makes it). The sandbox answers every request
after --latency-ms.

Blocks alternate off/on (so machine noise lands on both); the two products take turns, never at once. In
a block, three athletes' tokens call flat out, --noisy-clients sessions each (a call the token limit
refuses is retried after the wait it names, at most 1 s), each call a training summary or a fitness
projection of a fresh window (two upstream requests); a fourth athlete reads her training history (a fresh
window, one upstream request) one call at a time with a 200 ms pause, and her latencies are recorded
after the first 5 s of the block (the noisy tokens' bursts have queued by then). Between blocks every
call drains and the budget refills. Her latency alone (no noise) is measured first on each product.

Prints the quiet tenant's median and p95 per series and the ratios fairness on / off.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench._support import bench_env, median, percentile, setup_django, start_sandbox

WARMUP_S = 5.0
QUIET_PAUSE_S = 0.2


@dataclass
class Series:
    label: str
    latencies: list[float] = field(default_factory=list)
    noisy_calls: int = 0
    noisy_refused: int = 0


def product_env(sandbox_url: str, fairness: bool, share: str = "4", burst: str = "4") -> dict[str, str]:
    return bench_env(
        INTERVALS_BASE_URL=sandbox_url,
        INTERVALS_RATE_PER_SECOND="10",
        INTERVALS_RATE_BURST="5",
        INTERVALS_ATHLETE_RATE_PER_SECOND=share if fairness else "0",
        INTERVALS_ATHLETE_BURST=burst,
        MCP_TOKEN_CALLS_PER_MINUTE="120",
        MCP_TOKEN_BURST="30",
        INTERVALS_CACHE_SECONDS="0",
    )


def window(rng: random.Random, today: dt.date) -> dict[str, str]:
    end = today - dt.timedelta(days=rng.randrange(0, 300))
    return {"start": (end - dt.timedelta(days=rng.choice((6, 13, 27)))).isoformat(), "end": end.isoformat()}


def noisy_call(rng: random.Random, today: dt.date) -> tuple[str, dict[str, Any]]:
    if rng.random() < 0.5:
        return "get_training_summary", window(rng, today)
    ahead = (today + dt.timedelta(days=rng.randrange(7, 170))).isoformat()
    return "get_fitness", {"start": window(rng, today)["start"], "project_to": ahead}


async def noisy(url: str, stop_at: float, seed: int, series: Series) -> None:
    from mcp.client import Client

    rng = random.Random(seed)
    today = dt.date.today()
    async with Client(url, mode="legacy") as client:  # type: ignore[arg-type]
        while time.monotonic() < stop_at:
            tool, args = noisy_call(rng, today)
            result = await client.call_tool(tool, args)
            series.noisy_calls += 1
            text = str(getattr(result.content[0], "text", "")) if result.content else ""
            if result.is_error and "Too many calls" in text:
                series.noisy_refused += 1
                await asyncio.sleep(1.0)


async def quiet(url: str, stop_at: float, record_from: float, seed: int, series: Series) -> None:
    from mcp.client import Client

    rng = random.Random(seed)
    today = dt.date.today()
    async with Client(url, mode="legacy") as client:  # type: ignore[arg-type]
        while time.monotonic() < stop_at:
            started = time.monotonic()
            result = await client.call_tool("get_training_history", window(rng, today))
            if result.is_error:
                raise RuntimeError(f"the quiet tenant's read failed: {result.content}")
            if started >= record_from:
                series.latencies.append(time.monotonic() - started)
            await asyncio.sleep(QUIET_PAUSE_S)


async def block(base: str, tokens: dict[str, str], seconds: float, clients: int, series: Series, noise: bool) -> None:
    start = time.monotonic()
    stop_at = start + seconds
    jobs = []
    if noise:
        jobs = [
            noisy(f"{base}/mcp/{tokens[name]}", stop_at, hash((name, i, start)) & 0xFFFF, series)
            for name in ("noisy1", "noisy2", "noisy3")
            for i in range(clients)
        ]
    record_from = start + (WARMUP_S if noise else 1.0)
    await asyncio.gather(quiet(f"{base}/mcp/{tokens['quiet']}", stop_at, record_from, 1, series), *jobs)


def summary(series: Series) -> tuple[float, float]:
    return median(series.latencies) * 1000, percentile(series.latencies, 95) * 1000


def start_product(env: dict[str, str]) -> tuple[Any, str]:
    """One uvicorn process on a free port; (process, base URL) once the MCP gate answers."""
    import httpx

    from bench._support import free_port, start

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    proc = start([*cmd, "--log-level", "warning"], {**env, "SITE_URL": base})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.post(f"{base}/mcp/x", timeout=2).status_code == 404:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("the product did not start (see the log under the bench's temp dir)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--blocks", type=int, default=2, help="off/on pairs")
    parser.add_argument("--noisy-clients", type=int, default=8)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--share", default="4", help="INTERVALS_ATHLETE_RATE_PER_SECOND with fairness on")
    parser.add_argument("--share-burst", default="4", help="INTERVALS_ATHLETE_BURST with fairness on")
    opts = parser.parse_args(argv)

    sandbox, sandbox_url = start_sandbox(latency_ms=opts.latency_ms, extra_athletes=4)
    procs = [sandbox]
    try:
        setup_django(INTERVALS_BASE_URL=sandbox_url)
        import httpx

        from bench._support import athlete_token

        rows = [r for r in httpx.get(f"{sandbox_url}/_sandbox/athletes", timeout=60).json() if not r["coach"]]
        names = ("noisy1", "noisy2", "noisy3", "quiet")
        tokens = {
            n: athlete_token(sandbox_url, f"{n}@fairness.bench", r["id"])[1] for n, r in zip(names, rows, strict=False)
        }
        products = {}
        for label, on in (("off", False), ("on", True)):
            proc, base = start_product(product_env(sandbox_url, on, opts.share, opts.share_burst))
            procs.append(proc)
            products[label] = base

        alone = {label: Series(f"alone, fairness {label}") for label in products}
        loaded = {label: Series(f"3 noisy tokens, fairness {label}") for label in products}
        for label, base in products.items():
            asyncio.run(block(base, tokens, 8.0, 0, alone[label], noise=False))
        for n in range(opts.blocks):
            for label in ("off", "on"):
                print(f"block {n + 1}/{opts.blocks}: fairness {label}", flush=True)
                asyncio.run(block(products[label], tokens, opts.seconds, opts.noisy_clients, loaded[label], True))
                time.sleep(5.0)  # every waiting call has drained and the budget refilled: the next block starts even

        print()
        print(f"quiet tenant's read latency (get_training_history, one upstream request of {opts.latency_ms} ms)")
        for s in (*alone.values(), *loaded.values()):
            med, p95 = summary(s)
            extra = f"; noisy calls {s.noisy_calls} ({s.noisy_refused} refused by the token limit)"
            line = f"  {s.label:32s} n={len(s.latencies):4d}  median {med:7.0f} ms  p95 {p95:7.0f} ms"
            print(line + (extra if s.noisy_calls else ""))
        on_med, on_p95 = summary(loaded["on"])
        off_med, off_p95 = summary(loaded["off"])
        alone_med, alone_p95 = summary(alone["on"])
        print(f"fairness on / off under noise: median {on_med / off_med:.2f}x, p95 {on_p95 / off_p95:.2f}x")
        print(f"fairness on, under noise / alone: median {on_med / alone_med:.2f}x, p95 {on_p95 / alone_p95:.2f}x")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
