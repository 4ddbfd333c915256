"""Evidence export: the recordings a search finds, as one zip an auditor can check by hand.

The bundle holds each archived object byte for byte, the catalog's records as JSON, every
audit event about those recordings with its chain hash, the audit anchor covering them, a
``SHA256SUMS`` manifest that ``sha256sum -c`` accepts, and a README saying how to verify all
of it (``flows/export/readme.py``).

Streaming: each object is read from S3 in chunks straight into its zip entry, hashed on the
way, so memory stays constant whatever the size of the export. An object whose bytes differ
from the catalog's SHA-256 stops the export (``ChecksumMismatch``): a bundle never carries
evidence that does not match its record. The zip is written next to its destination and
renamed into place only when complete, so a failed export leaves no partial bundle.

The export is an audit event (``evidence_exported``, with the manifest's SHA-256), anchored
right after, so the trail shows who took which evidence out and when.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from flows.audit.anchor import write_anchor
from flows.audit.check import Anchor, list_anchors
from flows.audit.dossier import event_json, iso, object_json
from flows.export.readme import README_TEMPLATE
from flows.retention.holds import hold_json
from flows.services import Services
from models.errors import ChecksumMismatch, ConfigError, RecordingNotFound
from models.search import AuditQuery, RecordingQuery
from models.states import RecordingState, public_status
from models.tables import ArchivedObject, AuditEvent, Recording

log = logging.getLogger(__name__)

EXPORT_EVENT = "evidence_exported"
FORMAT = "recvault-evidence-bundle/1"
ZIP64_FROM = 2**31  # zipfile needs to know up front when an entry may pass 2 GiB
_HOLD_EVENTS = ("legal_hold_placed", "legal_hold_released")


@dataclass
class ExportReport:
    path: Path
    recordings: int = 0
    files: int = 0
    bytes: int = 0
    events: int = 0
    manifest_sha256: str = ""
    anchor_key: str | None = None
    event_id: int | None = None
    skipped: list[str] = field(default_factory=list)  # objects already deleted (expired)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "recordings": self.recordings,
            "files": self.files,
            "bytes": self.bytes,
            "events": self.events,
            "manifest_sha256": self.manifest_sha256,
            "anchor_key": self.anchor_key,
            "audit_event_id": self.event_id,
            "skipped": self.skipped,
        }


class _Manifest:
    """SHA256SUMS lines in the order the files were written."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, name: str, sha256: str) -> None:
        self.lines.append(f"{sha256}  {name}\n")

    def text(self) -> str:
        return "".join(self.lines)


def _write_bytes(zf: zipfile.ZipFile, manifest: _Manifest, name: str, data: bytes) -> None:
    zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    manifest.add(name, hashlib.sha256(data).hexdigest())


def _write_json(zf: zipfile.ZipFile, manifest: _Manifest, name: str, value: Any) -> None:
    data = (json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n").encode()
    _write_bytes(zf, manifest, name, data)


ProgressCallback = Callable[[int], None]  # bytes copied since the last call


def _copy_stream(
    sink: IO[bytes], chunks: Iterable[bytes], on_progress: ProgressCallback | None
) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        sink.write(chunk)
        if on_progress is not None:
            on_progress(len(chunk))
    return digest.hexdigest(), size


def _entry_name(row: Recording, obj: ArchivedObject) -> str:
    suffix = PurePosixPath(obj.key).suffix
    return f"recordings/{row.recording_id}/{obj.kind}{suffix}"


def _copy_object(
    deps: Services,
    zf: zipfile.ZipFile,
    manifest: _Manifest,
    row: Recording,
    obj: ArchivedObject,
    on_progress: ProgressCallback | None = None,
) -> int:
    name = _entry_name(row, obj)
    info = zipfile.ZipInfo(name, date_time=obj.created_at.timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED  # audio and video are compressed already
    info.file_size = obj.size_bytes
    chunks = deps.store.iter_object(obj.key, version_id=obj.version_id)
    with zf.open(info, "w", force_zip64=obj.size_bytes >= ZIP64_FROM) as sink:
        sha256, size = _copy_stream(sink, chunks, on_progress)
    if sha256 != obj.sha256 or size != obj.size_bytes:
        raise ChecksumMismatch(
            f"s3://{obj.bucket}/{obj.key} version {obj.version_id}: read {size} bytes with "
            f"SHA-256 {sha256}, the catalog records {obj.size_bytes} bytes with {obj.sha256}; "
            "nothing was exported (run recvault verify)"
        )
    manifest.add(name, sha256)
    return size


def _record(row: Recording, objects: list[ArchivedObject], holds: list[Any]) -> dict[str, Any]:
    values = {
        name: iso(v) if isinstance(v, datetime) else v
        for name, v in row.model_dump().items()
        if name not in ("claimed_by", "claimed_until", "probe")
    }
    return {
        **values,
        "state": str(row.state),
        "status": public_status(RecordingState(row.state)),
        "objects": [object_json(o) for o in objects],
        "legal_holds": holds,
    }


def _events(deps: Services, rows: list[Recording], hold_ids: set[int]) -> list[AuditEvent]:
    found: dict[int, AuditEvent] = {}
    for row in rows:
        for event in deps.catalog.history(row.recording_id):
            found[event.id or 0] = event
    if hold_ids:
        for name in _HOLD_EVENTS:
            for event in deps.catalog.audit_log(AuditQuery(event=name)):
                if (event.detail or {}).get("hold_id") in hold_ids:
                    found[event.id or 0] = event
    return [found[i] for i in sorted(found)]


def covering_anchor(deps: Services, last_event_id: int) -> Anchor | None:
    """The first anchor that covers event ``last_event_id``; written now when none does."""
    for attempt in range(2):
        for anchor in list_anchors(deps.anchor_store):
            if anchor.sequence >= last_event_id:
                return anchor
        if attempt == 0:
            write_anchor(deps, run="export")
    return None


def export_size(found: list[tuple[Recording, list[ArchivedObject]]]) -> int:
    """The bytes of the objects an export copies (those not deleted)."""
    return sum(o.size_bytes for _, objects in found for o in objects if o.deleted_at is None)


def export_evidence(
    deps: Services,
    query: RecordingQuery,
    out: Path,
    *,
    overwrite: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> ExportReport:
    """``on_start`` gets the bytes to copy, ``on_progress`` each chunk's length."""
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists already: choose another --out (or --overwrite)")
    if not out.parent.is_dir():
        raise ConfigError(f"{out.parent} is not a folder: create it first")
    found = list(deps.catalog.iter_found(query))
    if not found:
        raise RecordingNotFound("no recording matches the filters given: nothing to export")
    rows = [row for row, _ in found]
    holds_by_id = {h.id: h for h in deps.catalog.list_holds(include_released=True)}
    covering = {r.recording_id: deps.catalog.holds_covering(r.recording_id) for r in rows}
    hold_ids = {i for ids in covering.values() for i in ids}
    events = _events(deps, rows, hold_ids)
    last_id = max((e.id or 0 for e in events), default=0)
    anchor = covering_anchor(deps, last_id) if events else None

    report = ExportReport(path=out, recordings=len(rows), events=len(events))
    if on_start is not None:
        on_start(export_size(found))
    part = out.with_name(f".{out.name}.part")
    manifest = _Manifest()
    try:
        with zipfile.ZipFile(part, "w", allowZip64=True) as zf:
            records = []
            for row, objects in found:
                for obj in objects:
                    if obj.deleted_at is not None:
                        report.skipped.append(f"{obj.key}@{obj.version_id}")
                        continue
                    report.bytes += _copy_object(deps, zf, manifest, row, obj, on_progress)
                    report.files += 1
                holds = [hold_json(holds_by_id[i]) for i in covering[row.recording_id]]
                records.append(_record(row, objects, holds))
            _write_json(zf, manifest, "catalog/recordings.json", records)
            lines = "".join(json.dumps(event_json(e), ensure_ascii=False) + "\n" for e in events)
            _write_bytes(zf, manifest, "audit/events.jsonl", lines.encode())
            anchor_line = "none yet: run recvault audit verify after the next run"
            if anchor is not None:
                report.anchor_key = anchor.key
                anchor_line = f"{anchor.key} (covers event ids up to {anchor.sequence})"
                data = deps.anchor_store.get_bytes(anchor.key, version_id=anchor.version_id)
                _write_bytes(zf, manifest, "audit/anchor.json", data)
                where = {
                    "bucket": deps.anchor_store.bucket,
                    "key": anchor.key,
                    "version_id": anchor.version_id,
                    "sequence": anchor.sequence,
                    "hash": anchor.hash,
                }
                _write_json(zf, manifest, "audit/anchor-source.json", where)
            exported_at = deps.clock()
            summary = {
                "format": FORMAT,
                "exported_at": iso(exported_at),
                "actor": deps.actor,
                "filters": query.describe(),
                "recordings": report.recordings,
                "files": report.files,
                "bytes": report.bytes,
                "events": report.events,
                "skipped_deleted_objects": report.skipped,
            }
            _write_json(zf, manifest, "export.json", summary)
            readme = README_TEMPLATE.format(
                exported_at=iso(exported_at),
                actor=deps.actor,
                recordings=report.recordings,
                files=report.files,
                bytes=report.bytes,
                events=len(events),
                first_event=events[0].id if events else "-",
                last_event=last_id or "-",
                anchor_line=anchor_line,
            )
            _write_bytes(zf, manifest, "README.txt", readme.encode())
            text = manifest.text().encode()
            zf.writestr("SHA256SUMS", text)
            report.manifest_sha256 = hashlib.sha256(text).hexdigest()
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    event = deps.catalog.append_audit(
        event=EXPORT_EVENT,
        actor=deps.actor,
        at=deps.clock(),
        detail={
            "bundle": out.name,
            "manifest_sha256": report.manifest_sha256,
            "filters": query.describe(),
            "recordings": report.recordings,
            "recording_ids_sha256": _ids_digest(r.recording_id for r in rows),
            "files": report.files,
            "bytes": report.bytes,
            "events": report.events,
            "covering_anchor": report.anchor_key,
        },
    )
    report.event_id = event.id
    write_anchor(deps, run="export")
    log.info(
        "evidence exported recordings=%d files=%d bytes=%d event_id=%s",
        report.recordings,
        report.files,
        report.bytes,
        event.id,
    )
    return report


def _ids_digest(ids: Iterable[str]) -> str:
    """SHA-256 of the sorted recording ids, one per line: names the set without listing it."""
    return hashlib.sha256("".join(f"{i}\n" for i in sorted(ids)).encode()).hexdigest()
