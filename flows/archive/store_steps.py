"""Steps on the archive side: from bytes in the work dir to verified objects in S3.

DOWNLOADED -> UPLOADED (original byte for byte, plus the policy's derivative) -> ARCHIVED once
every object's size and SHA-256 are confirmed. Objects an interrupted attempt already uploaded
are adopted, not uploaded again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flows.archive.common import (
    S,
    StepReport,
    StepResult,
    fail,
    move,
    sha256_file,
    stage,
)
from flows.archive.source_steps import original_path
from flows.services import Services
from models.errors import ChecksumMismatch, MediaError, MediaToolMissing
from models.keys import object_key
from models.policy.facts import RecordingFacts
from models.policy.retention import derivative_for, retain_until
from models.policy.rules import Rule
from models.tables import ArchivedObject, Recording
from storage import media
from storage.s3.objects import LockMode
from storage.s3.store import ObjectInfo

log = logging.getLogger(__name__)


def _rule(deps: Services, row: Recording) -> Rule:
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


def _key(row: Recording, name: str) -> str:
    return object_key(
        started_at=row.started_at,
        conversation_id=row.conversation_id,
        recording_id=row.recording_id,
        name=name,
    )


def _lock_for(deps: Services, row: Recording, rule: Rule) -> tuple[datetime | None, Any]:
    until = retain_until(rule, row.started_at) if rule.set_retain_until_on_upload else None
    if until is not None and until <= deps.clock():
        # A backfilled recording already past its retention: S3 refuses a retain-until in the
        # past, and the retention flow expires the recording on its next run.
        until = None
    lock = rule.object_lock_mode if (until is not None and deps.object_lock) else None
    return (until if lock else None), lock


def _ensure_locked(deps: Services, found: ObjectInfo, *, until: datetime | None, lock: Any) -> None:
    """An adopted copy gets the lock its upload would have set: a run killed (or failed)
    between a multipart upload and setting its retention leaves the object unlocked."""
    if until is None or lock is None:
        return
    held = found.retain_until
    if found.lock_mode == lock and held is not None and held >= until - timedelta(seconds=1):
        return
    log.info("adopted object gets its lock key=%s version_id=%s", found.key, found.version_id)
    deps.store.ensure_retention(found.key, found.version_id, until, lock)


def _may_exist(deps: Services, key: str) -> bool:
    """Whether to look for an earlier copy of ``key``: not when the run's listing of that
    day proves there is none (``flows.archive.known_keys``)."""
    return deps.known_keys is None or deps.known_keys.may_exist(key)


def _upload_one(
    deps: Services,
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
    existing = (
        deps.store.find_verified_copy(key, sha256=sha256, size_bytes=size)
        if _may_exist(deps, key)
        else None
    )
    uploaded = 0
    if existing is not None:
        version_id = existing.version_id
        log.info("object already archived recording_id=%s key=%s", row.recording_id, key)
        _ensure_locked(deps, existing, until=until, lock=lock)
    else:
        if deps.known_keys is not None:
            deps.known_keys.writing(key)
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
            # The verify step confirms the lock with the HeadObject that checks the bytes.
            confirm_lock=False,
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
    deps: Services, row: Recording, rule: Rule, *, name: str, content_type: str
) -> ArchivedObject | None:
    """The derivative an interrupted attempt uploaded from these same source bytes, if any.

    Without this, a run killed between the derivative's upload and the UPLOADED commit would
    transcode again, get different bytes, and leave the first upload as an orphan version.
    ``verify`` of the UPLOADED step still re-checks the adopted object's bytes.
    """
    key = _key(row, name)
    found: ObjectInfo | None = deps.store.head(key) if _may_exist(deps, key) else None
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


def _original_info(row: Recording, original: Path) -> media.MediaInfo:
    """The download step's probe of these same bytes (the size was just checked): a second
    ffprobe process per recording only when the catalog has none (rows from before it did)."""
    if row.probe and row.probe.get("size_bytes") == original.stat().st_size:
        try:
            return media.MediaInfo.from_dict(row.probe)
        except (KeyError, TypeError, ValueError):
            log.info("stored probe unreadable, probing again recording_id=%s", row.recording_id)
    return media.probe(original)


def upload(deps: Services, row: Recording, report: StepReport) -> StepResult:
    original = original_path(deps, row)
    if not original.exists() or original.stat().st_size != row.source_size_bytes:
        # The work file is gone (another machine, a cleaned work dir): download again.
        return move(deps, row, S.READY, "work_file_missing", via=report.hops), None
    rule = _rule(deps, row)
    original_info = _original_info(row, original)
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
            guard = deps.work.guard(derived)
            # ffmpeg's output size is not known ahead: budget the original's size for it.
            guard(original.stat().st_size)
            try:
                info = media.transcode(original, derived, target=target)
            except MediaToolMissing:
                raise  # the run stops; the recording waits for ffmpeg without using an attempt
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
    # Left at once for the verification: committed with it (models.hops).
    return stage(
        deps,
        row,
        report,
        S.UPLOADED,
        "uploaded",
        objects=objects,
        detail={"keys": [o.key for o in objects]},
        policy_rule=rule.name,
    )


def _lock_mode(value: str | None) -> LockMode | None:
    """The catalog column as the store's type (only the two S3 modes are ever written)."""
    if value == "GOVERNANCE":
        return "GOVERNANCE"
    if value == "COMPLIANCE":
        return "COMPLIANCE"
    return None


def verify(deps: Services, row: Recording, report: StepReport) -> StepResult:
    staged = [hop.objects for hop in report.hops if hop.objects and not hop.committed]
    objects = list(staged[-1]) if staged else deps.catalog.objects(row.recording_id)
    if not any(o.kind == "original" for o in objects):
        return move(deps, row, S.DOWNLOADED, "object_missing", via=report.hops), None
    try:
        methods = [
            deps.store.verify(
                obj.key,
                version_id=obj.version_id,
                sha256=obj.sha256,
                size_bytes=obj.size_bytes,
                retain_until=obj.retain_until,
                lock_mode=_lock_mode(obj.lock_mode),
            ).method
            for obj in objects
        ]
    except ChecksumMismatch as exc:
        # The stored bytes are not the downloaded bytes: upload again from the work file.
        return fail(
            deps,
            row,
            f"ChecksumMismatch: {exc}",
            retryable=True,
            retry_at=deps.clock(),
            reset_to=S.DOWNLOADED,
            via=report.hops,
        )
    verified_at = deps.clock()
    for obj, method in zip(objects, methods, strict=True):
        obj.checksum_method, obj.verified_at = method, verified_at
    archived = move(
        deps,
        row,
        S.ARCHIVED,
        "archived",
        via=report.hops,
        objects=objects,
        archived_at=deps.clock(),
        detail={
            "objects": [
                {
                    "key": o.key,
                    "version_id": o.version_id,
                    "sha256": o.sha256,
                    "method": o.checksum_method,
                }
                for o in objects
            ]
        },
    )
    deps.work.clean(row.recording_id)
    return archived, None
