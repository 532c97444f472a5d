"""Shared set-up for benchmarks: an isolated SQLite database, the sandbox on a loopback port, a principal."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_DB_DIR = tempfile.mkdtemp(prefix="threshold-bench-")


def bench_env(**extra: str) -> dict[str, str]:
    """Environment for benchmark processes: embedded default, own database, sandbox not mounted."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # BENCH_DATABASE_URL (e.g. PostgreSQL) measures the production shape; default: a private SQLite.
            "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{_DB_DIR}/bench.sqlite3"),
            "INTERVALS_SANDBOX": "0",
            "INTERVALS_CLIENT_ID": "threshold-dev",
            "INTERVALS_CLIENT_SECRET": "threshold-dev-secret",
            "INTERVALS_RATE_PER_SECOND": "100000",
            "INTERVALS_RATE_BURST": "100000",
            "INTERVALS_ATHLETE_RATE_PER_SECOND": "100000",
            "INTERVALS_ATHLETE_BURST": "100000",
            "LOG_LEVEL": "WARNING",
            # The production shape: DEBUG off (no query recording), Redis for the limiter and the cache.
            "DEBUG": "0",
            "SECRET_KEY": "bench-secret-key-long-enough-for-django-checks",
            "ENCRYPTION_KEYS": "bench:" + base64.urlsafe_b64encode(hashlib.sha256(b"bench").digest()).decode(),
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
            "SITE_URL": "http://127.0.0.1:8000",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "CELERY_TASK_ALWAYS_EAGER": "1",
            # Benchmarks measure throughput, not the per-token guard against runaway assistants.
            "MCP_TOKEN_CALLS_PER_MINUTE": "100000000",
            "MCP_TOKEN_BURST": "1000000",
        }
    )
    env.update(extra)
    return env


def _ensure_database(url: str) -> None:
    """Create the PostgreSQL database BENCH_DATABASE_URL names if it does not exist yet (a fresh machine)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return
    import psycopg
    from psycopg import sql

    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(**extra: str) -> None:
    os.environ.update(bench_env(**extra))
    _ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)  # every run starts from an empty database
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()  # the bench's own Redis database: no stale buckets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(cmd: list[str], env: dict[str, str] | None = None, cwd: str | Path | None = None) -> subprocess.Popen[bytes]:
    """A process in the repository (or `cwd`, another checkout), its output going to the bench's log dir."""
    # Output goes to a file, never an undrained pipe: a full pipe blocks the server's next log line.
    log = open(Path(_DB_DIR) / f"{Path(cmd[2]).name if len(cmd) > 2 else 'proc'}.log", "ab")
    return subprocess.Popen(cmd, cwd=cwd or ROOT, env=env or bench_env(), stdout=log, stderr=subprocess.STDOUT)


def start_sandbox(latency_ms: int = 0, extra_athletes: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "integrations.intervals.sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--latency-ms",
        str(latency_ms),
        "--extra-athletes",
        str(extra_athletes),
        "--warm",
    ]
    proc = start(cmd)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/_sandbox/stats")
    return proc, url


def linked_user(email: str, athlete_id: str, name: str, timezone: str, token: str) -> Any:
    """A verified user linked to a sandbox athlete (Django must be set up)."""
    from allauth.account.models import EmailAddress

    from accounts.models import User
    from integrations.intervals.actions import link_intervals
    from integrations.intervals.schemas import OAuthAthlete, OAuthToken

    user = User.objects.filter(email=email).first() or User.objects.create_user(email, "bench-password-1")
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    scopes = "ACTIVITY:WRITE,WELLNESS:WRITE,CALENDAR:WRITE,LIBRARY:WRITE,SETTINGS:WRITE,CHATS:WRITE"
    link_intervals(
        user,
        OAuthToken(access_token=token, scope=scopes, athlete=OAuthAthlete(id=athlete_id.removeprefix("i"), name=name)),
        timezone=timezone,
    )
    return user


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def sandbox_athlete(sandbox_url: str, athlete_id: str = "i100001") -> dict[str, Any]:
    """One generated athlete as the sandbox lists it (name, timezone, demo_token...)."""
    import httpx

    athletes = httpx.get(sandbox_url + "/_sandbox/athletes", timeout=60).json()
    return dict(next(a for a in athletes if a["id"] == athlete_id))


def athlete_token(sandbox_url: str, email: str, athlete_id: str = "i100001") -> tuple[Any, str, dict[str, Any]]:
    """(user, raw MCP token, sandbox athlete): a verified user linked to a sandbox athlete, with its URL token.
    Django must be set up."""
    from accounts.actions import ensure_athlete_token, reveal_token

    athlete = sandbox_athlete(sandbox_url, athlete_id)
    user = linked_user(email, athlete_id, athlete["name"], athlete.get("timezone", ""), athlete["demo_token"])
    return user, reveal_token(ensure_athlete_token(user)), athlete  # type: ignore[arg-type]
