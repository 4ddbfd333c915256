"""What an auditor may ask of the catalog, as plain values: recording searches and audit reads.

The CLI and the auditor API build these from their inputs; ``storage/catalog/search.py`` turns
them into SQL. Keeping them here (no I/O) means both surfaces validate the same way and a
query can be logged or hashed into an audit event without touching the database.

Id filters (recording, conversation, call) match the whole id; a trailing ``*`` or ``…`` (the
CLI's tables shorten ids with one) makes them match every id that starts with the text.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

from models.errors import ConfigError
from models.tables import ArchivedObject, Recording

SortKey = Literal["started", "duration", "recording", "conversation", "status"]
SORT_KEYS: tuple[str, ...] = get_args(SortKey)
MEDIA_TYPES = {"AUDIO": "AUDIO", "VIDEO": "AUDIO_AND_VIDEO", "AUDIO_AND_VIDEO": "AUDIO_AND_VIDEO"}
PREFIX_MARKS = ("*", "…", "...")
MIN_PREFIX = 4  # shorter prefixes match too much to be what anyone meant
_WORD = re.compile(r"\w+")


def name_words(name: str | None) -> list[str]:
    """The case-folded words of a name, each once: "Martin, Hugo" → hugo, martin."""
    return sorted({w[:256] for w in _WORD.findall((name or "").casefold())})


@dataclass(frozen=True)
class IdMatch:
    """One id filter: the whole id, or every id starting with ``value`` when ``prefix``."""

    value: str
    prefix: bool = False

    @classmethod
    def parse(cls, text: str, *, option: str) -> IdMatch:
        value = text.strip()
        for mark in PREFIX_MARKS:
            if value.endswith(mark):
                stem = value.removesuffix(mark)
                if len(stem) < MIN_PREFIX:
                    raise ConfigError(
                        f"{option}: a prefix needs at least {MIN_PREFIX} characters, got {stem!r}"
                    )
                return cls(stem, prefix=True)
        if not value:
            raise ConfigError(f"{option} must not be empty")
        return cls(value)


@dataclass(frozen=True)
class RecordingQuery:
    """Filters (all must hold), order and page of a recording search."""

    recording_id: IdMatch | None = None
    conversation_id: IdMatch | None = None
    call_id: IdMatch | None = None
    agent: str | None = None  # conversations with an AGENT leg of this id, identity or name
    participant: str | None = None  # conversations in which this participant took part
    direction: str | None = None
    queue: str | None = None  # transferred from or to this queue
    media_type: str | None = None  # AUDIO or AUDIO_AND_VIDEO
    status: str | None = None  # a public status (PENDING = any in-progress state)
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: SortKey = "started"
    descending: bool = False
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware UTC")
        if self.sort not in SORT_KEYS:
            raise ConfigError(f"--sort: {self.sort!r} is not one of {', '.join(SORT_KEYS)}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("--limit must be at least 1")
        if self.offset < 0:
            raise ConfigError("--offset must not be negative")

    @property
    def id_filters(self) -> dict[str, IdMatch]:
        found = {
            "recording_id": self.recording_id,
            "conversation_id": self.conversation_id,
            "call_id": self.call_id,
        }
        return {name: match for name, match in found.items() if match is not None}

    def as_prefixes(self) -> RecordingQuery | None:
        """The same query with its whole-id filters widened to prefixes (None: nothing to
        widen), for the second try after a whole-id search found nothing."""
        widened = {
            name: IdMatch(m.value, prefix=True)
            for name, m in self.id_filters.items()
            if not m.prefix and len(m.value) >= MIN_PREFIX
        }
        return replace(self, **widened) if widened else None  # type: ignore[arg-type]

    def unpaged(self) -> RecordingQuery:
        return replace(self, limit=None, offset=0)

    def describe(self) -> dict[str, Any]:
        """The filters that were given, as JSON values: what an audit event records. A
        participant or agent is personal data and appears only as ``given``."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if value in (None, 0, False) or name in ("sort",):
                continue
            if name in ("agent", "participant"):
                out[name] = "given"
            elif isinstance(value, datetime):
                out[name] = value.isoformat()
            elif isinstance(value, dict):
                out[name] = value["value"] + ("*" if value["prefix"] else "")
            else:
                out[name] = value
        return out


def media_type(text: str) -> str:
    """``audio``, ``video`` or Infobip's own word, as the catalog stores it."""
    key = text.strip().upper()
    if key not in MEDIA_TYPES:
        raise ConfigError(f"--media-type: {text!r} is not audio, video or AUDIO_AND_VIDEO")
    return MEDIA_TYPES[key]


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit trail read; events come in chain (id) order."""

    recording_id: IdMatch | None = None
    event: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_id: int = 0
    limit: int | None = None
    newest_first: bool = False


@dataclass(frozen=True)
class SearchResult:
    """One page of a search and how many match in all; ``widened`` names the id filters that
    matched as prefixes only because no whole id matched (the caller tells the user so)."""

    rows: list[tuple[Recording, list[ArchivedObject]]]
    total: int
    widened: tuple[str, ...] = ()
