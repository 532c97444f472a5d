"""Build the Intervals.icu sandbox as the embedded default mounts it (same process, persistent state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings


def sandbox_config(**overrides: Any) -> Any:
    from integrations.intervals.sandbox import SandboxConfig

    options: dict[str, Any] = {
        "clients": {settings.INTERVALS_CLIENT_ID: (settings.INTERVALS_CLIENT_SECRET, None)},
        "state_file": settings.SANDBOX_STATE_FILE or None,
    }
    options.update(overrides)
    if options["state_file"]:
        Path(options["state_file"]).parent.mkdir(parents=True, exist_ok=True)
    return SandboxConfig(**options)


def embedded_sandbox() -> Any:
    from integrations.intervals.sandbox.app import create_app

    return create_app(config=sandbox_config())
