"""Faults under load, production-shaped, with a ledger of every write: what was answered, logged and landed.

Run: BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/threshold_bench .venv/bin/python -m bench.faults
     [--quick] [--clients 6] [--only pg_down,web_worker_killed]

The stack: the sandbox (own process) as Intervals.icu; PostgreSQL reached through a TCP proxy the bench
switches between up and refused (tests/outage_helpers.FlakyProxy; the real server is never stopped);
Redis; the web tier as the Dockerfile runs it (docker/serve.sh → gunicorn, 2 uvicorn workers); a Celery
worker for email. Clients call a mix of reads (whoami, get_training_history) and writes (push_workout,
each with a unique name) flat out through every experiment:

- baseline           no fault
- pg_restart         PostgreSQL refuses connections for 1 s (a restart), then is back
- pg_down            PostgreSQL refuses connections for 20 s (6 s with --quick)
- web_worker_killed  one gunicorn worker SIGKILLed mid-load (the master starts another)
- upstream_slow      Intervals.icu answers every request after 5 s, for 15 s (6 s with --quick)
- celery_killed      the Celery worker SIGKILLed while sending queued emails; a new worker and the sweep
- sigterm            SIGTERM to the web container's entry point under load (drain, then stop)

Per experiment it prints: answers by status, the error window, errors after the fault ended (and how long
after), latency p50/p95 during and after, and the write ledger: answered OK / logged / landed upstream, and
the three that must be 0: lost (answered OK, not upstream), duplicated (one write landed twice), unlogged
(landed upstream with no access-log row the athlete can see). Targets: 0 lost, duplicated or unlogged;
503s within 2 s; errors end within 2 s of the database's return; no 500.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench._support import ROOT, athlete_token, bench_env, free_port, percentile, setup_django, start, start_sandbox

HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}
STEPS = [{"seconds": 600, "target": {"type": "%ftp", "value": 60}}]


@dataclass
class Sample:
    at: float
    took: float
    status: str  # "200", "200 isError", "503", "connection refused", ...
    write_name: str | None = None
    write_ok: bool = False


@dataclass
class Load:
    """Client threads calling the MCP URL flat out until stopped; every answer is a Sample."""

    url: str
    clients: int
    label: str
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _n: int = 0

    def start(self) -> Load:
        for i in range(self.clients):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=40)
        return self.samples

    def _next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n

    def _run(self, client_no: int) -> None:
        day = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
        with httpx.Client(headers=HEADERS, timeout=30) as http:
            while not self._stop.is_set():
                n = self._next()
                write_name = f"Fault bench {self.label} {n}" if n % 4 == 0 else None
                if write_name:
                    name, args = "push_workout", {"date": day, "sport": "Ride", "name": write_name, "steps": STEPS}
                else:
                    name, args = ("whoami", {}) if n % 2 else ("get_training_history", {})
                body = {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": args}}
                started = time.monotonic()
                write_ok = False
                try:
                    response = http.post(self.url, json=body)
                    status = str(response.status_code)
                    if response.status_code == 200:
                        result = response.json().get("result", {})
                        if result.get("isError"):
                            status += " isError"
                        else:
                            write_ok = write_name is not None
                except httpx.ConnectError:
                    status = "connection refused"
                except httpx.TimeoutException:
                    status = "timeout (30 s)"
                except httpx.TransportError as exc:
                    status = type(exc).__name__
                sample = Sample(started, time.monotonic() - started, status, write_name, write_ok)
                with self._lock:
                    self.samples.append(sample)
                if status != "200" and not status.startswith("200"):
                    time.sleep(0.05)  # a client backs off a little after an error


class Stack:
    def __init__(self, sandbox_url: str, proxy: Any, env: dict[str, str]) -> None:
        self.sandbox_url = sandbox_url
        self.proxy = proxy
        self.env = env
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_web(self) -> None:
        self.port = free_port()
        gunicorn = [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "config.asgi:application"]
        gunicorn += ["-k", "uvicorn_worker.UvicornWorker", "--workers", "2", "--bind", f"127.0.0.1:{self.port}"]
        gunicorn += ["--graceful-timeout", "20", "--timeout", "60"]
        self.web = start(["sh", "docker/serve.sh", *gunicorn], {**self.env, "DRAIN_SECONDS": "3"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("web did not start")

    def web_workers(self) -> list[int]:
        """The gunicorn workers: children of the gunicorn master, itself the child of serve.sh."""
        assert self.web is not None
        masters = _children(self.web.pid)
        return [pid for master in masters for pid in _children(master)]

    def start_worker(self) -> None:
        cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=WARNING"]
        cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.worker = start(cmd, self.env)

    def stop(self) -> None:
        for proc in (self.web, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def landed_upstream(sandbox_url: str, athlete: dict[str, Any], prefix: str) -> Counter[str]:
    """Events on the athlete's calendar whose name starts with `prefix`, counted by name (read upstream)."""
    today = dt.datetime.now(dt.UTC).date()
    params = {"oldest": today.isoformat(), "newest": (today + dt.timedelta(days=60)).isoformat()}
    headers = {"Authorization": f"Bearer {athlete['demo_token']}"}
    events = httpx.get(
        f"{sandbox_url}/api/v1/athlete/{athlete['id']}/events", params=params, headers=headers, timeout=60
    ).json()
    return Counter(e["name"] for e in events if str(e.get("name", "")).startswith(prefix))


def ledger(sandbox_url: str, athlete: dict[str, Any], label: str, samples: list[Sample]) -> dict[str, int]:
    from coaching.models import AccessLogEntry

    prefix = f"Fault bench {label} "
    answered_ok = {s.write_name for s in samples if s.write_ok and s.write_name}
    landed = landed_upstream(sandbox_url, athlete, prefix)
    # Journal completions still retrying after an outage get a moment to land.
    deadline = time.monotonic() + 15
    while True:
        rows = list(AccessLogEntry.objects.filter(tool="push_workout").values("outcome", "write_target", "summary"))
        pending = [r for r in rows if r["outcome"] == "pending"]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    logged_names = {name for name in landed if any(name in r["summary"] for r in rows if r["outcome"] == "ok")}
    unknown = sum(1 for r in rows if r["outcome"] == "pending")
    return {
        "answered OK": len(answered_ok),
        "landed upstream": sum(landed.values()),
        "logged OK": len(logged_names),
        "logged as outcome unknown": unknown,
        "lost": len(answered_ok - set(landed)),
        "duplicated": sum(1 for c in landed.values() if c > 1),
        # Landed with no row at all: a pending row ("outcome unknown") is still a row the athlete sees.
        "unlogged": max(0, len(set(landed) - logged_names) - unknown),
    }


def report(label: str, samples: list[Sample], fault: tuple[float, float] | None, figures: dict[str, int]) -> bool:
    statuses = Counter(s.status for s in samples)
    # An isError answer (e.g. a write refused while its journal is down) is an answer, not an error.
    errors = [s for s in samples if not s.status.startswith("200")]
    print(f"\n== {label}: {len(samples)} calls; " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    ok = True
    if errors:
        first, last = min(s.at for s in errors), max(s.at + s.took for s in errors)
        print(f"   error window {last - first:.1f} s; slowest error answer {max(s.took for s in errors):.2f} s")
        if any(s.status.startswith("5") and s.took > 2.0 for s in errors):
            print("   !! a 5xx took longer than 2 s")
            ok = False
    if fault is not None:
        during = [s.took * 1000 for s in samples if fault[0] <= s.at <= fault[1]]
        after = [s for s in samples if s.at > fault[1]]
        late = [s for s in after if s.status != "200" and s.at > fault[1] + 2.0]
        refused = sum(1 for s in samples if s.status == "200 isError" and fault[0] <= s.at <= fault[1] + 2.0)
        if refused:
            print(f"   tool calls answered isError during the fault: {refused}")
        if during:
            print(f"   during: p50 {percentile(during, 50):.0f} ms, p95 {percentile(during, 95):.0f} ms")
        if after:
            ms = [s.took * 1000 for s in after]
            print(f"   after:  p50 {percentile(ms, 50):.0f} ms, p95 {percentile(ms, 95):.0f} ms")
        errors_after = [s for s in after if s.status != "200"]  # isError counts here: it should have worked
        if errors_after:
            tail = max(s.at for s in errors_after) - fault[1]
            print(f"   errors after the fault ended: {len(errors_after)}, the last {tail:.1f} s after")
        if late and label.startswith("pg"):
            print("   !! errors more than 2 s after the database came back")
            ok = False
    if any(s.status.startswith("500") for s in samples):
        print("   !! a 500")
        ok = False
    print("   writes: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    if figures["lost"] or figures["duplicated"] or figures["unlogged"]:
        print("   !! a write lost, duplicated or unlogged")
        ok = False
    return ok


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="short outages, for the test suite")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--only", default="", help="comma-separated experiment names")
    opts = parser.parse_args()
    quick = opts.quick
    down = 6.0 if quick else 20.0
    settle = 3.0 if quick else 8.0

    sandbox, sandbox_url = start_sandbox(latency_ms=20)
    # Emails recorded here are published to Redis for the stack's Celery worker (celery_killed), not sent here.
    setup_django(INTERVALS_BASE_URL=sandbox_url, CELERY_TASK_ALWAYS_EAGER="0", OUTBOX_REQUEUE_AFTER_SECONDS="0")
    from django.conf import settings

    from tests.outage_helpers import FlakyProxy, SmtpSink, collected_static

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        sys.exit("bench.faults needs BENCH_DATABASE_URL=postgres://… (it cuts PostgreSQL's connections)")
    proxy = FlakyProxy(int(db["PORT"] or 5432))
    sink = SmtpSink(stall_first=1)
    _, token, athlete = athlete_token(sandbox_url, "faults@example.com")
    env = bench_env(
        DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
        INTERVALS_BASE_URL=sandbox_url,
        STATIC_ROOT=collected_static(),
        CELERY_TASK_ALWAYS_EAGER="0",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink.port),
        EMAIL_USE_TLS="0",
        OUTBOX_REQUEUE_AFTER_SECONDS="0",
        PATH=os.environ.get("PATH", ""),
    )
    stack = Stack(sandbox_url, proxy, env)
    stack.start_web()
    url = f"{stack.base}/mcp/{token}"
    wanted = set(filter(None, opts.only.split(",")))
    all_ok = True

    def run(label: str, fault: Any, before: float = 2.0) -> None:
        nonlocal all_ok
        if wanted and label not in wanted:
            return
        load = Load(url, opts.clients, label).start()
        time.sleep(before)
        window = fault()
        time.sleep(settle)
        samples = load.stop()
        all_ok = report(label, samples, window, ledger(sandbox_url, athlete, label, samples)) and all_ok

    def outage(seconds: float) -> Any:
        def fault() -> tuple[float, float]:
            started = time.monotonic()
            proxy.set_mode("refused")
            time.sleep(seconds)
            proxy.set_mode("up")
            return started, time.monotonic()

        return fault

    def kill_web_worker() -> tuple[float, float]:
        workers = stack.web_workers()
        at = time.monotonic()
        if workers:
            os.kill(workers[0], signal.SIGKILL)
        return at, at

    def slow_upstream() -> tuple[float, float]:
        started = time.monotonic()
        httpx.post(f"{sandbox_url}/_sandbox/faults", json={"latency_ms": 5000}, timeout=10)
        time.sleep(down if quick else 15.0)
        httpx.delete(f"{sandbox_url}/_sandbox/faults", timeout=10)
        return started, time.monotonic()

    try:
        run("baseline", lambda: None)
        run("pg_restart", outage(1.0))
        run("pg_down", outage(down))
        run("web_worker_killed", kill_web_worker)
        run("upstream_slow", slow_upstream)
        if not wanted or "celery_killed" in wanted:
            all_ok = celery_killed(stack, sink) and all_ok
        if not wanted or "sigterm" in wanted:
            all_ok = sigterm_under_load(stack, url) and all_ok
    finally:
        stack.stop()
        proxy.close()
        sink.close()
        sandbox.terminate()
        sandbox.wait(timeout=20)
    print("\nall targets met" if all_ok else "\nTARGETS MISSED (see !! above)")
    sys.exit(0 if all_ok else 1)


def celery_killed(stack: Stack, sink: Any, emails: int = 5) -> bool:
    """Emails queued while the worker is SIGKILLed mid-send (the mail server holds the first message):
    after a new worker and the outbox sweep, each is delivered exactly once."""
    from accounts.emails import send_verification_email
    from accounts.models import EmailOutbox
    from accounts.tasks import requeue_stalled_work

    for n in range(emails):
        send_verification_email(f"fault{n}@example.com", activate_url=f"{stack.base}/confirm/x{n}/", signup=True)
    stack.start_worker()
    sink.stalled.wait(30)  # the worker is mid-send: the mail server holds the first message
    assert stack.worker is not None
    stack.worker.send_signal(signal.SIGKILL)
    stack.worker.wait(timeout=10)
    killed_at = time.monotonic()
    stack.start_worker()
    deadline = time.monotonic() + 60
    while EmailOutbox.objects.exclude(status="sent").exists() and time.monotonic() < deadline:
        requeue_stalled_work()  # beat's sweep, run every 2 s here (every 2 minutes in the deployment)
        time.sleep(2.0)
    sent = EmailOutbox.objects.filter(status="sent").count()
    to = Counter(
        line.split(b":", 1)[1].strip().decode()
        for message in sink.delivered
        for line in message.splitlines()
        if line.lower().startswith(b"to:")
    )
    duplicates = sum(1 for c in to.values() if c > 1)
    print(
        f"\n== celery_killed: {emails} emails, worker killed mid-send; sent {sent}/{emails} "
        f"{time.monotonic() - killed_at:.1f} s after the kill, delivered {len(sink.delivered)}, duplicated {duplicates}"
    )
    ok = sent == emails and duplicates == 0
    if not ok:
        print("   !! an email lost or sent twice")
    return ok


def sigterm_under_load(stack: Stack, url: str) -> bool:
    """SIGTERM to docker/serve.sh under load: readiness flips at once, nothing is refused while draining."""
    assert stack.web is not None
    load = Load(url, 4, "sigterm").start()
    time.sleep(2.0)
    at = time.monotonic()
    stack.web.send_signal(signal.SIGTERM)
    flipped = None
    while time.monotonic() - at < 10:
        try:
            if httpx.get(stack.base + "/readyz", timeout=1).status_code == 503:
                flipped = time.monotonic() - at
                break
        except httpx.TransportError:
            break
        time.sleep(0.05)
    stack.web.wait(timeout=60)
    stopped = time.monotonic() - at
    samples = load.stop()
    drain_end = at + 3.0  # DRAIN_SECONDS in Stack.start_web
    refused_while_draining = sum(1 for s in samples if at <= s.at < drain_end and s.status != "200")
    statuses = Counter(s.status for s in samples if s.at >= at)
    print(
        f"\n== sigterm: readiness 503 after {flipped if flipped is None else round(flipped, 2)} s; "
        f"process gone after {stopped:.1f} s; calls refused or failed while draining: {refused_while_draining}; "
        "after SIGTERM: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    )
    ok = flipped is not None and flipped < 1.0 and refused_while_draining == 0
    if not ok:
        print("   !! readiness did not flip first, or calls were refused while draining")
    stack.web = None
    return ok


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
