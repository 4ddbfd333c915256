"""The two deletion paths, each guarded right before it acts and each leaving a certificate.

- ``delete_source_copy``: the copy at Infobip, only of an ARCHIVED recording whose original has a
  recorded verification with the same hash the catalog downloaded, and no legal hold.
- ``delete_archive``: every object version of a recording in the bucket; the recording becomes
  an EXPIRED tombstone without personal data.

A refusal is audited (once per reason, so a daily run does not repeat it) and raised as a
``PolicyError``. A certificate is the audit event of the deletion itself: who, what (ids,
hashes, object versions), when, why and under which rule; the audit chain makes it tamper-evident.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flows.services import Services
from models.errors import (
    ArchiveNotVerified,
    CatalogError,
    LegalHoldActive,
    PolicyError,
    RecvaultError,
    StorageError,
)
from models.states import RecordingState
from models.tables import ArchivedObject, Recording
from storage.catalog.retention import DeletionGate
from storage.s3.store import ObjectStore

log = logging.getLogger(__name__)
S = RecordingState
# How long a deletion's in-progress marker holds without being recorded; a hold placed while
# it stands waits at most this long (the marker of a process that died lapses then).
GATE_LEASE_S = 300


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@dataclass(frozen=True)
class PlannedVersion:
    """One object version in the bucket, as the store reports it now."""

    bucket: str
    key: str
    version_id: str | None
    kind: str
    sha256: str | None
    size_bytes: int
    lock_mode: str | None
    retain_until: datetime | None
    legal_hold: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "kind": self.kind,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "lock_mode": self.lock_mode,
            "retain_until": iso(self.retain_until),
            "legal_hold": self.legal_hold,
        }

    @property
    def ref(self) -> tuple[str, str | None]:
        return self.key, self.version_id


def recording_prefixes(objects: Sequence[ArchivedObject]) -> list[str]:
    """The recording's folders: keys embed the recording id, so nothing else lives there."""
    return sorted({o.key.rsplit("/", 1)[0] + "/" for o in objects if "/" in o.key})


def list_versions(
    store: ObjectStore, objects: Sequence[ArchivedObject], *, prefixes: Sequence[str] = ()
) -> list[PlannedVersion]:
    """Every version in the recording's folders (those of its objects, and ``prefixes``), with
    its lock state (one HEAD per version)."""
    tracked = {(o.key, o.version_id): o for o in objects}
    found: list[PlannedVersion] = []
    for prefix in sorted(set(recording_prefixes(objects)) | set(prefixes)):
        for listed in store.iter_versions(prefix):
            info = store.head(listed.key, version_id=listed.version_id)
            if info is None:  # deleted between the listing and the HEAD
                continue
            known = tracked.get((listed.key, listed.version_id))
            kind = known.kind if known else info.metadata.get("kind", "unknown")
            found.append(
                PlannedVersion(
                    bucket=store.bucket,
                    key=listed.key,
                    version_id=listed.version_id,
                    kind=kind,
                    sha256=known.sha256 if known else info.sha256,
                    size_bytes=info.size_bytes,
                    lock_mode=info.lock_mode,
                    retain_until=info.retain_until,
                    legal_hold=bool(info.legal_hold),
                )
            )
    return sorted(found, key=lambda v: (v.key, v.version_id or ""))


def original_of(objects: Sequence[ArchivedObject]) -> ArchivedObject | None:
    return next((o for o in objects if o.kind == "original"), None)


def source_deletion_problem(
    row: Recording, objects: Sequence[ArchivedObject], holds: Sequence[int]
) -> str | None:
    """Why the source copy may not be deleted now, or None. An EXPIRED recording whose source
    copy outlived the archive qualifies: its retention is over everywhere."""
    if holds:
        return f"a legal hold is active (hold {', '.join(f'#{h}' for h in holds)})"
    if row.source_deleted_at is not None:
        return "the source copy is already deleted"
    if row.state == S.EXPIRED:
        return None
    if row.state != S.ARCHIVED:
        return f"state is {row.state}; only ARCHIVED recordings qualify"
    original = original_of(objects)
    if original is None or original.deleted_at is not None:
        return "no archived original in the catalog"
    if original.verified_at is None:
        return "no recorded verification of the archived copy"
    if not row.source_sha256 or original.sha256 != row.source_sha256:
        return "the archived original's hash differs from the downloaded hash"
    return None


def audit_refusal(deps: Services, recording_id: str, action: str, reason: str) -> None:
    """Audits a refused deletion unless the last refusal of this action said the same."""
    event = f"{action}_refused"
    previous = [e for e in deps.catalog.audit_events(recording_id) if e.event == event]
    if previous and (previous[-1].detail or {}).get("reason") == reason:
        return
    deps.catalog.append_audit(
        event=event,
        actor=deps.actor,
        at=deps.clock(),
        recording_id=recording_id,
        detail={"reason": reason},
    )
    log.info("deletion refused recording_id=%s action=%s reason=%s", recording_id, action, reason)


def certificate(
    deps: Services,
    *,
    kind: str,
    row: Recording,
    at: datetime,
    why: str,
    rule: str | None,
    where: str,
    versions: Sequence[PlannedVersion] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The deletion certificate: ids, hashes and dates only (the audit log is never erased)."""
    return {
        "certificate_id": uuid.uuid4().hex,
        "kind": kind,
        "who": deps.actor,
        "when": iso(at),
        "why": why,
        "rule": rule,
        "where": where,
        "recording": {
            "recording_id": row.recording_id,
            "conversation_id": row.conversation_id,
            "call_id": row.call_id,
            "media_type": row.media_type,
            "started_at": iso(row.started_at),
            "archived_at": iso(row.archived_at),
            "state_before": str(row.state),
        },
        "source_sha256": row.source_sha256,
        "source_size_bytes": row.source_size_bytes,
        "objects": [v.as_dict() for v in versions],
        # "legal_holds" is written by the catalog in the transaction that records the deletion:
        # the hold status the deletion's own transaction observed (see DeletionGate).
        **extra,
    }


def reverify_archive(deps: Services, row: Recording, original: ArchivedObject) -> dict[str, Any]:
    """No verified copy, no deletion: right before the source copy goes, the archived original
    must still be there, the same version, size and SHA-256 (by the store's checksum, or read
    back and hashed where the store keeps none). Returns what was checked, for the certificate;
    raises ``ArchiveNotVerified`` (audited) when the copy is missing, different or unreadable."""
    at = deps.clock()
    try:
        result = deps.store.verify(
            original.key,
            version_id=original.version_id,
            sha256=original.sha256,
            size_bytes=original.size_bytes,
        )
    except StorageError as exc:
        reason = f"the archived original failed re-verification: {exc}"
        audit_refusal(deps, row.recording_id, "source_deletion", reason)
        raise ArchiveNotVerified(
            f"recording {row.recording_id}: source copy not deleted: {reason}"
        ) from exc
    return {
        "result": "re-verified",
        "method": result.method,
        "at": iso(at),
        "bucket": original.bucket,
        "key": original.key,
        "version_id": original.version_id,
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "recorded_verification_at": iso(original.verified_at),
    }


def _hold_reason(holds: Sequence[int]) -> str:
    return f"a legal hold is active (hold {', '.join(f'#{h}' for h in holds)})"


@contextmanager
def deletion_gate(
    deps: Services, recording_id: str, *, kind: str, action: str
) -> Iterator[DeletionGate]:
    """Checks the holds and marks the deletion in progress in one transaction ordered with hold
    placement, so a hold either refuses this deletion or waits for it to finish. The catalog
    removes the marker when it records the deletion; a failure removes it here."""
    gate = deps.catalog.begin_deletion(
        recording_id, kind=kind, holder=deps.worker[:128], at=deps.clock(), lease_s=GATE_LEASE_S
    )
    if gate.holds:
        reason = _hold_reason(gate.holds)
        audit_refusal(deps, recording_id, action, reason)
        raise LegalHoldActive(f"recording {recording_id}: {kind} copy not deleted: {reason}")
    try:
        yield gate
    except BaseException:
        try:
            deps.catalog.end_deletion(recording_id, holder=gate.holder)
        except CatalogError:  # the marker's lease lapses on its own
            log.warning("deletion marker left recording_id=%s", recording_id)
        raise


def delete_source_copy(
    deps: Services, recording_id: str, *, why: str, rule: str | None
) -> Recording:
    """Deletes the copy at Infobip after checking, on committed state, that it may go, and
    after re-verifying the archived original; holds are checked once more, in the transaction
    that marks the deletion in progress, right before the call to the source."""
    row = deps.catalog.get(recording_id)
    objects = deps.catalog.objects(recording_id)
    holds = deps.catalog.holds_covering(recording_id)
    problem = source_deletion_problem(row, objects, holds)
    if problem is not None:
        audit_refusal(deps, recording_id, "source_deletion", problem)
        error = LegalHoldActive if holds else PolicyError
        raise error(f"recording {recording_id}: source copy not deleted: {problem}")
    original = original_of(objects)
    verified: dict[str, Any] = {}
    if row.state == S.EXPIRED or original is None:
        check: dict[str, Any] = {
            "result": "no archived copy: the archive expired "
            f"{iso(row.expired_at)} (retention ended), so there is nothing to re-verify and "
            "nothing left to keep",
        }
        sha256 = row.source_sha256 or ""
    else:
        check = reverify_archive(deps, row, original)
        sha256 = original.sha256
        verified = {
            "verified_sha256": original.sha256,
            "verified_at": iso(original.verified_at),
            "verified_key": original.key,
            "verified_version_id": original.version_id,
        }
    with deletion_gate(deps, recording_id, kind="source", action="source_deletion") as gate:
        receipt = deps.source_for(gate.row).delete(gate.row)
        note = f"deleted at the source ({row.source}), confirmed: {receipt.confirmed_by}"
        at = deps.clock()
        cert = certificate(
            deps,
            kind="source_deletion",
            row=gate.row,
            at=at,
            why=why,
            rule=rule,
            where="infobip",
            archive_check=check,
            confirmed_by=receipt.confirmed_by,
            source_deleted_at=iso(receipt.deleted_at),
            outcome=note,
            **verified,
        )
        done = deps.catalog.record_source_deletion(
            recording_id, sha256=sha256, at=at, actor=deps.actor, certificate=cert, gate=gate
        )
    log.info("source deleted recording_id=%s sha256=%s", recording_id, sha256)
    return done


def _deletion_order(versions: Sequence[PlannedVersion]) -> list[PlannedVersion]:
    # The original goes last: if a deletion fails half-way, the evidence is what remains.
    return sorted(versions, key=lambda v: (v.kind == "original", v.key, v.version_id or ""))


def delete_archive(
    deps: Services,
    recording_id: str,
    versions: Sequence[PlannedVersion],
    *,
    kind: str,
    event: str,
    why: str,
    rule: str | None,
    retain_until: datetime | None,
    bypass_governance: bool = False,
    source_first: bool = False,
    **extra: Any,
) -> Recording:
    """Deletes ``versions`` (the plan's), checks nothing is left, and tombstones the recording.
    ``source_first``: refuse while the copy at the source is not deleted yet (an expiry under a
    rule that deletes it: the archive never expires before that copy is gone)."""
    row = deps.catalog.get(recording_id)
    holds = deps.catalog.holds_covering(recording_id)
    if holds:
        reason = _hold_reason(holds)
        audit_refusal(deps, recording_id, kind, reason)
        raise LegalHoldActive(f"recording {recording_id}: archive not deleted: {reason}")
    if row.state not in (S.ARCHIVED, S.SOURCE_DELETED):
        raise PolicyError(f"recording {recording_id}: state is {row.state}; nothing to delete")
    if source_first and row.source_deleted_at is None and row.state != S.SOURCE_DELETED:
        reason = "the source copy is not deleted yet; the archive expires after it"
        audit_refusal(deps, recording_id, kind, reason)
        raise PolicyError(f"recording {recording_id}: archive not deleted: {reason}")
    with deletion_gate(deps, recording_id, kind="archive", action=kind) as gate:
        return delete_versions(
            deps,
            gate,
            versions,
            kind=kind,
            event=event,
            why=why,
            rule=rule,
            retain_until=retain_until,
            bypass_governance=bypass_governance,
            **extra,
        )


def delete_versions(
    deps: Services,
    gate: DeletionGate,
    versions: Sequence[PlannedVersion],
    *,
    kind: str,
    event: str,
    why: str,
    rule: str | None,
    retain_until: datetime | None,
    bypass_governance: bool,
    source_deleted_at: datetime | None = None,
    **extra: Any,
) -> Recording:
    row = gate.row
    recording_id = row.recording_id
    where = f"s3://{deps.store.bucket}"
    deleted: list[PlannedVersion] = []
    error: RecvaultError | None = None
    for version in _deletion_order(versions):
        try:
            deps.store.delete_version(
                version.key,
                version_id=version.version_id,
                bypass_governance=bypass_governance and version.lock_mode == "GOVERNANCE",
            )
        except RecvaultError as exc:
            error = exc
            break
        deleted.append(version)
    if error is None:
        left = list_versions(deps.store, deps.catalog.objects(recording_id))
        if left:
            error = StorageError(
                f"recording {recording_id}: {len(left)} object version(s) appeared after the "
                "plan was made; the next run deletes them"
            )
    at = deps.clock()
    # The same certificate either way; only its closing fields differ.
    certify = functools.partial(
        certificate,
        deps,
        kind=kind,
        row=row,
        at=at,
        why=why,
        rule=rule,
        where=where,
        versions=deleted,
        **extra,
    )
    if error is not None:
        if deleted:
            deps.catalog.record_versions_deleted(
                recording_id,
                versions=[v.ref for v in deleted],
                at=at,
                actor=deps.actor,
                event="deletion_incomplete",
                detail=certify(error=str(error)),
                gate=gate,
            )
        raise error
    cert = certify(retain_until=iso(retain_until), bypass_governance=bypass_governance)
    done = deps.catalog.record_expiry(
        recording_id,
        versions=[v.ref for v in deleted],
        retain_until=retain_until,
        reason=why,
        at=at,
        actor=deps.actor,
        event=event,
        certificate=cert,
        gate=gate,
        source_deleted_at=source_deleted_at,
        identity_key=_identity_key(deps),
    )
    log.info(
        "archive deleted recording_id=%s versions=%d event=%s", recording_id, len(deleted), event
    )
    return done


def _identity_key(deps: Services) -> str | None:
    """The tombstone keeps a keyed hash of the identity only where a key is configured."""
    key = deps.settings.identity_key
    return key.get_secret_value() if key is not None else None
