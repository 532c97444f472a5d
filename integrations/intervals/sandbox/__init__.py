"""A faithful, stateful Intervals.icu sandbox (ASGI) for demos, tests and benchmarks.

Layout: ``config`` (SandboxConfig) · ``athletes`` (seeded people, sport settings) · ``plans`` (session
templates → workout text + segments) · ``physics`` (summaries, laps, streams, curves from segments) ·
``history`` (per-athlete generation) · ``extern`` (adapters to ``workouts.py`` / ``load.py``) · ``state``
(SandboxState: data, OAuth grants, faults, accounting, persistence) · ``http`` / ``api`` / ``oauth`` /
``app`` (the Starlette app) · ``openapi_check`` (validate responses against the vendored OpenAPI doc) ·
``__main__`` (standalone uvicorn).
"""

from .config import SandboxConfig
from .state import SandboxState

__all__ = ["SandboxConfig", "SandboxState", "create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
