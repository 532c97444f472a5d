"""roster_digest over 50 sandbox athletes at 100 ms upstream latency, paced by the deployment-wide limiter.

Run: .venv/bin/python -m bench.roster
Prints: wall time, upstream calls, the ideal time (calls / rate), their ratio (target <= 1.1x), the busiest
1-second window of upstream requests (GCRA bound: burst + rate per second), the digest's size, and the
upstream calls of a repeat digest within the cache TTL as % of the first (target <= 10%).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from bench._support import setup_django, start_sandbox

ATHLETES = 50
LATENCY_MS = 100
RATE = 10
BURST = 5  # the deployment default (settings.INTERVALS_RATE_BURST)


def make_coach(sandbox_url: str) -> str:
    """50 linked athletes (demo tokens), each granting every read tool to one coach token; its raw token."""
    import httpx
    from django.db import transaction
    from django.utils import timezone

    from accounts.actions import reveal_token
    from bench._support import linked_user
    from coaching.actions import ensure_coach_token, grantable_tools
    from coaching.models import CoachGrant

    rows = httpx.get(f"{sandbox_url}/_sandbox/athletes", timeout=30).json()
    coached = [r for r in rows if not r["coach"]][: ATHLETES + 3][-ATHLETES:]  # the extra athletes
    tools = grantable_tools()["read"]
    now = timezone.now()  # the coach accepted these invites (a pending one reaches nothing)
    with transaction.atomic():
        token, _ = ensure_coach_token("coach@bench.threshold.local")
        for r in coached:
            user = linked_user(f"{r['id']}@bench.threshold.local", r["id"], r["name"], r["timezone"], r["demo_token"])
            CoachGrant.objects.update_or_create(
                athlete=user,
                coach_email="coach@bench.threshold.local",
                revoked_at=None,
                defaults={"coach_token": token, "tools": tools, "accepted_at": now},
            )
    return reveal_token(token)


def busiest_window(stamps: list[float], width: float = 1.0) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(stamps):
        while t - stamps[lo] >= width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def run(raw_token: str) -> dict[str, Any]:
    import httpx
    from asgiref.sync import sync_to_async
    from django.conf import settings

    from integrations.intervals import client as client_mod
    from mcpserver.catalogue import REGISTRY, run_tool
    from mcpserver.principal import load_principal

    stamps: list[float] = []

    async def hook(request: httpx.Request) -> None:
        stamps.append(time.monotonic())

    loop = asyncio.get_running_loop()
    client_mod._http_clients[loop] = httpx.AsyncClient(
        headers={"User-Agent": f"Threshold/0.1 (+{settings.SITE_URL})", "Accept": "application/json"},
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        event_hooks={"request": [hook]},
    )
    spec = REGISTRY["roster_digest"]

    async def digest() -> tuple[float, int, int, str]:
        principal = await sync_to_async(load_principal)(raw_token)
        assert principal is not None and len(principal.athletes) == ATHLETES, "coach roster not set up"
        before = len(stamps)
        started = time.monotonic()
        result = await run_tool(spec, principal, {})
        wall = time.monotonic() - started
        assert not result.is_error, result.content
        size = len(json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False).encode())
        if "--dump" in sys.argv:
            print(json.dumps(result.structured_content, indent=1, ensure_ascii=False)[:6000])
        return wall, len(stamps) - before, size, result.content[0].text  # type: ignore[union-attr]

    wall, calls, size, text = await digest()
    first_stamps = list(stamps)
    wall2, calls2, _, _ = await digest()
    return {
        "wall": wall,
        "calls": calls,
        "size": size,
        "text": text,
        "window": busiest_window(first_stamps),
        "repeat_wall": wall2,
        "repeat_calls": calls2,
    }


def main() -> int:
    setup_django(INTERVALS_RATE_PER_SECOND=str(RATE), INTERVALS_RATE_BURST=str(BURST), INTERVALS_CACHE_SECONDS="300")
    proc, url = start_sandbox(latency_ms=LATENCY_MS, extra_athletes=ATHLETES)
    try:
        from django.conf import settings

        settings.INTERVALS_BASE_URL = url
        raw = make_coach(url)
        r = asyncio.run(run(raw))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    ideal = r["calls"] / RATE
    ratio = r["wall"] / ideal if ideal else 0.0
    repeat_pct = 100.0 * r["repeat_calls"] / r["calls"] if r["calls"] else 0.0
    print(f"roster_digest, {ATHLETES} athletes, {LATENCY_MS} ms upstream latency, limiter {RATE}/s burst {BURST}")
    print(f"  wall time           {r['wall']:.2f} s")
    print(f"  upstream calls      {r['calls']}")
    print(f"  ideal (calls/{RATE}/s)  {ideal:.2f} s")
    print(f"  ratio               {ratio:.2f}x   (target <= 1.10x)  {'OK' if ratio <= 1.1 else 'MISSED'}")
    bound = RATE + BURST
    print(f"  busiest 1 s window  {r['window']} requests (limiter bound: burst {BURST} + {RATE}/s = {bound})")
    print(f"  digest size         {r['size']} bytes ({r['size'] / ATHLETES:.0f} B per athlete; target < 12 KB)")
    print(
        f"  repeat digest       {r['repeat_calls']} upstream calls = {repeat_pct:.1f}% of the first "
        f"(target <= 10%), {r['repeat_wall']:.2f} s"
    )
    print(f"  answer text         {r['text'][:160]}")
    ok = ratio <= 1.1 and r["window"] <= bound and repeat_pct <= 10 and r["size"] < 12 * 1024
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
