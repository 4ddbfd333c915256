"""Steps on the source side: from a listed recording to verified bytes in the work dir.

DISCOVERED -> (video) PREPARING -> READY -> DOWNLOADED, or FAILED / QUARANTINED with the reason.
"""

from __future__ import annotations

from pathlib import Path

from flows.archive.common import Outcome, S, StepReport, StepResult, defer, fail, move
from flows.archive.deps import Deps
from models.errors import (
    MediaError,
    RecordingNotReady,
    SourceNotFound,
    WorkDirError,
)
from models.tables import Recording
from storage import media
from storage.infobip.client import DownloadResult

SOURCE_FINAL_STATUSES = frozenset({"SUCCESSFUL", "PARTIALLY_FAILED"})
SOURCE_FAILED_STATUSES = frozenset({"FAILED"})


def prepare(deps: Deps, row: Recording, report: StepReport) -> StepResult:
    if row.source_deleted_at is not None:
        return fail(deps, row, "deleted at the source before it was archived", retryable=False)
    status = (row.recording_status or "SUCCESSFUL").upper()
    if status in SOURCE_FAILED_STATUSES:
        return fail(deps, row, f"recording status at the source is {status}", retryable=False)
    if status not in SOURCE_FINAL_STATUSES:
        refreshed = deps.infobip.get_recording(row.recording_id)
        status = (refreshed.recording_status or "").upper()
        if status not in SOURCE_FINAL_STATUSES:
            deferred = defer(
                deps,
                row,
                f"source status {status or 'unknown'}",
                deps.settings.not_ready_retry_s,
                recording_status=refreshed.recording_status,
            )
            return deferred, Outcome.WAITING
        row = move(
            deps, row, S.DISCOVERED, "source_updated", recording_status=refreshed.recording_status
        )
    if row.media_type != "AUDIO_AND_VIDEO":
        return move(deps, row, S.READY, "ready"), None
    prep = deps.infobip.request_video_preparation(row.recording_id)
    if prep.status == "READY":
        return move(deps, row, S.READY, "ready", preparation_status=prep.status), None
    if prep.status == "FAILED":
        # As when a poll sees FAILED: the next attempt asks again; max_attempts bounds it.
        return fail(
            deps, row, f"video preparation failed: {prep.reason or 'no reason'}", retryable=True
        )
    row = move(deps, row, S.PREPARING, "preparation_requested", preparation_status=prep.status)
    return defer(deps, row, "video preparation in progress", deps.settings.prepare_poll_s), (
        Outcome.WAITING
    )


def poll_preparation(deps: Deps, row: Recording, report: StepReport) -> StepResult:
    prep = deps.infobip.get_video_preparation(row.recording_id)
    if prep.status == "READY":
        return move(deps, row, S.READY, "ready", preparation_status=prep.status), None
    if prep.status == "FAILED":
        # Retryable: the next attempt requests preparation again; max_attempts bounds it.
        return fail(
            deps,
            row,
            f"video preparation failed: {prep.reason or 'no reason'}",
            retryable=True,
            reset_to=S.DISCOVERED,
        )
    if prep.status == "NOT_REQUESTED":
        return move(deps, row, S.DISCOVERED, "preparation_lost"), None
    deferred = defer(
        deps,
        row,
        "video preparation in progress",
        deps.settings.prepare_poll_s,
        preparation_status=prep.status,
    )
    return deferred, Outcome.WAITING


def original_path(deps: Deps, row: Recording) -> Path:
    return deps.workdir.folder(row.recording_id) / f"original.{_extension(row)}"


def _extension(row: Recording) -> str:
    name = row.filename or ""
    if "." in name:
        ext = name.rsplit(".", 1)[1].lower()
        if ext.isalnum() and len(ext) <= 5:
            return ext
    return "mp4" if row.media_type == "AUDIO_AND_VIDEO" else "wav"


def _download(deps: Deps, recording_id: str, dest: Path) -> DownloadResult:
    """Download into ``dest`` (resuming what is there) within the work dir's space limit."""
    guard = deps.workdir.guard(dest)
    try:
        guard.start()
        return deps.infobip.download(recording_id, dest, on_progress=guard)
    except (WorkDirError, OSError) as exc:
        # A partial file kept for resuming would hold the space every other recording needs.
        dest.unlink(missing_ok=True)
        if isinstance(exc, WorkDirError):
            raise
        # The client translates its own writes; closing its buffered file can still fail.
        raise WorkDirError(f"work file {dest}: {exc.strerror or exc}") from exc
    finally:
        guard.done()


def _confirm_resumed(deps: Deps, row: Recording, part: Path) -> DownloadResult:
    """A second, separate download of a recording whose first download needed a resume.

    A resumed file is stitched from two or more responses; if the source changed its bytes in
    between, the stitch is a file that never existed at the source, and hashing it as it grew
    cannot tell. Equal hashes of two independent downloads prove the stitch; different ones
    prove the source changed, and the caller quarantines the recording with both hashes.
    The confirmation starts from nothing and is deleted at once (it only needs its hash).
    """
    confirm = part.with_name(part.name.removesuffix(".part") + ".confirm")
    confirm.unlink(missing_ok=True)
    try:
        return _download(deps, row.recording_id, confirm)
    finally:
        confirm.unlink(missing_ok=True)


def download(deps: Deps, row: Recording, report: StepReport) -> StepResult:
    final = original_path(deps, row)
    part = final.with_name(final.name + ".part")
    try:
        result = _download(deps, row.recording_id, part)
        if result.resumes:
            second = _confirm_resumed(deps, row, part)
            report.downloaded_bytes += second.size_bytes
            if second.sha256 != result.sha256:
                part.unlink(missing_ok=True)
                quarantined = move(
                    deps,
                    row,
                    S.QUARANTINED,
                    "source_changed",
                    detail={
                        "first_sha256": result.sha256,
                        "second_sha256": second.sha256,
                        "first_resumes": result.resumes,
                        "why": "a resumed download and a separate full download differ",
                    },
                    source_sha256=result.sha256,
                    source_size_bytes=result.size_bytes,
                    conflicting_sha256=second.sha256,
                    last_error="the source served different bytes on two downloads",
                )
                return quarantined, Outcome.QUARANTINED
    except RecordingNotReady as exc:
        deferred = defer(deps, row, str(exc), deps.settings.prepare_poll_s)
        return move(deps, deferred, S.DISCOVERED, "not_prepared"), Outcome.WAITING
    except SourceNotFound as exc:
        meta = deps.infobip.get_recording(row.recording_id)  # raises SourceNotFound if gone
        if meta.deleted_at is not None:
            raise SourceNotFound("deleted at the source before it was archived") from exc
        # Listed as final but no media: Infobip does this for a while after a call; each such
        # answer counts as an attempt, so a file that never appears ends FAILED, not pending.
        return fail(deps, row, f"download answered 404: {exc}", retryable=True)
    report.downloaded_bytes += result.size_bytes
    part.replace(final)
    if row.source_sha256 and row.source_sha256 != result.sha256:
        final.unlink(missing_ok=True)
        quarantined = move(
            deps,
            row,
            S.QUARANTINED,
            "source_changed",
            detail={"first_sha256": row.source_sha256, "second_sha256": result.sha256},
            conflicting_sha256=result.sha256,
            last_error="the source served different bytes on two downloads",
        )
        return quarantined, Outcome.QUARANTINED
    try:
        info = media.probe(final)
    except MediaError as exc:
        quarantined = move(
            deps,
            row,
            S.QUARANTINED,
            "unreadable_media",
            detail={"sha256": result.sha256, "stderr_tail": exc.stderr_tail[-500:]},
            source_sha256=result.sha256,
            source_size_bytes=result.size_bytes,
            last_error=f"ffprobe cannot read the downloaded file: {exc}",
        )
        return quarantined, Outcome.QUARANTINED
    moved = move(
        deps,
        row,
        S.DOWNLOADED,
        "downloaded",
        detail={
            "sha256": result.sha256,
            "size_bytes": result.size_bytes,
            "resumes": result.resumes,
        },
        source_sha256=result.sha256,
        source_size_bytes=result.size_bytes,
        probe=info.as_dict(),
    )
    return moved, None
