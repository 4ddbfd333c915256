"""Re-reads archived objects and compares them with the catalog (``recvault verify [--deep]``).

Plain functions over the catalog and the object store; nothing here trusts S3's own checksum:
every object is streamed back and hashed, so a store that lies or lost bytes is caught. A HEAD
of each key also checks that the catalog's version is still the key's current version (not
overwritten, not under a delete marker).

``--deep`` adds what only the whole archive can show:

- every object the catalog lists as locked still has that Object Lock mode and retain-until;
- the audit chain is intact and agrees with every audit anchor, deleted recordings have their
  certificates, the holds table is the replay of the hold events and held versions are under
  S3 legal hold (``flows.audit.check``); every verified recording has exactly one ``archived``
  event, and
  no source deletion (``source_deleted`` event or a move to SOURCE_DELETED) was recorded
  before that recording's ``archived`` event;
- every transcript version under ``transcripts/`` is one a ``transcript_archived`` audit event
  names (bytes written there by anyone else are a problem);
- every object version under the archive prefix is referenced by a catalog row (bucket, key,
  version). An unreferenced version of a recording that is still in progress is *unadopted*,
  not an orphan: a run killed between an upload and its catalog commit leaves exactly that,
  and the next run adopts it (``ObjectStore.find_verified_copy`` for originals, the
  ``source-sha256`` metadata for derivatives). Unadopted versions are listed but are not
  problems; any other unreferenced version (a key of no recording, a finished recording, or a
  second version of a referenced key) is an orphan and a problem.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flows.audit.check import verify_audit
from models.errors import ObjectStoreError, StorageError
from models.keys import ARCHIVE_PREFIX, TRANSCRIPT_PREFIX
from models.states import IN_PROGRESS, VERIFIED, RecordingState
from models.tables import ArchivedObject, AuditEvent, ConversationTranscript, Recording
from models.transcripts import ARCHIVED
from storage.catalog.store import Catalog
from storage.s3.store import ObjectStore

log = logging.getLogger(__name__)

# Audit events that record a deletion of the source copy at Infobip (retention).
SOURCE_DELETION_EVENTS = frozenset({"source_deleted"})
ARCHIVED_EVENT = "archived"


@dataclass(frozen=True)
class Problem:
    recording_id: str | None
    key: str
    problem: str


@dataclass
class VerifyReport:
    recordings: int = 0
    objects: int = 0
    bytes_read: int = 0
    problems: list[Problem] = field(default_factory=list)
    orphans_checked: bool = False
    audit_chain_checked: bool = False
    versions_listed: int = 0
    audit_events_checked: int = 0
    # Object versions a killed run uploaded but did not commit; the next run adopts them.
    unadopted: list[Problem] = field(default_factory=list)
    transcripts: int = 0  # conversation transcripts re-read

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "recordings": self.recordings,
            "objects": self.objects,
            "bytes_read": self.bytes_read,
            "orphans_checked": self.orphans_checked,
            "audit_chain_checked": self.audit_chain_checked,
            "versions_listed": self.versions_listed,
            "audit_events_checked": self.audit_events_checked,
            "transcripts": self.transcripts,
            "problems": [p.__dict__ for p in self.problems],
            "unadopted": [p.__dict__ for p in self.unadopted],
        }


Rows = list[tuple[Recording, list[ArchivedObject]]]


def verify_archive(
    catalog: Catalog,
    store: ObjectStore,
    *,
    deep: bool = False,
    on_object: Callable[[int], None] | None = None,
    anchors: ObjectStore | None = None,
    identity_key: str | None = None,
) -> VerifyReport:
    """``anchors``: the bucket of the audit anchors (default: the archive bucket);
    ``identity_key``: to check participant hold scopes against their keyed hashes."""
    report = VerifyReport()
    # A missing or unreachable bucket is one error (BucketNotFound, ...), not a problem per object.
    next(iter(store.iter_objects(ARCHIVE_PREFIX)), None)
    rows = catalog.search()
    for row, objects in rows:
        if row.state not in VERIFIED:
            continue
        report.recordings += 1
        report.problems.extend(_check_row(row, objects))
        for obj in objects:
            report.objects += 1
            report.problems.extend(_check_object(store, row.recording_id, obj, report))
            report.problems.extend(check_current_version(store, row.recording_id, obj))
            if on_object:
                on_object(report.objects)
    for transcript in catalog.transcripts(status=ARCHIVED):
        report.transcripts += 1
        report.problems.extend(check_transcript(store, transcript, report))
    if deep:
        for row, objects in rows:
            if row.state in VERIFIED:
                report.problems.extend(check_locks(store, row.recording_id, objects))
        events = catalog.audit_events()
        audit = verify_audit(
            catalog, anchors=anchors or store, store=store, identity_key=identity_key
        )
        report.audit_events_checked = audit.events
        report.problems.extend(
            Problem(None, p.where, f"{p.kind}: {p.problem}") for p in audit.problems
        )
        report.problems.extend(check_audit_trail(rows, events))
        report.audit_chain_checked = True
        check_orphans(store, rows, report)
        check_transcript_versions(store, events, report)
        report.orphans_checked = True
    return report


def _check_row(row: Recording, objects: list[ArchivedObject]) -> list[Problem]:
    originals = [o for o in objects if o.kind == "original"]
    if not originals:
        return [Problem(row.recording_id, "-", "catalog lists no original object")]
    if row.source_sha256 and originals[0].sha256 != row.source_sha256:
        return [
            Problem(
                row.recording_id,
                originals[0].key,
                "original object's sha256 differs from the downloaded source_sha256",
            )
        ]
    return []


def _check_object(
    store: ObjectStore, recording_id: str, obj: Any, report: VerifyReport
) -> list[Problem]:
    try:
        sha256, size = store.reread_sha256(obj.key, version_id=obj.version_id)
    except (ObjectStoreError, StorageError) as exc:
        return [Problem(recording_id, obj.key, f"cannot read: {exc}")]
    report.bytes_read += size
    problems = []
    if size != obj.size_bytes:
        problems.append(Problem(recording_id, obj.key, f"size {size} != catalog {obj.size_bytes}"))
    if sha256 != obj.sha256:
        problems.append(
            Problem(recording_id, obj.key, f"sha256 {sha256[:16]}… != catalog {obj.sha256[:16]}…")
        )
    if problems:
        log.error("verification failed recording_id=%s key=%s", recording_id, obj.key)
    return problems


def check_transcript(
    store: ObjectStore, transcript: ConversationTranscript, report: VerifyReport
) -> list[Problem]:
    """A transcript's current version reads back to the catalog's size and SHA-256, and is
    still the key's current version (a newer version not written by recvault is a problem)."""
    where = f"{transcript.key} (transcript of conversation {transcript.conversation_id})"
    try:
        sha256, size = store.reread_sha256(transcript.key, version_id=transcript.version_id)
        current = store.head(transcript.key)
    except StorageError as exc:
        return [Problem(None, where, f"cannot read: {exc}")]
    report.bytes_read += size
    problems = []
    if size != transcript.size_bytes or sha256 != transcript.sha256:
        problems.append(
            Problem(
                None,
                where,
                f"reads back as {size} bytes with sha256 {sha256[:16]}…, catalog says "
                f"{transcript.size_bytes} bytes with {transcript.sha256[:16]}…",
            )
        )
    if current is None or (
        transcript.version_id
        and current.version_id
        and current.version_id != transcript.version_id
        # Two runs that wrote the same messages at once each recorded their own version; the
        # newer in the bucket may be the one recorded first. Same bytes: nothing is wrong (and
        # check_transcript_versions still wants an event for each).
        and current.sha256 != transcript.sha256
    ):
        found = current.version_id if current else "a delete marker"
        problems.append(
            Problem(
                None,
                where,
                f"the key's current version is {found}, not the catalog's {transcript.version_id}",
            )
        )
    if problems:
        log.error("transcript verification failed conversation_id=%s", transcript.conversation_id)
    return problems


def check_transcript_versions(
    store: ObjectStore, events: Iterable[AuditEvent], report: VerifyReport
) -> None:
    """Every version under the transcripts prefix is one recvault wrote (a
    ``transcript_archived`` event names its key and version)."""
    written = {
        (str(e.detail.get("key")), _version_key(e.detail.get("version_id")))
        for e in events
        if e.event == "transcript_archived" and e.detail
    }
    for info in store.iter_versions(TRANSCRIPT_PREFIX):
        report.versions_listed += 1
        if (info.key, _version_key(info.version_id)) not in written:
            report.problems.append(
                Problem(
                    None,
                    f"{info.key} version {info.version_id}",
                    "transcript version not written by recvault (no transcript_archived event)",
                )
            )


def check_current_version(
    store: ObjectStore, recording_id: str, obj: ArchivedObject
) -> list[Problem]:
    """The catalog's version is still the current version of its key (one HEAD without a
    version): a newer version written over the evidence, or a delete marker on top of it, is
    what a reader of the key gets instead, so it is a problem even while the old version
    itself still reads back fine."""
    if obj.deleted_at is not None:
        return []
    try:
        current = store.head(obj.key)
    except StorageError as exc:
        return [Problem(recording_id, obj.key, f"cannot read its current version: {exc}")]
    if current is None:
        return [
            Problem(
                recording_id,
                obj.key,
                "the key has no current version (a delete marker is on top of the archived "
                f"version {obj.version_id}): remove the delete marker",
            )
        ]
    if obj.version_id and current.version_id and current.version_id != obj.version_id:
        return [
            Problem(
                recording_id,
                obj.key,
                f"the key's current version is {current.version_id}, not the archived version "
                f"{obj.version_id} (overwritten): readers of the key get other bytes",
            )
        ]
    return []


def check_locks(
    store: ObjectStore, recording_id: str, objects: Iterable[ArchivedObject]
) -> list[Problem]:
    """Objects the catalog says are locked carry that Object Lock, at least that long."""
    problems = []
    for obj in objects:
        if obj.lock_mode is None or obj.retain_until is None:
            continue
        try:
            info = store.head(obj.key, version_id=obj.version_id)
        except StorageError as exc:
            problems.append(Problem(recording_id, obj.key, f"cannot read its lock: {exc}"))
            continue
        held = info.retain_until if info is not None else None
        if (
            info is None
            or info.lock_mode != obj.lock_mode
            or held is None
            or (held < obj.retain_until - timedelta(seconds=1))
        ):
            problems.append(
                Problem(
                    recording_id,
                    obj.key,
                    f"Object Lock is {info.lock_mode if info else None} until {held}, "
                    f"catalog says {obj.lock_mode} until {obj.retain_until.isoformat()}",
                )
            )
    return problems


def check_audit_trail(rows: Rows, events: Iterable[AuditEvent]) -> list[Problem]:
    """Per recording: one ``archived`` event for each verified copy, no deletion before it."""
    problems: list[Problem] = []
    archived: Counter[str] = Counter()
    for event in events:
        rid = event.recording_id
        if rid is None:
            continue
        deletion = event.event in SOURCE_DELETION_EVENTS or (
            event.to_state == RecordingState.SOURCE_DELETED.value
            and event.from_state != RecordingState.SOURCE_DELETED.value
        )
        if deletion and archived[rid] == 0:
            problems.append(
                Problem(
                    rid,
                    f"audit event id={event.id}",
                    f"source deleted ({event.event}) before the recording was ARCHIVED",
                )
            )
        if event.event == ARCHIVED_EVENT and event.to_state == RecordingState.ARCHIVED.value:
            archived[rid] += 1
    for row, _objects in rows:
        count = archived[row.recording_id]
        if row.state in VERIFIED and count == 0:
            problems.append(
                Problem(row.recording_id, "-", f"{row.state} without an 'archived' audit event")
            )
        if count > 1:
            problems.append(
                Problem(row.recording_id, "-", f"{count} 'archived' audit events (expected one)")
            )
    return problems


def _version_key(version_id: str | None) -> str:
    # Unversioned stores report the literal version "null" where the catalog keeps None.
    return version_id or "null"


def recording_id_of(key: str) -> str | None:
    """The recording id segment of an archive key (see ``models.keys.object_key``)."""
    parts = key.split("/")
    if not key.startswith(ARCHIVE_PREFIX) or len(parts) != 7:
        return None
    return parts[5]


def check_orphans(store: ObjectStore, rows: Rows, report: VerifyReport) -> None:
    """Every object version under the archive prefix must be one the catalog references."""
    referenced = {(o.key, _version_key(o.version_id)) for _row, objs in rows for o in objs}
    states = {row.recording_id: row.state for row, _objs in rows}
    for info in store.iter_versions(ARCHIVE_PREFIX):
        report.versions_listed += 1
        if (info.key, _version_key(info.version_id)) in referenced:
            continue
        rid = recording_id_of(info.key)
        state = states.get(rid) if rid is not None else None
        where = f"{info.key} version {info.version_id}"
        if state in IN_PROGRESS:
            report.unadopted.append(
                Problem(rid, where, f"uploaded, not yet in the catalog ({state}): next run adopts")
            )
            continue
        why = "no catalog row" if state is None else f"not referenced by the {state} row"
        report.problems.append(Problem(rid, where, f"orphan object version ({why})"))
