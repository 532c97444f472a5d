"""The same code on the production shape: DEBUG off, PostgreSQL, Redis, several stateless workers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.client import Client

from tests.conftest import MARA, Sandbox, free_port, make_athlete
from tests.stack_helpers import ROOT, production_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_refuses_to_start_in_production_without_its_secrets() -> None:
    env = production_env()
    for name in ("SECRET_KEY", "ENCRYPTION_KEYS", "INTERVALS_CLIENT_SECRET"):
        env.pop(name)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "missing: ENCRYPTION_KEYS, INTERVALS_CLIENT_SECRET, SECRET_KEY" in result.stderr


@pytest.fixture
def workers(sandbox: Sandbox, settings: Any) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings.SITE_URL = url
    env = production_env(SITE_URL=url, INTERVALS_BASE_URL=sandbox.url, ALLOWED_HOSTS="127.0.0.1")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_it_serves_legacy_and_modern_clients_from_two_stateless_workers(workers: str, sandbox: Sandbox) -> None:
    from accounts.actions import ensure_athlete_token, reveal_token

    row = ensure_athlete_token(make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
    assert row is not None
    url = f"{workers}/mcp/{reveal_token(row)}"

    async def sessions() -> list[int]:
        async def one(mode: str) -> int:
            async with Client(url, mode=mode) as client:  # type: ignore[arg-type]
                tools = await client.list_tools()
                result = await client.call_tool("get_training_history", {})
                assert not result.is_error, result.content
                assert result.structured_content["athlete"]["id"] == MARA  # type: ignore[index]
                return len(tools.tools)

        return await asyncio.gather(*(one("legacy" if i % 2 else "auto") for i in range(12)))

    counts = asyncio.run(sessions())
    assert len(counts) == 12 and len(set(counts)) == 1


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Return once `url`'s liveness probe answers; fail if the server process exits or never answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the server at {url} did not start")
        time.sleep(0.2)


def dockerfile_command() -> list[str]:
    """The CMD of docker/Dockerfile, as the image runs it (a JSON array, possibly over several lines)."""
    import json
    import re

    text = (ROOT / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.search(r"^CMD\s+(\[.*\])\s*$", text, re.MULTILINE)
    assert found, "docker/Dockerfile has no exec-form CMD"
    command: list[str] = json.loads(found.group(1))
    return command


def test_it_serves_mcp_pages_static_files_and_probes_with_the_images_own_command(
    sandbox: Sandbox, settings: Any, tmp_path: Path
) -> None:
    """docker/Dockerfile's CMD (gunicorn managing uvicorn workers) on the production settings, with
    collectstatic's output served by whitenoise. Only the bind address and worker count change."""
    from accounts.actions import ensure_athlete_token, reveal_token

    command = dockerfile_command()
    assert command[:4] == ["sh", "docker/serve.sh", "gunicorn", "config.asgi:application"]
    assert "uvicorn_worker.UvicornWorker" in command
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings.SITE_URL = url
    env = production_env(
        SITE_URL=url,
        INTERVALS_BASE_URL=sandbox.url,
        ALLOWED_HOSTS="127.0.0.1",
        STATIC_ROOT=str(tmp_path),
        DRAIN_SECONDS="0",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    args = list(command)
    args[args.index("--bind") + 1] = f"127.0.0.1:{port}"
    args[args.index("--workers") + 1] = "2"
    args[args.index("gunicorn")] = str(Path(sys.executable).parent / "gunicorn")
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(url, process)
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        css = httpx.get(f"{url}/static/css/site.css", timeout=5)
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]
        assert httpx.get(f"{url}/accounts/login/", timeout=5).status_code == 200
        row = ensure_athlete_token(make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox))
        assert row is not None

        async def call() -> Any:
            async with Client(f"{url}/mcp/{reveal_token(row)}", mode="legacy") as client:
                return await client.call_tool("get_training_history", {})

        result = asyncio.run(call())
        assert not result.is_error and result.structured_content["athlete"]["id"] == MARA  # type: ignore[index]
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_it_describes_the_whole_stack_in_the_compose_file() -> None:
    """docker/compose.yaml (no Docker engine here to run it): every role present, migrations a one-off step
    that web waits for, configuration from the environment, health checks on the real probe paths."""
    import yaml  # type: ignore[import-untyped]

    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) >= {"web", "migrate", "worker", "beat", "db", "redis"}
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    assert services["web"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    for role in ("web", "migrate", "worker", "beat"):
        assert services[role]["env_file"] == ".env" and services[role]["build"]["dockerfile"] == "docker/Dockerfile"
        assert set(services[role]["environment"]) == {"DATABASE_URL", "REDIS_URL"}
    from config.celery import app

    assert app.main == "threshold"  # what `celery -A config` loads
