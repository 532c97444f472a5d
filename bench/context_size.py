"""How much of a model's context Threshold costs: the tools/list bytes, and answers vs raw upstream JSON.

Run: .venv/bin/python -m bench.context_size
Targets (issue #3): tools/list ≤ 24 KB in all, median tool ≤ 550 B, none over 3 KB (peers measured at
32-70 KB; TrainingPeaks MCP 58 KB for 85 tools); answers ≤ 15% of the raw upstream bytes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

from bench._support import athlete_token, median, setup_django, start_sandbox


def compact(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


async def tools_list_sizes() -> dict[str, int]:
    from mcpserver.server import build_mcp

    tools = await build_mcp().list_tools()
    return {t.name: compact(t.model_dump(by_alias=True, exclude_none=True, mode="json")) for t in tools}


async def answer_vs_raw(sandbox_url: str, token: str, principal: Any) -> list[tuple[str, int, int]]:
    import httpx

    from mcpserver.catalogue import REGISTRY, run_tool

    headers = {"Authorization": f"Bearer {token}"}
    athlete = principal.athletes[0].athlete_id
    end = date.today() - timedelta(days=1)
    cases: list[tuple[str, str, dict[str, Any], str, dict[str, Any]]] = [
        (
            "90-day history",
            "get_training_history",
            {"start": (end - timedelta(days=89)).isoformat(), "end": end.isoformat()},
            f"/api/v1/athlete/{athlete}/activities",
            {"oldest": (end - timedelta(days=89)).isoformat(), "newest": end.isoformat() + "T23:59:59"},
        ),
        (
            "wellness month",
            "get_wellness",
            {"start": (end - timedelta(days=29)).isoformat(), "end": end.isoformat()},
            f"/api/v1/athlete/{athlete}/wellness",
            {"oldest": (end - timedelta(days=29)).isoformat(), "newest": end.isoformat()},
        ),
    ]
    results = []
    async with httpx.AsyncClient(base_url=sandbox_url, headers=headers) as http:
        activities = (await http.get(cases[0][3], params=cases[0][4])).json()
        real = [a for a in activities if a.get("source") != "STRAVA"]
        if real:
            aid = real[0]["id"]
            cases.append(
                (
                    "activity detail",
                    "get_activity_detail",
                    {"activity_id": aid},
                    f"/api/v1/activity/{aid}",
                    {"intervals": "true"},
                )
            )
        for label, tool, args, path, params in cases:
            if tool not in REGISTRY:
                results.append((label + f" ({tool} not built yet)", 0, 0))
                continue
            raw = len((await http.get(path, params=params)).content)
            result = await run_tool(REGISTRY[tool], principal, args)
            ours = compact(result.structured_content) + sum(compact(c.model_dump(mode="json")) for c in result.content)
            results.append((label, ours, raw))
    return results


def main() -> None:
    setup_django()
    sandbox, url = start_sandbox()
    try:
        import os

        os.environ["INTERVALS_BASE_URL"] = url
        from django.conf import settings

        settings.INTERVALS_BASE_URL = url
        from mcpserver.principal import load_principal

        _, token, mara = athlete_token(url, "bench@example.com")
        principal = load_principal(token)

        sizes = asyncio.run(tools_list_sizes())
        total = compact({"tools": [None] * 0}) + sum(sizes.values()) + len(sizes) - 1
        print("tools/list (compact JSON, input + output schemas included)")
        for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<28} {size:>6} B")
        med, biggest = median([float(v) for v in sizes.values()]), max(sizes.values())
        print(
            f"  total {total} B for {len(sizes)} tools (target ≤ 24576)   median {med:.0f} B (≤ 550)   "
            f"largest {biggest} B (≤ 3072)"
        )
        print("  peers: 32-70 KB; TrainingPeaks MCP 58 KB for 85 tools (≈ 690 B/tool)")
        print("answers vs raw upstream JSON (structuredContent + text)")
        for label, ours, raw in asyncio.run(answer_vs_raw(url, mara["demo_token"], principal)):
            if raw:
                print(f"  {label:<22} ours {ours:>7} B   raw {raw:>8} B   ratio {ours / raw:6.1%} (target ≤ 15%)")
            else:
                print(f"  {label}")
    finally:
        sandbox.terminate()


if __name__ == "__main__":
    main()
