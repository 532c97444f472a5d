"""Model-facing formatting: compact, athlete-local, units spelled out. Pure functions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def zone(tz_name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_today(tz_name: str | None, now: datetime | None = None) -> date:
    """Today's date in the athlete's time zone (not the server's, not UTC)."""
    current = now or datetime.now(tz=ZoneInfo("UTC"))
    return current.astimezone(zone(tz_name)).date()


def day_label(d: date) -> str:
    """'Mon 2026-11-16': the weekday removes a whole class of off-by-one mistakes."""
    return f"{WEEKDAYS[d.weekday()]} {d.isoformat()}"


def parse_local(value: str | None) -> datetime | None:
    """Parse an Intervals local timestamp ('2026-11-16T07:32:00' or a bare date)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            return datetime.combine(date.fromisoformat(value[:10]), datetime.min.time())
        except ValueError:
            return None


def hms(seconds: float | int | None) -> str | None:
    """Durations as h:mm:ss (or m:ss under an hour)."""
    if seconds is None:
        return None
    total = round(seconds)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def km(meters: float | None) -> float | None:
    return None if meters is None else round(meters / 1000.0, 2)


def rnd(value: float | None, digits: int = 0) -> float | int | None:
    if value is None:
        return None
    return round(value) if digits == 0 else round(value, digits)


def date_range(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def compact(obj: object) -> object:
    """Drop None values and empty containers recursively: absent means unknown, never zero."""
    if isinstance(obj, dict):
        out = {k: compact(v) for k, v in obj.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(obj, list):
        return [compact(v) for v in obj]
    return obj


# --- text written by people or devices ---------------------------------------------------------------
# Names, descriptions, comments, notes and messages come from the athlete, their coach, a stranger who
# sent an invite, or a device. They reach the model as data, never as Threshold's own words: in the
# structured answer each such value is the object {"untrusted": "..."} (one shape in every tool, at the
# place the value belongs, so key-based redaction still applies), and in the one-line text it is fenced
# between « and ». Error messages never carry such text at all. The server instructions say what both mean.

UNTRUSTED = "untrusted"
FENCE_OPEN, FENCE_CLOSE = "«", "»"


def untrusted(text: object, limit: int | None = None) -> dict[str, str] | None:
    """{"untrusted": text} (cut to `limit` characters), or None when there is no text (absent, not empty)."""
    if text is None:
        return None
    value = str(text)
    if not value.strip():
        return None
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return {UNTRUSTED: value}


def fence(text: object, limit: int = 80) -> str:
    """Free text inside a one-line rendering: on one line, cut, between « » that it cannot close itself."""
    value = " ".join(str(text or "").split())
    value = value.replace(FENCE_OPEN, "\u2039").replace(FENCE_CLOSE, "\u203a")  # single guillemets
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return f"{FENCE_OPEN}{value}{FENCE_CLOSE}"
