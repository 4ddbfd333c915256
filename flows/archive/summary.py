"""What one archive run did, for people (markdown/rich) and machines (JSON)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from flows.archive.steps import DiscoverReport, Outcome, StepReport
from flows.archive.transcripts import TranscriptReport

log = logging.getLogger(__name__)

_MAX_LISTED_PROBLEMS = 20


@dataclass
class RunSummary:
    started_at: datetime
    finished_at: datetime | None = None
    since: datetime | None = None
    until: datetime | None = None
    listed: int = 0
    new: int = 0
    updated: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    catalog: dict[str, int] = field(default_factory=dict)
    downloaded_bytes: int = 0
    uploaded_bytes: int = 0
    step_seconds: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)
    source_stats: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # why the run stopped early, if it did
    # Recordings kept waiting (or kept at all) on an answer nobody documented, by kind: an
    # unknown recordingStatus, media type or status code, a metadata id that is not a number.
    needs_attention: Counter[str] = field(default_factory=Counter)
    # Conversation transcripts: stored (a new version), unchanged, failed.
    transcripts: Counter[str] = field(default_factory=Counter)

    def add_transcripts(self, report: TranscriptReport) -> None:
        self.transcripts.update(report.outcomes)
        for conversation_id, error in report.errors:
            if len(self.problems) < _MAX_LISTED_PROBLEMS:
                self.problems.append((f"transcript {conversation_id}", error))

    def add_discovery(self, report: DiscoverReport) -> None:
        self.since, self.until = report.since, report.until
        self.listed, self.new, self.updated = report.listed, report.new, report.updated
        for kind, count in report.attention.items():
            self._attention(kind, count, "-")

    def _attention(self, kind: str, count: int, recording_id: str) -> None:
        if kind not in self.needs_attention:  # one warning per kind per run
            log.warning(
                "needs attention kind=%r first recording_id=%s (counted in the run summary)",
                kind,
                recording_id,
            )
        self.needs_attention[kind] += count

    def add(self, report: StepReport) -> None:
        if report.attention:
            self._attention(report.attention, 1, report.recording_id)
        self.outcomes[report.outcome.value] += 1
        self.downloaded_bytes += report.downloaded_bytes
        self.uploaded_bytes += report.uploaded_bytes
        self.step_seconds.update(report.seconds)
        problem = report.outcome in (Outcome.FAILED, Outcome.QUARANTINED, Outcome.RETRY)
        if problem and len(self.problems) < _MAX_LISTED_PROBLEMS:
            self.problems.append((report.recording_id, report.error or report.state.value))

    @property
    def wall_s(self) -> float:
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "finished_at", "since", "until"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        data["outcomes"] = dict(self.outcomes)
        data["needs_attention"] = dict(self.needs_attention)
        data["transcripts"] = dict(self.transcripts)
        data["step_seconds"] = {k: round(v, 3) for k, v in self.step_seconds.items()}
        data["problems"] = [{"recording_id": r, "error": e} for r, e in self.problems]
        data["wall_s"] = round(self.wall_s, 3)
        return data

    def to_markdown(self) -> str:
        lines = [
            "# recvault archive run" + (" (failed)" if self.error else ""),
            "",
            *([f"**The run stopped: {self.error}**", ""] if self.error else []),
            f"Window: {self.since:%Y-%m-%d %H:%M} → {self.until:%Y-%m-%d %H:%M} UTC"
            if self.since and self.until
            else "Window: -",
            f"Listed {self.listed} (new {self.new}, updated {self.updated}) "
            f"in {self.wall_s:.1f} s; downloaded {self.downloaded_bytes:,} bytes, "
            f"uploaded {self.uploaded_bytes:,} bytes.",
            "",
            "| this run | count |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in sorted(self.outcomes.items())),
            "",
            "| catalog state | count |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in sorted(self.catalog.items())),
        ]
        if self.transcripts:
            lines += ["", "| transcripts | conversations |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in sorted(self.transcripts.items())]
        if self.needs_attention:
            lines += ["", "| needs attention | recordings |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in sorted(self.needs_attention.items())]
        if self.problems:
            lines += ["", "| recording | problem |", "|---|---|"]
            lines += [f"| {r} | {e} |" for r, e in self.problems]
        return "\n".join(lines)
