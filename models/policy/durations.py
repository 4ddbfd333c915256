"""Retention durations as written in a policy: ``7y``, ``90d`` or ISO 8601 ``P1Y6M``.

Calendar arithmetic, so a year is a year (29 February plus one year is 28 February).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Target = Literal["opus", "mp3", "mp4"]
MAX_YEARS = 100  # keeps every retain-until date far from datetime's year 9999
MAX_DAYS = MAX_YEARS * 366  # the same bound for counts of days (delete_source, transitions)
DURATION_HINT = "a duration like 7y or 90d"

_SHORT = re.compile(r"(\d+)([yd])", re.IGNORECASE)
_ISO = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?", re.IGNORECASE)


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0

    def __str__(self) -> str:
        if not self.months and not (self.years and self.days):
            return f"{self.years}y" if self.years else f"{self.days}d"
        parts = ((self.years, "Y"), (self.months, "M"), (self.days, "D"))
        return "P" + "".join(f"{n}{unit}" for n, unit in parts if n)

    @property
    def min_days(self) -> int:
        """The fewest days this duration can span on the calendar (365-day years, 28-day
        months), for comparing it with a number of days whatever the start date."""
        return self.years * 365 + self.months * 28 + self.days

    def after(self, start: datetime) -> datetime:
        """``start`` plus this duration on the calendar; the day is clamped to the month's
        length, so 29 February plus one year is 28 February."""
        total_months = start.month - 1 + self.years * 12 + self.months
        year, month = start.year + total_months // 12, total_months % 12 + 1
        day = min(start.day, _days_in_month(year, month))
        return start.replace(year=year, month=month, day=day) + timedelta(days=self.days)


def _days_in_month(year: int, month: int) -> int:
    first_of_next = datetime(year + month // 12, month % 12 + 1, 1)
    return (first_of_next - timedelta(days=1)).day


def parse_duration(value: object) -> Duration:
    """``7y``, ``90d``, or ISO 8601 ``P5Y``, ``P6M``, ``P2W``, ``P1Y30D``."""
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not {DURATION_HINT} (write it as a quoted string)")
    text = value.strip()
    duration: Duration | None = None
    if m := _SHORT.fullmatch(text):
        n = int(m.group(1))
        duration = Duration(years=n) if m.group(2).lower() == "y" else Duration(days=n)
    elif (m := _ISO.fullmatch(text)) and any(m.groups()):
        y, mo, w, d = (int(g) if g else 0 for g in m.groups())
        duration = Duration(years=y, months=mo, days=w * 7 + d)
    if duration is None:
        raise ValueError(f"{value!r} is not {DURATION_HINT}")
    if duration == Duration():
        raise ValueError(f"{value!r} is zero; a retention must be at least 1d")
    if duration.years + duration.months / 12 + duration.days / 365 > MAX_YEARS:
        raise ValueError(f"{value!r} is longer than {MAX_YEARS} years")
    return duration
