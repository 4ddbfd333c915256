"""Parsing of the CLI's dates: ISO 8601, a bare date, naive values read as UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.errors import ConfigError


def parse_when(value: str | None, *, option: str) -> datetime | None:
    if value is None:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{option}: {value!r} is not an ISO 8601 date; use e.g. 2026-01-31 or "
            "2026-01-31T09:00:00Z"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check_window(since: datetime | None, until: datetime | None) -> None:
    if since and until and since >= until:
        raise ConfigError(
            f"--since ({since.isoformat()}) must be before --until ({until.isoformat()})"
        )


_UNITS = {"d": 86400, "h": 3600, "m": 60}


def parse_chunk(value: str) -> timedelta:
    """``1d``, ``6h``, ``30m``: a backfill's chunk length, at least a minute."""
    text = value.strip().lower()
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) == 0:
        raise ConfigError(f"--chunk: {value!r} is not a length; use e.g. 1d, 6h or 30m")
    seconds = int(number) * _UNITS[unit]
    if seconds > 366 * 86400:
        raise ConfigError(f"--chunk: {value!r} is longer than a year; use at most 366d")
    return timedelta(seconds=seconds)
