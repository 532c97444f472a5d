"""Configuration of the Intervals.icu sandbox."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


def _default_clients() -> dict[str, tuple[str, list[str] | None]]:
    return {"threshold-dev": ("threshold-dev-secret", None)}


@dataclass
class SandboxConfig:
    """Knobs for a sandbox instance.

    ``clients`` maps an OAuth client id to ``(client_secret, allowed redirect URIs)``; ``None`` accepts
    any ``http://127.0.0.1:<port>/…`` or ``http://localhost:<port>/…`` URI.
    ``today`` anchors the generated history (``None`` → today's date in UTC at construction).
    """

    clients: dict[str, tuple[str, list[str] | None]] = field(default_factory=_default_clients)
    seed: int = 7
    today: dt.date | None = None
    extra_athletes: int = 0
    state_file: str | None = None
    history_days: int = 200
    plan_days: int = 21

    def resolved_today(self) -> dt.date:
        return self.today or dt.datetime.now(dt.UTC).date()
