"""Load proof (issue #6): many concurrent MCP clients for minutes against the production-shape stack.

Run: .venv/bin/python -m bench.load [--clients 50] [--seconds 600] [--workers 3] [--latency-ms 100]
     [--coaches 4] [--pool-max 10] [--think-ms 0] [--warmup S] [--seed 6]

The stack: the Intervals.icu sandbox in its own process with --latency-ms on every upstream request;
the product under `uvicorn config.asgi:application --workers N` with DEBUG=0, PostgreSQL
(BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/threshold_bench, created if missing; the
psycopg pool at DB_POOL_MAX_SIZE per worker), Redis (the upstream limiter, the shared read cache, the
token cache). The per-token MCP limits are off and the upstream limiter runs through Redis with a rate
that never throttles, as in the other benches: this measures Threshold, not the budgets.

The clients: each holds its own token, one session with the official `mcp` client over HTTP (stateless
Streamable HTTP, JSON answers) and one call in flight, calling a weighted mix of read tools with varied
date windows (fresh upstream reads) and default windows (shared read-cache hits), plus a few
`push_workout` dry runs. `--coaches` of them hold a coach token over athletes no other client touches.

Upstream time, and so overhead, is measured, not estimated: the sandbox runs here behind a thin ASGI
wrapper (`SpanRecorder`) that stamps each upstream request's start and end on CLOCK_MONOTONIC, which every
process on the machine shares, with the athlete whose credential made it. Each client owns its athletes
exclusively and has one call in flight, so a call's upstream time is the union of its athletes' request
intervals inside that call's HTTP window (parallel upstream requests count once; a call served from the
read cache counts zero). Overhead = HTTP time (request sent to response headers, seen from the client)
minus upstream time: everything Threshold adds (gate, principal, Redis round trips, ORM and access log,
rendering, waiting for a worker on this machine) plus the loopback hops. A same-run baseline of direct
sandbox calls was the alternative; it would have to replicate each tool's upstream fan-out and ordering.

Latency figures count the calls after the warm-up (default: a fifth of the run, at most 60 s); failures
count over the whole run. Also watched: PostgreSQL sessions on the database, every second
(`pg_stat_activity`), against the bound workers x pool max + the sessions that were there before the
workers started (the bench's own); each worker's RSS (/proc/<pid>/status) after the warm-up and at the end;
CPU of the workers, the sandbox, the load generator and the whole machine (shared with other users, so
latency and overhead include queueing for a core). A ten-slice timeline shows whether anything degrades.
Exit status 1 on any 5xx, any failed call, no calls at all, sessions above the bound, or a worker that
died or was replaced; the figures are printed either way.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench._support import free_port, percentile, start, wait_http

APP_NAME = "threshold-load"  # PGAPPNAME of the workers' sessions, to tell them apart in pg_stat_activity
SPANS_PATH = "/_load/spans"
COACHED_PER_COACH = 3


# --- the sandbox, timed -------------------------------------------------------------------------------
class SpanRecorder:
    """ASGI wrapper around the sandbox: records (athlete, start, end, status) of every `/api/` request.

    `GET /_load/spans?since=N` returns the records from index N on. The athlete is the one the sandbox
    authenticated (its middleware leaves it in `scope["sandbox.auth"]`), so activity paths that carry no
    athlete id are attributed too.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.spans: list[tuple[str | None, float, float, int]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == SPANS_PATH:
            query = dict(p.split("=", 1) for p in scope.get("query_string", b"").decode().split("&") if "=" in p)
            body = json.dumps(self.spans[int(query.get("since", "0")) :]).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        status = {"code": 0}

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        started = time.monotonic()
        try:
            await self.app(scope, receive, send_status)
        finally:
            athlete = (scope.get("sandbox.auth") or {}).get("athlete")
            self.spans.append((athlete, started, time.monotonic(), status["code"]))


def serve_timed_sandbox(port: int, latency_ms: int, extra_athletes: int) -> None:
    """The sandbox as `python -m integrations.intervals.sandbox --warm` serves it, behind `SpanRecorder`."""
    import uvicorn

    from integrations.intervals.sandbox.app import create_app
    from integrations.intervals.sandbox.config import SandboxConfig
    from integrations.intervals.sandbox.state import SandboxState

    state = SandboxState(SandboxConfig(extra_athletes=extra_athletes))
    state.warm()
    if latency_ms:
        state.faults.set(latency_ms=latency_ms)
    uvicorn.run(SpanRecorder(create_app(state)), host="127.0.0.1", port=port, log_level="warning")


def start_timed_sandbox(latency_ms: int, extra_athletes: int) -> tuple[subprocess.Popen[bytes], str]:
    """Start the timed sandbox in its own process; (process, base URL) once it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.load", "--serve-sandbox", str(port)]
    cmd += ["--latency-ms", str(latency_ms), "--extra-athletes", str(extra_athletes)]
    proc = start(cmd)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/_sandbox/stats", timeout=120)
    return proc, url


@dataclass(frozen=True)
class Span:
    athlete: str
    start: float
    end: float
    status: int


def span_count(sandbox_url: str) -> int:
    import httpx

    return len(httpx.get(f"{sandbox_url}{SPANS_PATH}", timeout=60).json())


def fetch_spans(sandbox_url: str, since: int = 0) -> list[Span]:
    """The sandbox's upstream requests from index `since` on that an athlete's credential made."""
    import httpx

    rows = httpx.get(f"{sandbox_url}{SPANS_PATH}?since={since}", timeout=60).json()
    return [Span(a, s, e, st) for a, s, e, st in rows if a]


# --- who calls ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Athlete:
    id: str
    kind: str  # cyclist | runner | triathlete


@dataclass(frozen=True)
class ClientSpec:
    """One load client: its raw MCP token and the athletes it reaches (its own, or those it coaches)."""

    label: str
    token: str
    coach: bool
    athletes: tuple[Athlete, ...]


def athletes_needed(clients: int, coaches: int) -> int:
    return (clients - coaches) + coaches * COACHED_PER_COACH


def make_clients(sandbox_url: str, clients: int, coaches: int) -> list[ClientSpec]:
    """Linked users for the sandbox's athletes, one athlete token per athlete client, and `coaches` coach
    tokens, each granted every read tool by COACHED_PER_COACH athletes that have no client of their own.
    Django must be set up; the sandbox must hold `athletes_needed(...)` non-coach athletes."""
    import httpx
    from django.db import transaction
    from django.utils import timezone

    from accounts.actions import ensure_athlete_token, reveal_token
    from bench._support import linked_user
    from coaching.actions import ensure_coach_token, grantable_tools
    from coaching.models import CoachGrant

    rows = [r for r in httpx.get(f"{sandbox_url}/_sandbox/athletes", timeout=60).json() if not r["coach"]]
    need = athletes_needed(clients, coaches)
    if len(rows) < need:
        raise RuntimeError(f"the sandbox has {len(rows)} athletes, {need} needed")
    read_tools = grantable_tools()["read"]
    specs: list[ClientSpec] = []
    now = timezone.now()  # the coach accepted these invites (a pending one reaches nothing)
    with transaction.atomic():
        users = [
            linked_user(f"{r['id']}@load.threshold.local", r["id"], r["name"], r["timezone"], r["demo_token"])
            for r in rows[:need]
        ]
        for i in range(clients - coaches):
            token = ensure_athlete_token(users[i])
            assert token is not None, "linked users are verified"
            specs.append(
                ClientSpec(rows[i]["id"], reveal_token(token), False, (Athlete(rows[i]["id"], rows[i]["kind"]),))
            )
        for c in range(coaches):
            email = f"coach{c}@load.threshold.local"
            token, _ = ensure_coach_token(email)
            first = clients - coaches + c * COACHED_PER_COACH
            coached = range(first, first + COACHED_PER_COACH)
            for i in coached:
                CoachGrant.objects.update_or_create(
                    athlete=users[i],
                    coach_email=email,
                    revoked_at=None,
                    defaults={"coach_token": token, "tools": read_tools, "accepted_at": now},
                )
            specs.append(
                ClientSpec(
                    f"coach{c}",
                    reveal_token(token),
                    True,
                    tuple(Athlete(rows[i]["id"], rows[i]["kind"]) for i in coached),
                )
            )
    return specs


# --- what they call -------------------------------------------------------------------------------------
def _window(rng: random.Random, today: dt.date) -> dict[str, str]:
    end = today - dt.timedelta(days=rng.randrange(0, 120))
    start = end - dt.timedelta(days=rng.choice((6, 13, 27, 41, 89)))
    return {"start": start.isoformat(), "end": end.isoformat()}


def _push_args(rng: random.Random, athlete: Athlete, today: dt.date) -> dict[str, Any]:
    sport = "Run" if athlete.kind == "runner" else "Ride"
    day = today + dt.timedelta(days=rng.randrange(2, 40))
    steps = [
        {"seconds": 600, "phase": "warmup", "target": {"type": "hr_zone", "value": 1}},
        {
            "repeat": rng.choice((3, 4, 5)),
            "steps": [
                {"seconds": 300, "target": {"type": "hr_zone", "value": 4}},
                {"seconds": 180, "phase": "rest", "target": {"type": "hr_zone", "value": 1}},
            ],
        },
        {"seconds": 600, "phase": "cooldown", "target": {"type": "hr_zone", "value": 1}},
    ]
    return {"date": day.isoformat(), "sport": sport, "name": "Load check intervals", "steps": steps, "dry_run": True}


# (weight, tool, arguments(rng, athlete, today, known activity ids) or None to skip); "cached" tools repeat
# the default window, so after the first call they are served from the shared read cache.
ArgsFn = Callable[[random.Random, Athlete, dt.date, list[str]], dict[str, Any] | None]
MIX: list[tuple[float, str, ArgsFn]] = [
    (4, "get_training_history", lambda r, a, t, ids: _window(r, t)),
    (2, "get_training_history", lambda r, a, t, ids: {}),
    (2, "get_fitness", lambda r, a, t, ids: _window(r, t)),
    (1, "get_fitness", lambda r, a, t, ids: {}),
    (2, "get_wellness", lambda r, a, t, ids: _window(r, t)),
    (1, "get_wellness", lambda r, a, t, ids: {}),
    (
        1,
        "get_events",
        lambda r, a, t, ids: {
            "start": t.isoformat(),
            "end": (t + dt.timedelta(days=r.choice((7, 14, 28)))).isoformat(),
        },
    ),
    (1, "get_training_summary", lambda r, a, t, ids: _window(r, t)),
    (1, "get_best_efforts", lambda r, a, t, ids: {}),
    (1, "get_power_curves", lambda r, a, t, ids: {"metric": "pace" if a.kind == "runner" else "power"}),
    (1, "get_athlete_profile", lambda r, a, t, ids: {}),
    (1, "get_activity_detail", lambda r, a, t, ids: {"activity_id": r.choice(ids)} if ids else None),
    (0.5, "get_workout_library", lambda r, a, t, ids: {}),
    (0.5, "whoami", lambda r, a, t, ids: {}),
    (0.5, "push_workout", lambda r, a, t, ids: _push_args(r, a, t)),
]
COACH_MIX: list[tuple[float, str, ArgsFn]] = [
    (1, "list_athletes", lambda r, a, t, ids: {}),
    (1, "roster_digest", lambda r, a, t, ids: {}),
    (2, "athlete_overview", lambda r, a, t, ids: {}),
    (3, "get_training_history", lambda r, a, t, ids: _window(r, t)),
    (2, "get_wellness", lambda r, a, t, ids: _window(r, t)),
    (1, "get_fitness", lambda r, a, t, ids: {}),
]
COACH_GLOBAL = {"list_athletes", "roster_digest"}  # tools that take no `athlete` argument


def pick_call(
    rng: random.Random, spec: ClientSpec, today: dt.date, ids: dict[str, list[str]]
) -> tuple[str, dict[str, Any]]:
    mix = COACH_MIX if spec.coach else MIX
    while True:
        _, tool, make = rng.choices(mix, weights=[w for w, _, _ in mix])[0]
        athlete = rng.choice(spec.athletes)
        args = make(rng, athlete, today, ids.setdefault(athlete.id, []))
        if args is None:
            continue
        if spec.coach and tool not in COACH_GLOBAL:
            args["athlete"] = athlete.id
        return tool, args


# --- the run --------------------------------------------------------------------------------------------
@dataclass
class CallRecord:
    client: int
    tool: str
    started: float  # client side, around the SDK call
    ended: float
    http_start: float  # request hook .. response hook of the call's POST (0 if none was answered)
    http_end: float
    status: int | None
    outcome: str  # ok | tool_error | http_5xx | http_4xx | transport
    overhead: float | None = None  # seconds, set by `summarize` for the calls it measures


async def client_loop(
    index: int,
    spec: ClientSpec,
    base_url: str,
    stop_at: float,
    records: list[CallRecord],
    seed: int,
    think_s: float,
) -> None:
    """One client until `stop_at`: a session, then calls one after another; a failure ends the session
    (the SDK raises on non-2xx) and a new one is opened after a short pause."""
    import httpx2
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    rng = random.Random(seed * 1000 + index)
    today = dt.date.today()
    ids: dict[str, list[str]] = {}
    last: dict[str, Any] = {"start": 0.0, "end": 0.0, "status": None}

    async def on_request(request: httpx2.Request) -> None:
        if request.method == "POST":
            last.update(start=time.monotonic(), end=0.0, status=None)

    async def on_response(response: httpx2.Response) -> None:
        if response.request.method == "POST":
            last.update(end=time.monotonic(), status=response.status_code)

    hooks: dict[str, list[Callable[[Any], Awaitable[None]]]] = {"request": [on_request], "response": [on_response]}
    url = f"{base_url}/mcp/{spec.token}"
    await asyncio.sleep(rng.random() * 0.5)  # stagger the sessions' first requests
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(60.0), event_hooks=hooks) as http:
        while time.monotonic() < stop_at:
            tool = "(connect)"
            started = time.monotonic()
            try:
                transport = streamable_http_client(url, http_client=http, terminate_on_close=False)
                async with Client(transport, cache=None, read_timeout_seconds=60) as client:  # type: ignore[arg-type]
                    # As assistants do on connect; it also fills the SDK's output-schema cache, which would
                    # otherwise fetch tools/list inside the first call of each tool.
                    await client.list_tools()
                    while time.monotonic() < stop_at:
                        tool, args = pick_call(rng, spec, today, ids)
                        started = time.monotonic()
                        result = await client.call_tool(tool, args)
                        ended = time.monotonic()
                        outcome = "tool_error" if result.is_error else "ok"
                        records.append(
                            CallRecord(index, tool, started, ended, last["start"], last["end"], last["status"], outcome)
                        )
                        if result.is_error:
                            print(f"  [{spec.label}] {tool} {args}: {str(result.content)[:200]}", file=sys.stderr)
                        elif tool == "get_training_history":
                            data = result.structured_content or {}
                            who = data.get("athlete", {}).get("id")
                            if who:
                                ids[who] = [a["id"] for a in data.get("activities", [])][-20:] or ids.get(who, [])
                        if think_s:
                            await asyncio.sleep(rng.uniform(0, 2 * think_s))
            except Exception as exc:  # every failure is counted, by kind, and the client goes on
                status = last["status"]
                kind = (
                    "transport"
                    if status is None
                    else "http_5xx"
                    if status >= 500
                    else "http_4xx"
                    if status >= 400
                    else "transport"
                )
                records.append(
                    CallRecord(index, tool, started, time.monotonic(), last["start"], last["end"], status, kind)
                )
                print(
                    f"  [{spec.label}] {tool}: {type(exc).__name__}: {str(exc)[:200]} (HTTP {status})", file=sys.stderr
                )
                await asyncio.sleep(0.5)


async def drive(base_url: str, specs: list[ClientSpec], seconds: float, seed: int, think_s: float) -> list[CallRecord]:
    records: list[CallRecord] = []
    stop_at = time.monotonic() + seconds
    await asyncio.gather(*(client_loop(i, s, base_url, stop_at, records, seed, think_s) for i, s in enumerate(specs)))
    return records


# --- watching the stack ---------------------------------------------------------------------------------
def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def worker_pids(master: int) -> list[int]:
    """The uvicorn master's worker processes (spawned children running `spawn_main`, not its trackers)."""
    children: list[int] = []
    for task in Path(f"/proc/{master}/task").iterdir():
        children += [int(p) for p in (task / "children").read_text().split()]
    workers = []
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            workers.append(pid)
    return sorted(workers)


class Monitor(threading.Thread):
    """Every second: sessions on the database (all, and the workers' by application_name); every
    `rss_every` seconds: each worker's RSS."""

    def __init__(self, database_url: str, master: int, rss_every: float = 10.0) -> None:
        super().__init__(daemon=True)
        import psycopg

        parts = urlsplit(database_url)
        self.db_name = parts.path.lstrip("/")
        self.conn = psycopg.connect(database_url, autocommit=True, application_name="threshold-load-monitor")
        self.master = master
        self.rss_every = rss_every
        self.stopping = threading.Event()
        self.max_total = 0
        self.max_workers = 0
        self.samples = 0
        self.rss: dict[int, list[tuple[float, float]]] = defaultdict(list)

    def sessions(self) -> tuple[int, int]:
        row = self.conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE application_name = %s) FROM pg_stat_activity WHERE datname = %s",
            (APP_NAME, self.db_name),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def sample_rss(self) -> None:
        now = time.monotonic()
        for pid in worker_pids(self.master):
            try:
                self.rss[pid].append((now, rss_mb(pid)))
            except FileNotFoundError:
                continue

    def run(self) -> None:
        next_rss = 0.0
        while not self.stopping.wait(1.0):
            total, workers = self.sessions()
            self.max_total, self.max_workers = max(self.max_total, total), max(self.max_workers, workers)
            self.samples += 1
            if time.monotonic() >= next_rss:
                self.sample_rss()
                next_rss = time.monotonic() + self.rss_every

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
        self.sample_rss()
        self.conn.close()


# --- the product ----------------------------------------------------------------------------------------
def start_product(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """`uvicorn config.asgi:application --workers N` on a free port; (master process, base URL) once all
    workers are up and the MCP gate answers."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**env, "SITE_URL": url, "PGAPPNAME": APP_NAME}
    cmd = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "warning"]
    proc = start(cmd, env)
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.post(f"{url}/mcp/x", timeout=2).status_code == 404 and len(worker_pids(proc.pid)) == workers:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.terminate()
            raise RuntimeError("uvicorn workers did not start (see the log under the bench's temp dir)")
        time.sleep(0.3)


@dataclass
class LoadReport:
    clients: int
    coaches: int
    workers: int
    pool_max: int
    seconds: float
    warmup: float
    latency_ms: int
    calls: int = 0
    measured_calls: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    by_tool: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_ms_p: dict[str, float] = field(default_factory=dict)
    http_ms_p: dict[str, float] = field(default_factory=dict)
    upstream_ms_p: dict[str, float] = field(default_factory=dict)
    overhead_ms_p: dict[str, float] = field(default_factory=dict)
    upstream_requests: int = 0
    upstream_statuses: Counter[str] = field(default_factory=Counter)
    no_upstream_share: float = 0.0
    own_sessions: int = 0
    max_sessions: int = 0
    max_worker_sessions: int = 0
    session_samples: int = 0
    rss: dict[int, tuple[float, float]] = field(default_factory=dict)  # pid -> (after warm-up, end) MB
    workers_alive: bool = True
    generator_cpu_pct: float = 0.0
    workers_cpu_pct: float = 0.0
    sandbox_cpu_pct: float = 0.0
    machine_busy_pct: float = 0.0
    cores: int = 1
    timeline: list[dict[str, float]] = field(default_factory=list)

    @property
    def session_bound(self) -> int:
        return self.workers * self.pool_max + self.own_sessions

    @property
    def server_errors(self) -> int:
        return self.outcomes["http_5xx"]

    @property
    def failed_calls(self) -> int:
        return self.calls - self.outcomes["ok"]

    @property
    def ok(self) -> bool:
        return (
            self.calls > 0
            and self.server_errors == 0
            and self.failed_calls == 0
            and self.max_sessions <= self.session_bound
            and self.max_worker_sessions <= self.workers * self.pool_max
            and self.workers_alive
        )


def upstream_seconds(window: tuple[float, float], spans: list[Span], starts: list[float]) -> tuple[float, int]:
    """Union of the spans' intervals clipped to `window` (spans sorted by start); and how many overlap it."""
    lo, hi = window
    total, count, cur_start, cur_end = 0.0, 0, 0.0, -1.0
    # A client has one call in flight, so a span that began long before this window belongs to an earlier
    # call; the look-back only has to cover one upstream deadline.
    for span in spans[bisect.bisect_left(starts, lo - 30.0) : bisect.bisect_right(starts, hi)]:
        s, e = max(span.start, lo), min(span.end, hi)
        if e <= s:
            continue
        count += 1
        if s > cur_end:
            total += max(0.0, cur_end - cur_start)
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    return total + max(0.0, cur_end - cur_start), count


def _pcts(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {f"p{p}": percentile(values, p) * 1000 for p in (50, 95, 99)} | {"max": max(values) * 1000}


def run_load(
    *,
    env: dict[str, str],
    database_url: str,
    sandbox_url: str,
    specs: list[ClientSpec],
    seconds: float,
    workers: int,
    pool_max: int,
    warmup: float,
    latency_ms: int,
    think_s: float = 0.0,
    seed: int = 6,
    sandbox_pid: int | None = None,
) -> LoadReport:
    """Start the product (N workers, pool max per worker), drive `specs` for `seconds`, watch sessions and
    memory, stop the product; the figures. `env` is the workers' environment (DB, Redis, secrets)."""
    report = LoadReport(len(specs), sum(s.coach for s in specs), workers, pool_max, seconds, warmup, latency_ms)
    spans_before = span_count(sandbox_url)
    proc, url = start_product({**env, "DB_POOL_MAX_SIZE": str(pool_max), "INTERVALS_BASE_URL": sandbox_url}, workers)
    monitor: Monitor | None = None
    try:
        pids = worker_pids(proc.pid)
        monitor = Monitor(database_url, proc.pid, rss_every=max(2.0, min(10.0, seconds / 20)))
        # The product has not touched the database yet (its pools open on first use): what is there now
        # is this process's own (the monitor's, and in tests the test's).
        report.own_sessions = monitor.sessions()[0]
        monitor.start()
        cpu0 = {pid: cpu_seconds(pid) for pid in pids}
        me0, wall0 = cpu_seconds(os.getpid()), time.monotonic()
        sandbox0 = cpu_seconds(sandbox_pid) if sandbox_pid else 0.0
        machine0 = machine_cpu()
        warm_rss: dict[int, float] = {}

        async def with_warmup_sample() -> list[CallRecord]:
            async def sample_after_warmup() -> None:
                await asyncio.sleep(warmup)
                for pid in pids:
                    warm_rss[pid] = rss_mb(pid)

            sampler = asyncio.create_task(sample_after_warmup())
            records = await drive(url, specs, seconds, seed, think_s)
            await sampler
            return records

        records = asyncio.run(with_warmup_sample())
        wall = time.monotonic() - wall0
        report.generator_cpu_pct = 100 * (cpu_seconds(os.getpid()) - me0) / wall
        if sandbox_pid:
            report.sandbox_cpu_pct = 100 * (cpu_seconds(sandbox_pid) - sandbox0) / wall
        machine1 = machine_cpu()
        report.machine_busy_pct = 100 * (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
        report.cores = os.cpu_count() or 1
        report.workers_alive = proc.poll() is None and worker_pids(proc.pid) == pids
        if report.workers_alive:
            report.workers_cpu_pct = 100 * sum(cpu_seconds(p) - cpu0[p] for p in pids) / wall
            report.rss = {pid: (warm_rss[pid], rss_mb(pid)) for pid in pids}
    finally:
        if monitor is not None:
            monitor.stop()
        proc.terminate()
        proc.wait(timeout=30)
    assert monitor is not None
    report.max_sessions, report.max_worker_sessions = monitor.max_total, monitor.max_workers
    report.session_samples = monitor.samples
    spans = fetch_spans(sandbox_url, since=spans_before)
    summarize(report, records, specs, spans)
    report.timeline = timeline(report, records, spans, monitor.rss)
    return report


def summarize(report: LoadReport, records: list[CallRecord], specs: list[ClientSpec], spans: list[Span]) -> None:
    owner = {a.id: i for i, spec in enumerate(specs) for a in spec.athletes}
    by_client: dict[int, list[Span]] = defaultdict(list)
    for span in sorted(spans, key=lambda s: s.start):
        if span.athlete in owner:
            by_client[owner[span.athlete]].append(span)
    starts = {i: [s.start for s in rows] for i, rows in by_client.items()}
    report.upstream_requests = len(spans)
    report.upstream_statuses = Counter(str(s.status) for s in spans)
    report.calls = len(records)
    report.outcomes = Counter(r.outcome for r in records)
    report.statuses = Counter(str(r.status) for r in records)
    t0 = min((r.started for r in records), default=0.0)
    measured = [r for r in records if r.outcome == "ok" and r.started - t0 >= report.warmup and r.http_end]
    report.measured_calls = len(measured)
    latency, http, upstream, overhead = [], [], [], []
    tools: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for r in measured:
        up, count = upstream_seconds((r.http_start, r.http_end), by_client[r.client], starts.get(r.client, []))
        h = r.http_end - r.http_start
        latency.append(r.ended - r.started)
        http.append(h)
        upstream.append(up)
        overhead.append(max(0.0, h - up))
        r.overhead = max(0.0, h - up)
        tools[r.tool].append((h, max(0.0, h - up), count))
    report.latency_ms_p, report.http_ms_p = _pcts(latency), _pcts(http)
    report.upstream_ms_p, report.overhead_ms_p = _pcts(upstream), _pcts(overhead)
    report.no_upstream_share = sum(1 for r in tools.values() for _, _, c in r if c == 0) / max(1, len(measured))
    for tool, rows in sorted(tools.items()):
        report.by_tool[tool] = {
            "calls": len(rows),
            "p50_ms": percentile([h for h, _, _ in rows], 50) * 1000,
            "p95_ms": percentile([h for h, _, _ in rows], 95) * 1000,
            "p95_overhead_ms": percentile([o for _, o, _ in rows], 95) * 1000,
            "upstream_per_call": sum(c for _, _, c in rows) / len(rows),
            "no_upstream_pct": 100 * sum(1 for _, _, c in rows if c == 0) / len(rows),
        }


def _latest(series: list[tuple[float, float]], until: float) -> float:
    """The last value sampled at or before `until` (series are in time order); 0 if none."""
    before = [v for t, v in series if t <= until]
    return before[-1] if before else 0.0


def timeline(
    report: LoadReport, records: list[CallRecord], spans: list[Span], rss: dict[int, list[tuple[float, float]]]
) -> list[dict[str, float]]:
    """The run in ten equal slices: calls/s, failures, HTTP p95, overhead p95 (after the warm-up), upstream
    requests/s and the workers' summed RSS at the slice's end (the latest sample)."""
    if not records:
        return []
    t0 = min(r.started for r in records)
    width = report.seconds / 10
    rows = []
    for i in range(10):
        lo, hi = t0 + i * width, t0 + (i + 1) * width
        inside = [r for r in records if lo <= r.started < hi]
        ok = [r for r in inside if r.overhead is not None]
        rows.append(
            {
                "from_s": i * width,
                "calls_per_s": len(inside) / width,
                "failed": sum(1 for r in inside if r.outcome != "ok"),
                "http_p95_ms": percentile([r.http_end - r.http_start for r in ok], 95) * 1000 if ok else 0.0,
                "overhead_p95_ms": percentile([r.overhead or 0.0 for r in ok], 95) * 1000 if ok else 0.0,
                "upstream_per_s": sum(1 for s in spans if lo <= s.start < hi) / width,
                "rss_mb": sum(_latest(series, hi) for series in rss.values()),
            }
        )
    return rows


def print_report(r: LoadReport) -> None:
    def p(d: dict[str, float]) -> str:
        return "  ".join(f"{k} {v:7.1f}" for k, v in d.items())

    print(
        f"load: {r.clients} clients ({r.clients - r.coaches} athlete tokens, {r.coaches} coach tokens), "
        f"{r.seconds:.0f} s, {r.workers} uvicorn workers, pool max {r.pool_max}/worker, upstream +{r.latency_ms} ms"
    )
    print(
        f"  calls                {r.calls} ({r.calls / r.seconds:.1f}/s); "
        f"after the {r.warmup:.0f} s warm-up: {r.measured_calls}"
    )
    print(f"  outcomes             {dict(sorted(r.outcomes.items()))}")
    print(f"  HTTP statuses        {dict(sorted(r.statuses.items()))}")
    print(f"  5xx                  {r.server_errors}   (must be 0)")
    print(f"  failed calls         {r.failed_calls}   (must be 0)")
    print(f"  latency (SDK) ms     {p(r.latency_ms_p)}")
    print(f"  HTTP time ms         {p(r.http_ms_p)}")
    print(f"  upstream time ms     {p(r.upstream_ms_p)}")
    print(f"  overhead ms          {p(r.overhead_ms_p)}   (HTTP time - upstream time, per call)")
    print(
        f"  upstream requests    {r.upstream_requests} {dict(sorted(r.upstream_statuses.items()))}; "
        f"calls with none: {100 * r.no_upstream_share:.1f}% (read cache, no-upstream tools)"
    )
    verdict = (
        "OK" if r.max_sessions <= r.session_bound and r.max_worker_sessions <= r.workers * r.pool_max else "EXCEEDED"
    )
    print(
        f"  PostgreSQL sessions  max {r.max_sessions} vs bound {r.session_bound} = {r.workers} x {r.pool_max} + "
        f"{r.own_sessions} own; workers' max {r.max_worker_sessions} ({r.session_samples} samples)  {verdict}"
    )
    for i, (pid, (warm, end)) in enumerate(sorted(r.rss.items())):
        drift = end - warm
        print(
            f"  worker {i} RSS         {warm:6.1f} MB after warm-up -> {end:6.1f} MB at end: "
            f"{drift:+.1f} MB ({100 * drift / warm:+.1f}%)  pid {pid}"
        )
    if not r.workers_alive:
        print("  WORKERS DIED OR WERE REPLACED during the run")
    print(
        f"  CPU (% of one core)  workers {r.workers_cpu_pct:.0f}, sandbox {r.sandbox_cpu_pct:.0f}, "
        f"load generator {r.generator_cpu_pct:.0f}; whole machine {r.machine_busy_pct:.0f}% busy of {r.cores} cores "
        "(other users' processes included)"
    )
    print(f"  {'tool':<22}{'calls':>7}{'p50 ms':>9}{'p95 ms':>9}{'p95 ovh':>9}{'upstr/call':>11}{'no-upstr %':>11}")
    for tool, t in r.by_tool.items():
        print(
            f"  {tool:<22}{t['calls']:>7.0f}{t['p50_ms']:>9.1f}{t['p95_ms']:>9.1f}{t['p95_overhead_ms']:>9.1f}"
            f"{t['upstream_per_call']:>11.2f}{t['no_upstream_pct']:>11.1f}"
        )
    print(f"  {'from s':>8}{'calls/s':>9}{'failed':>8}{'HTTP p95':>10}{'ovh p95':>9}{'upstr/s':>9}{'workers RSS':>13}")
    for row in r.timeline:
        print(
            f"  {row['from_s']:>8.0f}{row['calls_per_s']:>9.1f}{row['failed']:>8.0f}{row['http_p95_ms']:>10.0f}"
            f"{row['overhead_p95_ms']:>9.0f}{row['upstream_per_s']:>9.1f}{row['rss_mb']:>10.1f} MB"
        )
    print("  verdict              " + ("PASS" if r.ok else "FAIL"))


# --- the bench ------------------------------------------------------------------------------------------
def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--coaches", type=int, default=4, help="how many of the clients hold a coach token")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--pool-max", type=int, default=10, help="DB_POOL_MAX_SIZE per worker")
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--think-ms", type=float, default=0, help="mean pause between a client's calls")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before RSS and latency figures")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--serve-sandbox", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--extra-athletes", type=int, default=0, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.serve_sandbox is not None:
        serve_timed_sandbox(opts.serve_sandbox, opts.latency_ms, opts.extra_athletes)
        return 0
    if not 0 <= opts.coaches < opts.clients:
        parser.error("--coaches must be below --clients")
    warmup = opts.warmup if opts.warmup is not None else min(60.0, opts.seconds / 5)

    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/threshold_bench")
    if not database_url.startswith("postgres"):
        parser.error("BENCH_DATABASE_URL must be a PostgreSQL URL: the load proof is about the production shape")
    ensure_database(database_url)
    os.environ["BENCH_DATABASE_URL"] = database_url
    from bench._support import bench_env, setup_django

    extra = max(0, athletes_needed(opts.clients, opts.coaches) - 3)  # the sandbox has 3 named non-coach athletes
    sandbox, sandbox_url = start_timed_sandbox(opts.latency_ms, extra)
    try:
        # This process reaches the database without a pool, and lets go of it before the run, so the
        # session bound counts the workers' pools and the monitor only.
        setup_django(INTERVALS_BASE_URL=sandbox_url, DB_POOL_MAX_SIZE="0")
        specs = make_clients(sandbox_url, opts.clients, opts.coaches)
        from django.db import connections

        connections.close_all()
        report = run_load(
            env=bench_env(),
            database_url=database_url,
            sandbox_url=sandbox_url,
            specs=specs,
            seconds=opts.seconds,
            workers=opts.workers,
            pool_max=opts.pool_max,
            warmup=warmup,
            latency_ms=opts.latency_ms,
            think_s=opts.think_ms / 1000,
            seed=opts.seed,
            sandbox_pid=sandbox.pid,
        )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=20)
    print_report(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
