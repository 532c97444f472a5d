"""The dates a tool argument may name, checked where the argument enters (its pydantic model).

Every date a model sends sizes work somewhere: a window to fetch, a day-by-day projection to run, a date
to write. Ranges are capped where they are used (MCP_HISTORY_MAX_DAYS for windows, PROJECTION_DAYS for
projections); this module refuses the absurd ends first, year 1 and year 9999, with one message naming
the window, so no date arithmetic downstream can overflow and no loop runs to the year 9999.

The window is wide on purpose: from 1970 (no training file is older) to two years ahead (a race can be
booked that far out). The upper end is counted from today in UTC, a day's difference from the athlete's
own calendar at most: the tools check the tighter rules (not in the past, projections within 180 days)
against the athlete's own today.

Pure: no Django, no I/O.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

EARLIEST_DATE = date(1970, 1, 1)
AHEAD_YEARS = 2  # a race booked two years out still fits
PROJECTION_DAYS = 180  # fitness projections (get_fitness, the write tools' projected form) reach this far


def utc_today() -> date:
    return datetime.now(tz=UTC).date()


def latest_date(today: date | None = None) -> date:
    """The same day AHEAD_YEARS on (29 February: the 28th)."""
    today = today or utc_today()
    try:
        return today.replace(year=today.year + AHEAD_YEARS)
    except ValueError:
        return today.replace(year=today.year + AHEAD_YEARS, day=28)


def window_text(today: date | None = None) -> str:
    return f"{EARLIEST_DATE.isoformat()} to {latest_date(today).isoformat()} (two years ahead)"


def check_date(value: date) -> date:
    """The date itself, or a ValueError whose message names the window (pydantic shows it per argument)."""
    if not EARLIEST_DATE <= value <= latest_date():
        raise ValueError(f"{value.isoformat()} is outside the dates Threshold accepts: {window_text()}")
    return value


# A date argument: same JSON schema as `date` (nothing more to publish), refused outside the window.
BoundedDate = Annotated[date, AfterValidator(check_date)]


def parse_bounded(text: str) -> date | None:
    """A 'YYYY-MM-DD' inside the window, or None (not a date, or outside it)."""
    try:
        return check_date(date.fromisoformat(text))
    except ValueError:
        return None


SHORT_TEXT = 100
# A filter or search text (a sport, "name contains", an id): at most SHORT_TEXT characters. It is part of the
# key a read's answer is remembered under (catalogue._answer_key): a megabyte filter must not make a
# megabyte key. The published schema stays a plain string (the bound costs every tools/list nothing).
ShortText = Annotated[str, StringConstraints(max_length=SHORT_TEXT), WithJsonSchema({"type": "string"})]
