"""Legal holds: place, release, list, and keep S3 legal holds in step with the catalog.

A hold is two locks. The catalog hold blocks every recvault deletion path (source deletion,
expiry, erasure): each one checks for covering holds on committed data right before it acts.
The S3 object legal hold (ON on every version of every covered recording) makes the bucket
itself refuse the deletion, whoever asks. The catalog hold is committed first, so a failure
half-way through the S3 part still leaves the recordings protected from recvault; recordings
archived after the hold was placed get their S3 hold at the next ``retention apply``.

Releasing a hold turns the S3 legal hold OFF only on recordings no other active hold covers.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flows.audit.anchor import write_anchor
from flows.retention.delete import GATE_LEASE_S, iso, list_versions
from flows.retention.transcripts import transcript_prefixes
from flows.services import Services
from models.errors import CatalogError, ConfigError, RecvaultError, StorageError
from models.tables import LegalHold
from storage.catalog.store import Catalog

log = logging.getLogger(__name__)
WAIT_POLL_S = 0.2


@dataclass(frozen=True)
class HoldToApply:
    """A covered recording whose objects the hold has not yet put under S3 legal hold."""

    hold_id: int
    recording_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"hold_id": self.hold_id, "recording_id": self.recording_id}


NO_OBJECT_LOCK = (
    "unavailable: the bucket has no Object Lock, so S3 cannot hold objects; the hold is "
    "enforced by recvault only (every recvault deletion path refuses held recordings)"
)


@dataclass(frozen=True)
class HoldReport:
    hold: LegalHold
    recordings: int  # covered by the scope now
    versions: int  # object versions switched to (or found at) S3 legal hold ON
    kept: int = 0  # on release: recordings still covered by another hold
    s3_legal_hold: str = "ON"  # or why S3 does not hold the objects
    # Covered recordings whose deletion had already been checked against the holds and was
    # under way when this hold was placed: the hold waited for it (their certificates say so).
    deleted_while_placing: tuple[str, ...] = ()
    # Deletions whose process seems to have died (the marker outlived its lease): their outcome
    # is unknown until the next retention run, which the hold then refuses.
    unfinished_deletions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            **hold_json(self.hold),
            "recordings": self.recordings,
            "versions": self.versions,
            "s3_legal_hold": self.s3_legal_hold,
            "deleted_while_placing": list(self.deleted_while_placing),
            "unfinished_deletions": list(self.unfinished_deletions),
        }


def s3_holds_possible(deps: Services) -> bool:
    """False only when the bucket says it has no Object Lock; a store that will not say is
    tried (and a failure reported per recording)."""
    return deps.store.object_lock_enabled() is not False


def hold_json(hold: LegalHold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "scope_kind": hold.scope_kind,
        "scope_value": hold.scope_value,
        "reason": hold.reason,
        "case": hold.case_ref,
        "placed_by": hold.placed_by,
        "placed_at": iso(hold.placed_at),
        "released_by": hold.released_by,
        "released_at": iso(hold.released_at),
        "active": hold.released_at is None,
    }


def _undeleted_objects(deps: Services, recording_id: str) -> bool:
    return any(o.deleted_at is None for o in deps.catalog.objects(recording_id))


def apply_hold_to_recording(deps: Services, hold_id: int, recording_id: str) -> int:
    """S3 legal hold ON on every version of the recording and of its conversation's transcript;
    returns how many versions it holds."""
    versions = list_versions(
        deps.store,
        deps.catalog.objects(recording_id),
        prefixes=transcript_prefixes(deps, recording_id),
    )
    for version in versions:
        if not version.legal_hold:
            deps.store.set_legal_hold(version.key, version_id=version.version_id, on=True)
    deps.catalog.record_hold_applied(
        hold_id, recording_id, versions=len(versions), at=deps.clock(), actor=deps.actor
    )
    log.info("legal hold applied hold_id=%d recording_id=%s", hold_id, recording_id)
    return len(versions)


def plan_hold_sync(deps: Services, notes: list[str] | None = None) -> list[HoldToApply]:
    """Covered recordings with objects that their active hold has not yet applied to; none on
    a bucket without Object Lock (a note says so)."""
    jobs: list[HoldToApply] = []
    if not s3_holds_possible(deps):
        if notes is not None and deps.catalog.list_holds():
            notes.append(f"legal holds: S3 legal hold {NO_OBJECT_LOCK}")
        return jobs
    for hold in deps.catalog.list_holds():
        hold_id = hold.id or 0
        linked = {link.recording_id for link in deps.catalog.hold_links(hold_id)}
        for recording_id in deps.catalog.hold_covered_ids(hold):
            if not _undeleted_objects(deps, recording_id):
                continue
            if recording_id not in linked or _drifted(deps, recording_id):
                jobs.append(HoldToApply(hold_id, recording_id))
    return jobs


def _drifted(deps: Services, recording_id: str) -> bool:
    """A version of a held recording whose S3 legal hold was switched OFF outside recvault
    (issue 9, finding 4): the next run puts it back (and audits that)."""
    versions = list_versions(
        deps.store,
        deps.catalog.objects(recording_id),
        prefixes=transcript_prefixes(deps, recording_id),
    )
    return any(not v.legal_hold for v in versions)


def wait_for_deletions(
    deps: Services, recording_ids: Sequence[str], *, budget_s: float = GATE_LEASE_S
) -> tuple[list[str], list[str]]:
    """Waits for the deletions of ``recording_ids`` already under way (their hold check came
    before the hold): (finished while waiting, still unfinished when their lease ran out)."""
    markers = deps.catalog.deletions_in_progress(recording_ids)
    if not markers:
        return [], []
    raced = sorted(m.recording_id for m in markers)
    log.info("legal hold waits for deletions in progress recordings=%d", len(raced))
    deadline = time.monotonic() + budget_s
    while markers and time.monotonic() < deadline:
        time.sleep(WAIT_POLL_S)
        markers = deps.catalog.deletions_in_progress(raced)
    left = sorted(m.recording_id for m in markers)
    return [r for r in raced if r not in left], left


def place_hold(
    deps: Services, *, scope_kind: str, scope_value: str, reason: str, case_ref: str
) -> HoldReport:
    """Places the hold in the catalog (every deletion from now on refuses the recordings it
    covers), waits for deletions of covered recordings already under way, then puts every
    remaining object version under S3 legal hold."""
    key = deps.settings.identity_secret if scope_kind == "participant" else None
    hold = deps.catalog.place_hold(
        scope_kind=scope_kind,
        scope_value=scope_value,
        reason=reason,
        case_ref=case_ref,
        actor=deps.actor,
        at=deps.clock(),
        identity_key=key,
    )
    hold_id = hold.id or 0
    covered = deps.catalog.hold_covered_ids(hold)
    raced, unfinished = wait_for_deletions(deps, covered)
    if raced or unfinished:
        deps.catalog.append_audit(
            event="legal_hold_waited",
            actor=deps.actor,
            at=deps.clock(),
            detail={
                "hold_id": hold_id,
                "deleted_while_placing": raced,
                "unfinished_deletions": unfinished,
            },
        )
    report = functools.partial(
        HoldReport,
        hold,
        recordings=len(covered),
        deleted_while_placing=tuple(raced),
        unfinished_deletions=tuple(unfinished),
    )
    held = 0
    failures: list[str] = []
    if not s3_holds_possible(deps):
        log.warning("legal hold placed hold_id=%d without S3 legal hold: no Object Lock", hold_id)
        write_anchor(deps, run="hold")
        return report(versions=0, s3_legal_hold=NO_OBJECT_LOCK)
    for recording_id in covered:
        if not _undeleted_objects(deps, recording_id):
            continue
        try:
            held += apply_hold_to_recording(deps, hold_id, recording_id)
        except CatalogError:
            raise
        except RecvaultError as exc:
            failures.append(f"{recording_id}: {exc}")
    log.info("legal hold placed hold_id=%d recordings=%d versions=%d", hold_id, len(covered), held)
    write_anchor(deps, run="hold")
    if failures:
        raise StorageError(
            f"legal hold #{hold_id} is placed in the catalog and blocks every recvault deletion, "
            f"but the S3 legal hold failed on {len(failures)} recording(s) (first: {failures[0]}); "
            "recvault retention apply retries it"
        )
    return report(versions=held)


def release_holds(deps: Services, ref: str) -> list[HoldReport]:
    """Releases the active holds named by ``ref`` (a hold id or a case reference)."""
    found = deps.catalog.find_holds(ref, active_only=True)
    if not found:
        raise ConfigError(f"no active legal hold with id or case {ref!r}: see recvault hold list")
    reports = []
    for hold in found:
        hold_id = hold.id or 0
        released = deps.catalog.release_hold(hold_id, actor=deps.actor, at=deps.clock())
        recordings = {link.recording_id for link in deps.catalog.hold_links(hold_id)}
        recordings |= set(deps.catalog.hold_covered_ids(hold))
        lifted = kept = 0
        for recording_id in sorted(recordings):
            others = deps.catalog.holds_covering(recording_id)
            if others:
                kept += 1
                continue
            lifted += _lift_s3_hold(deps, hold_id, recording_id)
        log.info("legal hold released hold_id=%d versions=%d kept=%d", hold_id, lifted, kept)
        reports.append(HoldReport(released, recordings=len(recordings), versions=lifted, kept=kept))
    write_anchor(deps, run="hold")
    return reports


def _lift_s3_hold(deps: Services, hold_id: int, recording_id: str) -> int:
    # The transcript is the whole conversation's: it stays held while a hold covers any leg.
    conversation_id = deps.catalog.get(recording_id).conversation_id
    shared = bool(conversation_id) and bool(
        deps.catalog.conversations_with_holds([conversation_id or ""])
    )
    prefixes = [] if shared else transcript_prefixes(deps, recording_id)
    versions = [
        v
        for v in list_versions(deps.store, deps.catalog.objects(recording_id), prefixes=prefixes)
        if v.legal_hold
    ]
    for version in versions:
        deps.store.set_legal_hold(version.key, version_id=version.version_id, on=False)
    if versions:
        deps.catalog.append_audit(
            event="legal_hold_lifted",
            actor=deps.actor,
            at=deps.clock(),
            recording_id=recording_id,
            detail={"hold_id": hold_id, "versions": len(versions), "s3_legal_hold": "OFF"},
        )
    return len(versions)


def list_holds(catalog: Catalog, *, include_released: bool = False) -> list[dict[str, Any]]:
    rows = []
    for hold in catalog.list_holds(include_released=include_released):
        links = catalog.hold_links(hold.id or 0)
        rows.append(
            {
                **hold_json(hold),
                "recordings": len(catalog.hold_covered_ids(hold)),
                "s3_held_recordings": len(links),
            }
        )
    return rows
