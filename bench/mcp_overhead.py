"""Per-call latency and throughput of get_training_history through the whole product, against a bare
`mcp` SDK stateless server with an echo tool, in one run. Prints figures and ratios.

Run: .venv/bin/python -m bench.mcp_overhead [--calls 200] [--concurrent-calls 400]
Target (issue #3): latency ≤ 1.2x the bare server, throughput ≥ 0.8x. The sandbox answers with zero added
latency; both servers run as one uvicorn worker on loopback; the load generator shares the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from bench._support import athlete_token, bench_env, free_port, median, percentile, setup_django, start, start_sandbox

HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}


def call_body(i: int, tool: str, args: dict[str, Any]) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    ).encode()


async def one(http: httpx.AsyncClient, url: str, i: int, tool: str, args: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = await http.post(url, content=call_body(i, tool, args), headers=HEADERS)
    elapsed = time.perf_counter() - started
    body = response.json()
    if response.status_code != 200 or body.get("result", {}).get("isError"):
        raise RuntimeError(f"call failed: {response.status_code} {str(body)[:300]}")
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (and its threads) has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    """One measured series: a tool on a server process of its own (so its CPU time is its own)."""

    label: str
    url: str
    tool: str
    args: dict[str, Any]
    pid: int
    sequential: list[float] = field(default_factory=list)
    wall_16: float = 0.0
    calls_16: int = 0
    cpu: float = 0.0


async def measure(targets: list[Target], calls: int, concurrent_calls: int, blocks: int) -> None:
    """Interleaved, so every series sees the same machine: both phases run in short blocks per target, the
    order rotating from block to block. On this noisy 2-core machine, measuring one series after the other
    let a background burst land on one series only. (Alternating every single call instead would measure
    cold CPU caches: each call would follow another process's.)"""
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        for t in targets:
            for i in range(20):  # warm up connections, caches, lazy imports
                await one(http, t.url, i, t.tool, t.args)
        cpu_before = {t.label: cpu_seconds(t.pid) for t in targets}
        for b in range(blocks):
            shift = b % len(targets)
            for t in targets[shift:] + targets[:shift]:
                for i in range(max(1, calls // blocks)):
                    t.sequential.append(await one(http, t.url, i, t.tool, t.args))
        per_block = max(16, concurrent_calls // blocks)
        for b in range(blocks):
            order = targets if b % 2 == 0 else targets[::-1]
            for t in order:
                queue = list(range(per_block))

                async def worker(t: Target = t, queue: list[int] = queue) -> None:
                    while queue:
                        i = queue.pop()
                        await one(http, t.url, i, t.tool, t.args)

                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(16)))
                t.wall_16 += time.perf_counter() - started
                t.calls_16 += per_block
        for t in targets:
            t.cpu = cpu_seconds(t.pid) - cpu_before[t.label]


def figures(t: Target) -> dict[str, float]:
    return {
        # Server CPU per call does not depend on what else the machine is doing: the steadiest figure.
        "cpu_ms": t.cpu / (len(t.sequential) + t.calls_16) * 1000,
        "p50_ms": median(t.sequential) * 1000,
        "p95_ms": percentile(t.sequential, 95) * 1000,
        "rps_1": 1 / median(t.sequential),
        "rps_16": t.calls_16 / t.wall_16,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrent-calls", type=int, default=400)
    parser.add_argument("--blocks", type=int, default=10, help="blocks per target and phase, interleaved")
    parser.add_argument(
        "--side-by-side",
        metavar="TREE",
        help="also serve get_training_history and whoami from another checkout (e.g. a git worktree of an "
        "older commit, sharing this database) and print the two side by side",
    )
    opts = parser.parse_args()

    sandbox, sandbox_url = start_sandbox(latency_ms=0)
    processes = [sandbox]
    try:
        setup_django(INTERVALS_BASE_URL=sandbox_url)
        _, token, _ = athlete_token(sandbox_url, "bench@example.com")
        env = bench_env(INTERVALS_BASE_URL=sandbox_url)
        uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--log-level", "warning"]
        redis_db = 0

        def serve(
            label: str, tool: str, args: dict[str, Any], app: str = "config.asgi:application", **extra: str
        ) -> Target:
            """One server process for one series, on its own Redis database (no shared counters or cache)."""
            nonlocal redis_db
            port = free_port()
            redis_db += 1
            base, _, db = env["REDIS_URL"].rpartition("/")
            own = {**env, "SITE_URL": f"http://127.0.0.1:{port}", "REDIS_URL": f"{base}/{(int(db) + redis_db) % 16}"}
            redis.Redis.from_url(own["REDIS_URL"]).flushdb()
            cwd = extra.pop("cwd", None)
            proc = start([*uvicorn, "--port", str(port), app], {**own, **extra}, cwd=cwd)
            processes.append(proc)
            path = "/mcp/" if app.startswith("bench.") else f"/mcp/{token}"
            return Target(label, f"http://127.0.0.1:{port}{path}", tool, args, proc.pid)

        history: dict[str, Any] = {}  # the default window: the last 28 days
        targets = [
            serve("bare SDK echo", "echo", {"text": "hello"}, app="bench.bare_server:app"),
            serve("get_training_history", "get_training_history", history),
            # The same product with the read cache off: every call goes the whole way to the sandbox.
            serve("  (read cache off: upstream)", "get_training_history", history, INTERVALS_CACHE_SECONDS="0"),
            # whoami makes no upstream call: it isolates Threshold's own per-call cost (gate, principal, log).
            serve("whoami (no upstream)", "whoami", {}),
        ]
        if opts.side_by_side:
            tree = str(Path(opts.side_by_side).resolve())
            targets += [
                serve("get_training_history (other tree)", "get_training_history", history, cwd=tree),
                serve("whoami (other tree)", "whoami", {}, cwd=tree),
            ]
        for t in targets:
            wait_mcp(t.url)
        asyncio.run(measure(targets, opts.calls, opts.concurrent_calls, opts.blocks))

        print(f"{'':<36}{'p50 ms':>9}{'p95 ms':>9}{'req/s @1':>10}{'req/s @16':>11}{'CPU ms/call':>13}")
        rows = {t.label: figures(t) for t in targets}
        for label, r in rows.items():
            print(
                f"{label:<36}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['rps_1']:>10.1f}{r['rps_16']:>11.1f}"
                f"{r['cpu_ms']:>13.2f}"
            )
        bare, ours, cold, who = (rows[t.label] for t in targets[:4])
        cold_ratio = cold["p50_ms"] / bare["p50_ms"]
        print(f"latency ratio (p50)    {ours['p50_ms'] / bare['p50_ms']:.2f}x   (≤ 1.2x; cache off {cold_ratio:.2f}x)")
        print(f"throughput ratio @1    {ours['rps_1'] / bare['rps_1']:.2f}x   (target ≥ 0.8x)")
        print(f"throughput ratio @16   {ours['rps_16'] / bare['rps_16']:.2f}x   (target ≥ 0.8x)")
        print(f"server CPU per call    {ours['cpu_ms'] / bare['cpu_ms']:.2f}x   (get_training_history vs echo)")
        print(f"whoami vs echo (p50)   {who['p50_ms'] / bare['p50_ms']:.2f}x   (Threshold's own cost, no upstream)")
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(timeout=20)


def wait_mcp(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.post(url, content=b"{}", headers=HEADERS, timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
