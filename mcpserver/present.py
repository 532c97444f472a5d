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
