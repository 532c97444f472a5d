"""Malformed and mistyped JSON-RPC against a real MCP URL: zero 5xx, zero tools run for invalid input.

Run: .venv/bin/python -m bench.fuzz [--bodies 10000]   (the fast part runs in tests/test_mcp_fuzz.py)
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator

HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}

_VALUES: list[object] = [None, True, 0, -1, 1.5, 1e308, "", "x" * 5000, [], {}, [1, "a"], {"a": {"b": []}}, "\u0000"]


def _deep(depth: int) -> object:
    node: object = 1
    for _ in range(depth):
        node = [node] if depth % 2 else {"a": node}
    return node


def deep_bodies(depth: int) -> Iterator[bytes]:
    """tools/call bodies whose arguments nest `depth` deep, as arrays and as objects, written out directly
    (json.dumps itself recurses): every JSON parser on the way must refuse them, never crash on them."""
    head = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": '
    yield head + b"[" * depth + b"1" + b"]" * depth + b"}}"
    yield head + b'{"a": ' * depth + b"1" + b"}" * depth + b"}}"


def bodies(count: int, seed: int = 7) -> Iterator[bytes]:
    """Deterministic invalid bodies: broken bytes, wrong types, batches, deep nesting, unknown methods and
    tool calls whose arguments do not match the tool's schema."""
    import mcpserver.tools  # noqa: F401  (registers the catalogue; needs Django set up)
    from mcpserver.catalogue import REGISTRY

    rng = random.Random(seed)
    tools = sorted(REGISTRY)
    for i in range(count):
        kind = i % 9
        if kind == 0:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))  # random / invalid UTF-8
        elif kind == 1:
            yield b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ' + b"{" * rng.randrange(1, 50)
        elif kind == 2:
            yield json.dumps([{"jsonrpc": "2.0", "id": n, "method": "tools/list"} for n in range(3)]).encode()
        elif kind == 3:
            yield json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": _deep(300)}).encode()
        elif kind == 4:
            yield json.dumps({"jsonrpc": "2.0", "id": 1, "method": rng.choice(["nope", "", "tools/nope", 7])}).encode()
        elif kind == 5:
            yield json.dumps(
                {"jsonrpc": rng.choice(["1.0", 2, None]), "id": rng.choice(_VALUES), "method": "ping"}
            ).encode()
        elif kind == 6:
            yield json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": rng.choice(_VALUES)}
            ).encode()
        elif kind == 7:
            # Arguments no tool accepts (not {} or null: those are valid for argument-free tools).
            name = rng.choice([*tools, "", "x" * 300, 3])
            arguments = rng.choice([[], 1, "x", [1, "a"], {"zzz": 1}, {"a": {"b": []}}, "\u0000"])
            params = {"name": name, "arguments": arguments}
            yield json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}).encode()
        else:
            # A real tool with arguments of the wrong types (never valid for any tool's schema).
            name = rng.choice(tools)
            args = {"start": rng.choice([1, [], {}, "not-a-date"]), "athlete": rng.choice([1, [], {}]), "zzz": 1}
            yield json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": args}}
            ).encode()


def main() -> None:
    import sys
    import time

    import httpx

    from bench._support import athlete_token, bench_env, free_port, setup_django, start, start_sandbox

    parser = argparse.ArgumentParser()
    parser.add_argument("--bodies", type=int, default=10_000)
    opts = parser.parse_args()
    sandbox, sandbox_url = start_sandbox()
    procs = [sandbox]
    try:
        setup_django(INTERVALS_BASE_URL=sandbox_url)
        from coaching.models import AccessLogEntry

        _, token, _ = athlete_token(sandbox_url, "fuzz@example.com")
        port = free_port()
        env = bench_env(INTERVALS_BASE_URL=sandbox_url, SITE_URL=f"http://127.0.0.1:{port}")
        procs.append(
            start(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "config.asgi:application",
                ],
                env,
            )
        )
        url = f"http://127.0.0.1:{port}/mcp/{token}"
        for _ in range(100):
            try:
                httpx.post(url, content=b"{}", headers=HEADERS, timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        upstream_before = httpx.get(sandbox_url + "/_sandbox/stats").json()["request_count"]
        statuses: dict[int, int] = {}
        started = time.monotonic()
        with httpx.Client(timeout=30) as http:
            for body in bodies(opts.bodies):
                status = http.post(url, content=body, headers=HEADERS).status_code
                statuses[status] = statuses.get(status, 0) + 1
        upstream_after = httpx.get(sandbox_url + "/_sandbox/stats").json()["request_count"]
        time.sleep(1.0)  # read calls reach the access log in batches (MCP_READ_LOG_FLUSH_SECONDS)
        ran = AccessLogEntry.objects.filter(outcome="ok").count()
        print(f"{opts.bodies} bodies in {time.monotonic() - started:.1f} s; statuses {dict(sorted(statuses.items()))}")
        print(
            f"5xx: {sum(v for k, v in statuses.items() if k >= 500)}   tools run: {ran}   "
            f"upstream calls: {upstream_after - upstream_before}"
        )
    finally:
        for p in procs:
            p.terminate()


if __name__ == "__main__":
    main()
