"""The archive pipeline as plain functions (no Prefect): one recording, one step at a time.

Each step reads the recording's committed state, does one piece of work, and commits the next
state with its audit event in one transaction. A crash between two steps therefore resumes at
the last committed state; work done but not committed (a download, an upload) is found again
and reused rather than repeated: partial downloads resume by Range, uploaded objects are found
by key and hash (``find_verified_copy``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from flows.deps import Deps
from models.errors import (
    CatalogError,
    ChecksumMismatch,
    MediaError,
    PreparationFailed,
    RecordingNotReady,
    RecvaultError,
    SourceNotFound,
    WorkDirError,
)
from models.keys import object_key
from models.policy import RecordingFacts, Rule, derivative_for, retain_until
from models.states import IN_PROGRESS, TERMINAL, VERIFIED, RecordingState
from models.tables import ArchivedObject, Recording
from storage import media
from storage.infobip import DownloadResult
from storage.s3 import ObjectInfo

log = logging.getLogger(__name__)

S = RecordingState
SOURCE_FINAL_STATUSES = frozenset({"SUCCESSFUL", "PARTIALLY_FAILED"})
SOURCE_FAILED_STATUSES = frozenset({"FAILED"})
_HASH_CHUNK = 1024 * 1024


class Outcome(StrEnum):
    ARCHIVED = "archived"  # reached ARCHIVED in this call
    WAITING = "waiting"  # deferred: not ready or preparing; picked up again later
    RETRY = "retry"  # an attempt failed; retried later
    FAILED = "failed"
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"  # nothing to do (already done, or claimed by another worker)


@dataclass
class StepReport:
    recording_id: str
    outcome: Outcome
    state: RecordingState
    downloaded_bytes: int = 0
    uploaded_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class DiscoverReport:
    listed: int
    new: int
    updated: int
    since: datetime
    until: datetime


# --- discover --------------------------------------------------------------------------------


def discover(deps: Deps, *, since: datetime, until: datetime, batch: int = 500) -> DiscoverReport:
    """List the window (widened by the overlap margin) and upsert every element by recordingId."""
    start = since - timedelta(seconds=deps.settings.list_overlap_s)
    listed = new = updated = 0
    pending = []
    for meta in deps.infobip.list_recordings(started_from=start, started_to=until):
        pending.append(meta)
        listed += 1
        if len(pending) >= batch:
            result = deps.catalog.upsert_discovered(pending, at=deps.clock(), actor=deps.worker)
            new, updated, pending = new + result.new, updated + result.updated, []
    if pending:
        result = deps.catalog.upsert_discovered(pending, at=deps.clock(), actor=deps.worker)
        new, updated = new + result.new, updated + result.updated
    log.info("discovered listed=%d new=%d updated=%d", listed, new, updated)
    return DiscoverReport(listed=listed, new=new, updated=updated, since=start, until=until)


# --- one recording ---------------------------------------------------------------------------


def process_recording(deps: Deps, recording_id: str) -> StepReport:
    """Advance one claimed recording as far as it can go now; never raises a RecvaultError
    that belongs to the recording (those are recorded in the catalog), only catalog outages."""
    report = StepReport(recording_id, Outcome.SKIPPED, S.DISCOVERED)
    try:
        row = deps.catalog.get(recording_id)
        while row.state in IN_PROGRESS:
            step = _STEPS[row.state]
            started = time.monotonic()
            row, outcome = step(deps, row, report)
            report.seconds[step.__name__.removeprefix("_")] = time.monotonic() - started
            if outcome is not None:
                report.outcome = outcome
                break
            if row.state == S.ARCHIVED:
                report.outcome = Outcome.ARCHIVED
    except WorkDirError as exc:
        # The machine's problem, not the recording's: wait for space without using an attempt.
        row = _defer(
            deps,
            deps.catalog.get(recording_id),
            str(exc),
            _space_retry_s(deps),
            last_error=f"WorkDirError: {exc}",
        )
        report.outcome = Outcome.WAITING
        report.error = str(exc)
    except RecvaultError as exc:
        if isinstance(exc, CatalogError):
            raise
        row = _record_error(deps, recording_id, exc)
        report.outcome = Outcome.FAILED if row.state == S.FAILED else Outcome.RETRY
        report.error = str(exc)
    finally:
        try:
            deps.catalog.release(recording_id, worker=deps.worker)
        except CatalogError:
            log.warning("claim not released recording_id=%s", recording_id)
    report.state = row.state
    tidy_work_folder(deps, recording_id, row.state)
    return report


def _space_retry_s(deps: Deps) -> float:
    return max(deps.settings.retry_backoff_s, 1.0)


def tidy_work_folder(deps: Deps, recording_id: str, state: RecordingState) -> None:
    """A finished recording needs nothing in the work dir; a waiting one keeps only files."""
    if state in TERMINAL or state in VERIFIED:
        deps.workdir.clean(recording_id)
    else:
        deps.workdir.tidy(recording_id)


def sweep_work_dir(deps: Deps) -> int:
    """Remove folders of recordings that are no longer in progress (a run killed right after
    a recording's last commit leaves its folder behind); returns how many."""
    removed = 0
    for recording_id in deps.workdir.folders():
        try:
            state = deps.catalog.get(recording_id).state
        except CatalogError as exc:
            if "not in the catalog" not in str(exc):
                raise
            state = None
        if state is None or state not in IN_PROGRESS:
            deps.workdir.clean(recording_id)
            removed += 1
        else:
            deps.workdir.tidy(recording_id)
    if removed:
        log.info("work dir swept folders_removed=%d", removed)
    return removed


def _retry_at(deps: Deps, attempt: int) -> datetime:
    """Exponential back-off from the configured base, at most an hour."""
    backoff = deps.settings.retry_backoff_s * (2 ** min(attempt - 1, 10))
    return deps.clock() + timedelta(seconds=min(backoff, 3600))


def _record_error(deps: Deps, recording_id: str, exc: RecvaultError) -> Recording:
    row = deps.catalog.get(recording_id)
    retry_at = _retry_at(deps, row.attempts + 1)
    log.warning(
        "attempt failed recording_id=%s state=%s error=%s: %s",
        recording_id,
        row.state,
        type(exc).__name__,
        exc,
    )
    return deps.catalog.record_failure(
        recording_id,
        error=f"{type(exc).__name__}: {exc}",
        retryable=exc.retryable,
        at=deps.clock(),
        actor=deps.worker,
        max_attempts=deps.settings.max_attempts,
        retry_at=retry_at,
        worker=deps.worker,
    )


StepResult = tuple[Recording, Outcome | None]


def _move(deps: Deps, row: Recording, to: RecordingState, event: str, **fields: Any) -> Recording:
    return deps.catalog.transition(
        row.recording_id,
        to,
        actor=deps.worker,
        event=event,
        at=deps.clock(),
        worker=deps.worker,
        **fields,
    )


def _defer(deps: Deps, row: Recording, reason: str, after_s: float, **fields: Any) -> Recording:
    return deps.catalog.defer(
        row.recording_id,
        until=deps.clock() + timedelta(seconds=after_s),
        reason=reason,
        at=deps.clock(),
        actor=deps.worker,
        worker=deps.worker,
        **fields,
    )


def _discovered(deps: Deps, row: Recording, report: StepReport) -> StepResult:
    if row.source_deleted_at is not None:
        failed = deps.catalog.record_failure(
            row.recording_id,
            error="deleted at the source before it was archived",
            retryable=False,
            at=deps.clock(),
            actor=deps.worker,
            max_attempts=1,
            retry_at=None,
            worker=deps.worker,
        )
        return failed, Outcome.FAILED
    status = (row.recording_status or "SUCCESSFUL").upper()
    if status in SOURCE_FAILED_STATUSES:
        failed = deps.catalog.record_failure(
            row.recording_id,
            error=f"recording status at the source is {status}",
            retryable=False,
            at=deps.clock(),
            actor=deps.worker,
            max_attempts=1,
            retry_at=None,
            worker=deps.worker,
        )
        return failed, Outcome.FAILED
    if status not in SOURCE_FINAL_STATUSES:
        refreshed = deps.infobip.get_recording(row.recording_id)
        status = (refreshed.recording_status or "").upper()
        if status not in SOURCE_FINAL_STATUSES:
            deferred = _defer(
                deps,
                row,
                f"source status {status or 'unknown'}",
                deps.settings.not_ready_retry_s,
                recording_status=refreshed.recording_status,
            )
            return deferred, Outcome.WAITING
        row = _move(
            deps, row, S.DISCOVERED, "source_updated", recording_status=refreshed.recording_status
        )
    if row.media_type != "AUDIO_AND_VIDEO":
        return _move(deps, row, S.READY, "ready"), None
    prep = deps.infobip.request_video_preparation(row.recording_id)
    if prep.status == "READY":
        return _move(deps, row, S.READY, "ready", preparation_status=prep.status), None
    if prep.status == "FAILED":
        raise PreparationFailed(f"video preparation failed: {prep.reason or 'no reason given'}")
    row = _move(deps, row, S.PREPARING, "preparation_requested", preparation_status=prep.status)
    return _defer(deps, row, "video preparation in progress", deps.settings.prepare_poll_s), (
        Outcome.WAITING
    )


def _preparing(deps: Deps, row: Recording, report: StepReport) -> StepResult:
    prep = deps.infobip.get_video_preparation(row.recording_id)
    if prep.status == "READY":
        return _move(deps, row, S.READY, "ready", preparation_status=prep.status), None
    if prep.status == "FAILED":
        # Retryable: the next attempt requests preparation again; max_attempts bounds it.
        failed = deps.catalog.record_failure(
            row.recording_id,
            error=f"video preparation failed: {prep.reason or 'no reason'}",
            retryable=True,
            at=deps.clock(),
            actor=deps.worker,
            max_attempts=deps.settings.max_attempts,
            retry_at=deps.clock() + timedelta(seconds=deps.settings.retry_backoff_s),
            worker=deps.worker,
            reset_to=S.DISCOVERED,
        )
        return failed, Outcome.FAILED if failed.state == S.FAILED else Outcome.RETRY
    if prep.status == "NOT_REQUESTED":
        return _move(deps, row, S.DISCOVERED, "preparation_lost"), None
    deferred = _defer(
        deps,
        row,
        "video preparation in progress",
        deps.settings.prepare_poll_s,
        preparation_status=prep.status,
    )
    return deferred, Outcome.WAITING


def _original_path(deps: Deps, row: Recording) -> Path:
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


def _ready(deps: Deps, row: Recording, report: StepReport) -> StepResult:
    final = _original_path(deps, row)
    part = final.with_name(final.name + ".part")
    try:
        result = _download(deps, row.recording_id, part)
        if result.resumes:
            second = _confirm_resumed(deps, row, part)
            report.downloaded_bytes += second.size_bytes
            if second.sha256 != result.sha256:
                part.unlink(missing_ok=True)
                quarantined = _move(
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
        deferred = _defer(deps, row, str(exc), deps.settings.prepare_poll_s)
        return _move(deps, deferred, S.DISCOVERED, "not_prepared"), Outcome.WAITING
    except SourceNotFound as exc:
        meta = deps.infobip.get_recording(row.recording_id)  # raises SourceNotFound if gone
        if meta.deleted_at is not None:
            raise SourceNotFound("deleted at the source before it was archived") from exc
        # Listed as final but no media: Infobip does this for a while after a call; each such
        # answer counts as an attempt, so a file that never appears ends FAILED, not pending.
        failed = deps.catalog.record_failure(
            row.recording_id,
            error=f"download answered 404: {exc}",
            retryable=True,
            at=deps.clock(),
            actor=deps.worker,
            max_attempts=deps.settings.max_attempts,
            retry_at=_retry_at(deps, row.attempts + 1),
            worker=deps.worker,
        )
        return failed, Outcome.FAILED if failed.state == S.FAILED else Outcome.RETRY
    report.downloaded_bytes += result.size_bytes
    part.replace(final)
    if row.source_sha256 and row.source_sha256 != result.sha256:
        final.unlink(missing_ok=True)
        quarantined = _move(
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
        quarantined = _move(
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
    moved = _move(
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


def _rule(deps: Deps, row: Recording) -> Rule:
    return deps.policy.match(RecordingFacts.from_row(row)).rule


def _object_metadata(row: Recording, kind: str) -> dict[str, str]:
    """Links each object back to its recording; ids only, no personal data."""
    meta = {
        "recording-id": row.recording_id,
        "kind": kind,
        "started-at": row.started_at.isoformat(),
    }
    if row.conversation_id:
        meta["conversation-id"] = row.conversation_id
    if row.source_sha256:
        # What the object was made from: lets a later run adopt a derivative it cannot
        # reproduce byte for byte (ffmpeg output is not deterministic).
        meta[SOURCE_SHA256_META] = row.source_sha256
    return meta


SOURCE_SHA256_META = "source-sha256"
CODEC_META = "codec"
DURATION_META = "duration-s"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _key(row: Recording, name: str) -> str:
    return object_key(
        started_at=row.started_at,
        conversation_id=row.conversation_id,
        recording_id=row.recording_id,
        name=name,
    )


def _lock_for(deps: Deps, row: Recording, rule: Rule) -> tuple[datetime | None, Any]:
    until = retain_until(rule, row.started_at) if rule.set_retain_until_on_upload else None
    lock = rule.object_lock_mode if (until is not None and deps.object_lock) else None
    return (until if lock else None), lock


def _ensure_locked(deps: Deps, found: ObjectInfo, *, until: datetime | None, lock: Any) -> None:
    """An adopted copy gets the lock its upload would have set: a run killed (or failed)
    between a multipart upload and setting its retention leaves the object unlocked."""
    if until is None or lock is None:
        return
    held = found.retain_until
    if found.lock_mode == lock and held is not None and held >= until - timedelta(seconds=1):
        return
    log.info("adopted object gets its lock key=%s version_id=%s", found.key, found.version_id)
    # ObjectStore keeps this behind a private name for now; it confirms the lock took.
    deps.store._ensure_retention(found.key, found.version_id, until, lock)


def _upload_one(
    deps: Deps,
    row: Recording,
    rule: Rule,
    *,
    kind: str,
    path: Path,
    sha256: str,
    content_type: str,
    info: media.MediaInfo | None,
) -> tuple[ArchivedObject, int]:
    key = _key(row, path.name)
    size = path.stat().st_size
    until, lock = _lock_for(deps, row, rule)
    existing = deps.store.find_verified_copy(key, sha256=sha256, size_bytes=size)
    uploaded = 0
    if existing is not None:
        version_id = existing.version_id
        log.info("object already archived recording_id=%s key=%s", row.recording_id, key)
        _ensure_locked(deps, existing, until=until, lock=lock)
    else:
        metadata = _object_metadata(row, kind)
        if info is not None and kind != "original":
            metadata[CODEC_META] = info.codec_summary()
            if info.duration_s is not None:
                metadata[DURATION_META] = f"{info.duration_s:.3f}"
        put = deps.store.put_file(
            key,
            path,
            sha256=sha256,
            content_type=content_type,
            metadata=metadata,
            retain_until=until,
            lock_mode=lock,
        )
        version_id, uploaded = put.version_id, size
    obj = ArchivedObject(
        recording_id=row.recording_id,
        kind=kind,
        bucket=deps.store.bucket,
        key=key,
        version_id=version_id,
        size_bytes=size,
        sha256=sha256,
        content_type=content_type,
        codec=info.codec_summary() if info else None,
        duration_s=info.duration_s if info else None,
        retain_until=until,
        lock_mode=lock,
        created_at=deps.clock(),
    )
    return obj, uploaded


def _adoptable_derivative(
    deps: Deps, row: Recording, rule: Rule, *, name: str, content_type: str
) -> ArchivedObject | None:
    """The derivative an interrupted attempt uploaded from these same source bytes, if any.

    Without this, a run killed between the derivative's upload and the UPLOADED commit would
    transcode again, get different bytes, and leave the first upload as an orphan version.
    ``verify`` of the UPLOADED step still re-checks the adopted object's bytes.
    """
    key = _key(row, name)
    found: ObjectInfo | None = deps.store.head(key)
    if found is None:
        return None
    meta = found.metadata
    if (
        meta.get("recording-id") != row.recording_id
        or meta.get("kind") != "transcoded"
        or not row.source_sha256
        or meta.get(SOURCE_SHA256_META) != row.source_sha256
        or not found.sha256
    ):
        return None
    log.info("derivative already archived recording_id=%s key=%s", row.recording_id, key)
    until, lock = _lock_for(deps, row, rule)
    _ensure_locked(deps, found, until=until, lock=lock)
    duration = meta.get(DURATION_META)
    return ArchivedObject(
        recording_id=row.recording_id,
        kind="transcoded",
        bucket=deps.store.bucket,
        key=key,
        version_id=found.version_id,
        size_bytes=found.size_bytes,
        sha256=found.sha256,
        content_type=content_type,
        codec=meta.get(CODEC_META),
        duration_s=float(duration) if duration else None,
        retain_until=until,
        lock_mode=lock,
        created_at=deps.clock(),
    )


def _downloaded(deps: Deps, row: Recording, report: StepReport) -> StepResult:
    original = _original_path(deps, row)
    if not original.exists() or original.stat().st_size != row.source_size_bytes:
        # The work file is gone (another machine, a cleaned work dir): download again.
        return _move(deps, row, S.READY, "work_file_missing"), None
    rule = _rule(deps, row)
    original_info = media.probe(original)
    objects = []
    obj, sent = _upload_one(
        deps,
        row,
        rule,
        kind="original",
        path=original,
        sha256=row.source_sha256 or "",
        content_type=media.content_type_for(original.suffix.lstrip(".")),
        info=original_info,
    )
    objects.append(obj)
    report.uploaded_bytes += sent
    target = derivative_for(rule, row.media_type)
    if target is not None:
        name, content_type = media.derivative_name(target)
        adopted = _adoptable_derivative(deps, row, rule, name=name, content_type=content_type)
        if adopted is not None:
            objects.append(adopted)
        else:
            derived = original.with_name(name)
            guard = deps.workdir.guard(derived)
            # ffmpeg's output size is not known ahead: budget the original's size for it.
            guard(original.stat().st_size)
            try:
                info = media.transcode(original, derived, target=target)
            except MediaError as exc:
                # The original is the evidence; a missing playback copy must not block it.
                deps.catalog.append_audit(
                    event="derivative_failed",
                    actor=deps.worker,
                    at=deps.clock(),
                    recording_id=row.recording_id,
                    detail={"target": target, "error": str(exc)[:500]},
                )
            else:
                obj, sent = _upload_one(
                    deps,
                    row,
                    rule,
                    kind="transcoded",
                    path=derived,
                    sha256=sha256_file(derived),
                    content_type=content_type,
                    info=info,
                )
                objects.append(obj)
                report.uploaded_bytes += sent
            finally:
                guard.done()
    moved = _move(
        deps,
        row,
        S.UPLOADED,
        "uploaded",
        objects=objects,
        policy_rule=rule.name,
        detail={"keys": [o.key for o in objects]},
    )
    return moved, None


def _uploaded(deps: Deps, row: Recording, report: StepReport) -> StepResult:
    objects = deps.catalog.objects(row.recording_id)
    if not any(o.kind == "original" for o in objects):
        return _move(deps, row, S.DOWNLOADED, "object_missing"), None
    verified = []
    try:
        for obj in objects:
            result = deps.store.verify(
                obj.key, version_id=obj.version_id, sha256=obj.sha256, size_bytes=obj.size_bytes
            )
            obj.checksum_method = result.method
            obj.verified_at = deps.clock()
            verified.append(obj)
    except ChecksumMismatch as exc:
        # The stored bytes are not the downloaded bytes: upload again from the work file.
        failed = deps.catalog.record_failure(
            row.recording_id,
            error=f"ChecksumMismatch: {exc}",
            retryable=True,
            at=deps.clock(),
            actor=deps.worker,
            max_attempts=deps.settings.max_attempts,
            retry_at=deps.clock(),
            worker=deps.worker,
            reset_to=S.DOWNLOADED,
        )
        return failed, Outcome.FAILED if failed.state == S.FAILED else Outcome.RETRY
    archived = _move(
        deps,
        row,
        S.ARCHIVED,
        "archived",
        objects=verified,
        archived_at=deps.clock(),
        detail={
            "objects": [
                {
                    "key": o.key,
                    "version_id": o.version_id,
                    "sha256": o.sha256,
                    "method": o.checksum_method,
                }
                for o in verified
            ]
        },
    )
    deps.workdir.clean(row.recording_id)
    return archived, None


_STEPS = {
    S.DISCOVERED: _discovered,
    S.PREPARING: _preparing,
    S.READY: _ready,
    S.DOWNLOADED: _downloaded,
    S.UPLOADED: _uploaded,
}


def claimable(deps: Deps, limit: int) -> list[str]:
    return deps.catalog.claim(
        worker=deps.worker, limit=limit, now=deps.clock(), lease_s=deps.settings.lease_s
    )


def iter_batches(deps: Deps, size: int) -> Iterator[list[str]]:
    while ids := claimable(deps, size):
        yield ids
