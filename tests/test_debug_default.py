"""DEBUG unset (or empty) means production: without its secrets the app refuses to start, with them it
runs with DEBUG off. Only the embedded default (`make run`) and the test run ask for DEBUG=1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.stack_helpers import ROOT, production_env

pytestmark = pytest.mark.django_db  # production_env reads the test database's name

SHOW_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.SANDBOX_ENABLED, s.SECRET_KEY.startswith('dev-insecure'))"
)


def run_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**env, "DJANGO_SETTINGS_MODULE": "config.settings"}
    return subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("debug", [None, ""])
def test_it_refuses_to_start_without_secrets_when_debug_is_unset(debug: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    for name in ("DEBUG", "SECRET_KEY", "ENCRYPTION_KEYS", "INTERVALS_CLIENT_ID", "INTERVALS_CLIENT_SECRET"):
        env.pop(name, None)
    if debug is not None:
        env["DEBUG"] = debug
    result = run_settings(env)
    assert result.returncode != 0
    assert "Refusing to start with DEBUG off; missing: ENCRYPTION_KEYS" in result.stderr


def test_it_runs_with_debug_off_when_debug_is_unset_and_the_secrets_are_there() -> None:
    env = production_env(SITE_URL="https://threshold.example")
    env.pop("DEBUG")
    result = run_settings(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False"]


def test_it_asks_for_debug_explicitly_in_the_embedded_default() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "DEBUG": ""}
    )
    commands = [line for line in dry_run.stdout.splitlines() if "manage.py" in line or "uvicorn" in line]
    assert len(commands) == 3, dry_run.stdout
    assert all(line.startswith("DEBUG=1 ") for line in commands), commands
