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
from pathlib import Path
from typing import Any

import httpx

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


async def measure(
    url: str, tool: str, args: dict[str, Any], calls: int, concurrent_calls: int, server_pid: int
) -> dict[str, float]:
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        for i in range(20):  # warm up connections, caches, lazy imports
            await one(http, url, i, tool, args)
        cpu_before = cpu_seconds(server_pid)
        sequential = [await one(http, url, i, tool, args) for i in range(calls)]
        queue = list(range(concurrent_calls))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                await one(http, url, i, tool, args)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(16)))
        wall = time.perf_counter() - started
        cpu = cpu_seconds(server_pid) - cpu_before
    return {
        # Server CPU per call does not depend on what else the machine is doing: the steadiest figure.
        "cpu_ms": cpu / (calls + concurrent_calls) * 1000,
        "p50_ms": median(sequential) * 1000,
        "p95_ms": percentile(sequential, 95) * 1000,
        "rps_1": 1 / median(sequential),
        "rps_16": concurrent_calls / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrent-calls", type=int, default=400)
    opts = parser.parse_args()

    sandbox, sandbox_url = start_sandbox(latency_ms=0)
    processes = [sandbox]
    try:
        setup_django(INTERVALS_BASE_URL=sandbox_url)
        _, token, _ = athlete_token(sandbox_url, "bench@example.com")

        ours_port, cold_port, bare_port = free_port(), free_port(), free_port()
        env = bench_env(INTERVALS_BASE_URL=sandbox_url, SITE_URL=f"http://127.0.0.1:{ours_port}")
        uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--log-level", "warning"]
        ours_proc = start([*uvicorn, "--port", str(ours_port), "config.asgi:application"], env)
        # The same product with the read cache off: every call goes the whole way to the sandbox.
        cold_proc = start(
            [*uvicorn, "--port", str(cold_port), "config.asgi:application"], {**env, "INTERVALS_CACHE_SECONDS": "0"}
        )
        bare_proc = start([*uvicorn, "--port", str(bare_port), "bench.bare_server:app"], env)
        processes += [ours_proc, cold_proc, bare_proc]
        ours_url = f"http://127.0.0.1:{ours_port}/mcp/{token}"
        cold_url = f"http://127.0.0.1:{cold_port}/mcp/{token}"
        bare_url = f"http://127.0.0.1:{bare_port}/mcp/"
        for url in (ours_url, cold_url, bare_url):
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.post(url, content=b"{}", headers=HEADERS, timeout=2)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

        history: dict[str, Any] = {}  # the default window: the last 28 days
        n, c = opts.calls, opts.concurrent_calls
        bare = asyncio.run(measure(bare_url, "echo", {"text": "hello"}, n, c, bare_proc.pid))
        ours = asyncio.run(measure(ours_url, "get_training_history", history, n, c, ours_proc.pid))
        cold = asyncio.run(measure(cold_url, "get_training_history", history, n, c, cold_proc.pid))
        # whoami makes no upstream call: it isolates Threshold's own per-call cost (gate, principal, log).
        who = asyncio.run(measure(ours_url, "whoami", {}, n, c, ours_proc.pid))
        print(f"{'':<32}{'p50 ms':>9}{'p95 ms':>9}{'req/s @1':>10}{'req/s @16':>11}{'CPU ms/call':>13}")
        rows = (
            ("bare SDK echo", bare),
            ("get_training_history", ours),
            ("  (read cache off: upstream)", cold),
            ("whoami (no upstream)", who),
        )
        for label, r in rows:
            print(
                f"{label:<32}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['rps_1']:>10.1f}{r['rps_16']:>11.1f}"
                f"{r['cpu_ms']:>13.2f}"
            )
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


if __name__ == "__main__":
    main()
