"""How the CLI shows catalog rows and run summaries: JSON for machines, tables for people."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from models.states import RecordingState, public_status

if TYPE_CHECKING:
    from flows.archive.summary import RunSummary
    from flows.verify.steps import VerifyReport
    from models.tables import ArchivedObject, ConversationTranscript, Recording


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def transcript_json(transcript: ConversationTranscript | None) -> dict[str, Any] | None:
    """The conversation's transcript, shaped like an archived object with kind
    ``transcript`` (plus its message count and status)."""
    if transcript is None:
        return None
    return {
        "bucket": transcript.bucket,
        "key": transcript.key,
        "version_id": transcript.version_id,
        "sha256": transcript.sha256,
        "size": transcript.size_bytes,
        "kind": "transcript",
        "content_type": "application/json",
        "message_count": transcript.message_count,
        "last_message_at": _iso(transcript.last_message_at),
        "versions": transcript.versions,
        "status": transcript.status,
        "retain_until": _iso(transcript.retain_until),
        "verified_at": _iso(transcript.verified_at),
    }


def recording_json(
    row: Recording,
    objects: list[ArchivedObject],
    transcript: ConversationTranscript | None = None,
) -> dict[str, Any]:
    """The catalog search element of the README's contract (plus a few useful extras, and
    the conversation's transcript beside ``objects``)."""
    return {
        "recording_id": row.recording_id,
        "conversation_id": row.conversation_id,
        "call_id": row.call_id,
        "conference_id": row.conference_id,
        "source": row.source,
        "media_type": row.media_type,
        "started_at": _iso(row.started_at),
        "duration_seconds": row.duration_s,
        "status": public_status(RecordingState(row.state)),
        "state": str(row.state),
        "direction": row.direction,
        "participant_type": row.participant_type,
        "participant_id": row.participant_id,
        "participant_identity": row.participant_identity,
        "participant_name": row.participant_name,
        "source_sha256": row.source_sha256,
        "source_size_bytes": row.source_size_bytes,
        "conflicting_sha256": row.conflicting_sha256,
        "archived_at": _iso(row.archived_at),
        "policy_rule": row.policy_rule,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "objects": [
            {
                "bucket": o.bucket,
                "key": o.key,
                "version_id": o.version_id,
                "sha256": o.sha256,
                "size": o.size_bytes,
                "kind": o.kind,
                "content_type": o.content_type,
                "codec": o.codec,
                "retain_until": _iso(o.retain_until),
                "verified_at": _iso(o.verified_at),
            }
            for o in objects
        ],
        "transcript": transcript_json(transcript),
    }


def _short(value: str | None, width: int = 8) -> str:
    """Ids shortened for the table (``--json`` has them whole)."""
    if not value:
        return ""
    return value if len(value) <= width + 1 else value[:width] + "…"


def _reason(row: Recording) -> str:
    """Why a recording is not archived (the last error), so a FAILED line explains itself."""
    if row.state in (RecordingState.ARCHIVED, RecordingState.SOURCE_DELETED):
        return ""
    text = row.last_error or row.expired_reason or ""
    return text if len(text) <= 60 else text[:59] + "…"


def recordings_table(rows: list[tuple[Recording, list[ArchivedObject]]]) -> Table:
    table = Table(title=f"{len(rows)} recording(s)", show_lines=False)
    for column in (
        "started (UTC)",
        "recording",
        "conversation",
        "media",
        "party",
        "dur",
        "status",
        "sha256",
        "objects",
        "reason",
    ):
        table.add_column(column, no_wrap=column not in ("objects", "reason"))
    for row, objects in rows:
        table.add_row(
            f"{row.started_at:%Y-%m-%d %H:%M}",
            _short(row.recording_id),
            _short(row.conversation_id),
            "video" if row.media_type == "AUDIO_AND_VIDEO" else "audio",
            (row.participant_type or "").lower(),
            f"{row.duration_s}s" if row.duration_s is not None else "",
            public_status(RecordingState(row.state)),
            (row.source_sha256 or "")[:10],
            "+".join("orig" if o.kind == "original" else "deriv" for o in objects),
            _reason(row),
        )
    return table


def print_summary(console: Console, summary: RunSummary) -> None:
    table = Table(title="archive run", show_header=True)
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("listed", str(summary.listed))
    table.add_row("new in catalog", str(summary.new))
    for outcome, count in sorted(summary.outcomes.items()):
        table.add_row(f"this run: {outcome}", str(count))
    for state, count in sorted(summary.catalog.items()):
        table.add_row(f"catalog: {state}", str(count))
    for kind, count in sorted(summary.needs_attention.items()):
        table.add_row(f"needs attention: {kind}", str(count))
    for outcome, count in sorted(summary.transcripts.items()):
        table.add_row(f"transcripts: {outcome}", str(count))
    table.add_row("downloaded", f"{summary.downloaded_bytes:,} B")
    table.add_row("uploaded", f"{summary.uploaded_bytes:,} B")
    for name, key in (
        ("source retries", "retries"),
        ("rate limited", "rate_limited"),
        ("resumed downloads", "resumes"),
    ):
        if summary.source_stats.get(key):
            table.add_row(name, str(summary.source_stats[key]))
    table.add_row("wall time", f"{summary.wall_s:.1f} s")
    console.print(table)
    for recording_id, error in summary.problems:
        console.print(f"[yellow]problem[/] {recording_id}: {error}")


def print_verify_report(console: Console, report: VerifyReport) -> None:
    console.print(
        f"verified {report.objects} object(s) of {report.recordings} recording(s) and "
        f"{report.transcripts} transcript(s), {report.bytes_read:,} bytes re-read"
    )
    if report.ok:
        console.print("[green]no problems found[/]")
        return
    table = Table(title=f"{len(report.problems)} problem(s)")
    for column in ("recording", "key", "problem"):
        table.add_column(column)
    for p in report.problems:
        table.add_row(p.recording_id or "-", p.key, p.problem)
    console.print(table)
