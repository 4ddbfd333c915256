"""Parsing of the CLI's dates: ISO 8601, a bare date, naive values read as UTC."""

from __future__ import annotations

from datetime import UTC, datetime

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
