"""Steps on the source side: from a listed recording to verified bytes in the work dir.

DISCOVERED -> (video) PREPARING -> READY -> DOWNLOADED, or FAILED / QUARANTINED with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.archive.common import (
    Outcome,
    S,
    StepReport,
    StepResult,
    defer,
    fail,
    move,
    stage,
)
from flows.services import Services
from models.errors import (
    MediaError,
    MediaTimeout,
    MediaToolMissing,
    RecordingNotReady,
    SourceNotFound,
    WorkDirError,
)
from models.ports import Download, Readiness
from models.tables import Recording
from storage import media

# A larger download is committed on its own: a crash during its transcode or upload must not
# cost the download again.
STAGE_DOWNLOAD_MAX_BYTES = 2 * 1024 * 1024


def prepare(deps: Services, row: Recording, report: StepReport) -> StepResult:
    """DISCOVERED or PREPARING: ask the source whether the media can be downloaded now."""
    ready = deps.source_for(row).readiness(row)
    report.attention = ready.attention
    fields: dict[str, Any] = {"recording_status": ready.status} if ready.status else {}
    if ready.preparation:
        fields["preparation_status"] = ready.preparation
    if ready.state == Readiness.READY:
        # Left at once for the download: committed with the next commit (models.hops).
        return stage(deps, row, report, S.READY, "ready", **fields)
    if ready.state == Readiness.GONE:
        return fail(deps, row, ready.reason or "gone at the source", retryable=False)
    if ready.state == Readiness.FAILED:
        # A failed preparation is asked again by the next attempt; max_attempts bounds it.
        return fail(
            deps,
            row,
            ready.reason or "failed at the source",
            retryable=ready.retryable,
            reset_to=S.DISCOVERED if row.state == S.PREPARING else None,
        )
    if ready.state == Readiness.PREPARING:
        if row.state != S.PREPARING:
            row = move(deps, row, S.PREPARING, "preparation_requested", **fields)
            fields = {}
        wait_s = deps.settings.prepare_poll_s
    else:
        wait_s = deps.settings.not_ready_retry_s
    deferred = defer(deps, row, ready.reason or "not ready at the source", wait_s, **fields)
    return deferred, Outcome.WAITING


def original_path(deps: Services, row: Recording) -> Path:
    return deps.work.folder(row.recording_id) / f"original.{_extension(row)}"


def _extension(row: Recording) -> str:
    name = row.filename or ""
    if "." in name:
        ext = name.rsplit(".", 1)[1].lower()
        if ext.isalnum() and len(ext) <= 5:
            return ext
    return "mp4" if row.media_type == "AUDIO_AND_VIDEO" else "wav"


def _download(deps: Services, row: Recording, dest: Path) -> Download:
    """Download into ``dest`` (resuming what is there) within the work dir's space limit."""
    guard = deps.work.guard(dest)
    try:
        guard.start()
        return deps.source_for(row).download(row, dest, on_progress=guard)
    except (WorkDirError, OSError) as exc:
        # A partial file kept for resuming would hold the space every other recording needs.
        dest.unlink(missing_ok=True)
        if isinstance(exc, WorkDirError):
            raise
        # The client translates its own writes; closing its buffered file can still fail.
        raise WorkDirError(f"work file {dest}: {exc.strerror or exc}") from exc
    finally:
        guard.done()


def _confirm_changed(deps: Services, row: Recording, part: Path) -> Download:
    """A second, separate download of a recording whose resume found the source changed.

    A resumed file is stitched from two or more responses; the source checks each resume
    against the bytes on disk (an overlap re-read before the offset, and ``If-Range`` where
    it sends validators), so a resume that matched costs nothing more. When one did not, the
    stitch may be a file that never existed at the source: a separate full download tells.
    Different hashes quarantine the recording with both; equal ones (the source answered a
    changed validator with its whole new version) archive it. The confirmation starts from
    nothing and is deleted at once (it only needs its hash).
    """
    confirm = part.with_name(part.name.removesuffix(".part") + ".confirm")
    confirm.unlink(missing_ok=True)
    try:
        return _download(deps, row, confirm)
    finally:
        confirm.unlink(missing_ok=True)


def download(deps: Services, row: Recording, report: StepReport) -> StepResult:
    final = original_path(deps, row)
    part = final.with_name(final.name + ".part")
    try:
        result = _download(deps, row, part)
        if result.changed_at_resume is not None:
            second = _confirm_changed(deps, row, part)
            report.downloaded_bytes += second.size_bytes
            if second.sha256 != result.sha256:
                part.unlink(missing_ok=True)
                quarantined = move(
                    deps,
                    row,
                    S.QUARANTINED,
                    "source_changed",
                    via=report.hops,
                    detail={
                        "first_sha256": result.sha256,
                        "second_sha256": second.sha256,
                        "first_resumes": result.resumes,
                        "changed_at_resume": result.changed_at_resume,
                        "why": "a resumed download and a separate full download differ",
                    },
                    source_sha256=result.sha256,
                    source_size_bytes=result.size_bytes,
                    conflicting_sha256=second.sha256,
                    last_error="the source served different bytes on two downloads",
                )
                return quarantined, Outcome.QUARANTINED
    except RecordingNotReady as exc:
        deferred = defer(deps, row, str(exc), deps.settings.prepare_poll_s, via=report.hops)
        return move(deps, deferred, S.DISCOVERED, "not_prepared"), Outcome.WAITING
    except SourceNotFound as exc:
        again = deps.source_for(row).readiness(row, refresh=True)
        if again.state == Readiness.GONE:
            raise SourceNotFound(again.reason or "gone at the source") from exc
        # Listed as final but no media: Infobip does this for a while after a call; each such
        # answer counts as an attempt, so a file that never appears ends FAILED, not pending.
        return fail(deps, row, f"download answered 404: {exc}", retryable=True, via=report.hops)
    report.downloaded_bytes += result.size_bytes
    part.replace(final)
    if row.source_sha256 and row.source_sha256 != result.sha256:
        final.unlink(missing_ok=True)
        quarantined = move(
            deps,
            row,
            S.QUARANTINED,
            "source_changed",
            via=report.hops,
            detail={"first_sha256": row.source_sha256, "second_sha256": result.sha256},
            conflicting_sha256=result.sha256,
            last_error="the source served different bytes on two downloads",
        )
        return quarantined, Outcome.QUARANTINED
    try:
        info = media.probe(final)
    except (MediaTimeout, MediaToolMissing):
        raise  # the machine's problem, not the file's: retried or the run stops, never quarantined
    except MediaError as exc:
        quarantined = move(
            deps,
            row,
            S.QUARANTINED,
            "unreadable_media",
            via=report.hops,
            detail={"sha256": result.sha256, "stderr_tail": exc.stderr_tail[-500:]},
            source_sha256=result.sha256,
            source_size_bytes=result.size_bytes,
            last_error=f"ffprobe cannot read the downloaded file: {exc}",
        )
        return quarantined, Outcome.QUARANTINED
    detail = {"sha256": result.sha256, "size_bytes": result.size_bytes, "resumes": result.resumes}
    fields: dict[str, Any] = {
        "source_sha256": result.sha256,
        "source_size_bytes": result.size_bytes,
        "probe": info.as_dict(),
    }
    if result.size_bytes <= STAGE_DOWNLOAD_MAX_BYTES:
        # Committed with the archive step's commit: a crash before it costs a download this
        # small again, not a write transaction per recording (models.hops).
        return stage(deps, row, report, S.DOWNLOADED, "downloaded", detail=detail, **fields)
    return move(
        deps, row, S.DOWNLOADED, "downloaded", via=report.hops, detail=detail, **fields
    ), None
