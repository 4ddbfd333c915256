"""Retention as plain functions: plan what the policy says is due, then do exactly that.

``plan_retention`` only reads (catalog, bucket listings and HEADs); a dry run prints it. The real
run (``apply_plan``) takes the same plan and carries it out item by item: first the S3 legal
holds that active holds still lack, then source deletions, then archive expiries. Each deletion
re-checks holds and state on committed data right before it acts, so a hold placed after the
plan still wins.

Retain-until is the latest of the rule's date (call start + retention) and any Object Lock date
recorded in the catalog or reported by the bucket, so an expiry never tries to delete before
S3 would allow it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flows.audit.anchor import AnchorReport, write_anchor
from flows.retention.delete import (
    PlannedVersion,
    audit_refusal,
    delete_archive,
    delete_source_copy,
    iso,
    list_versions,
    original_of,
)
from flows.retention.holds import HoldToApply, apply_hold_to_recording, plan_hold_sync
from flows.retention.transcripts import TranscriptResult, expire_transcripts
from flows.services import Services
from models.errors import (
    CatalogError,
    CatalogLocked,
    ConfigError,
    LegalHoldActive,
    PolicyError,
    RecvaultError,
    SourceDeletionUnavailable,
)
from models.policy.facts import RecordingFacts
from models.policy.retention import (
    Action,
    Decision,
    decide_expiry,
    decide_source_deletion,
    expiry_after_source,
    retain_until,
    source_delete_due,
)
from models.policy.rules import Rule
from models.states import RecordingState
from models.tables import ArchivedObject, Recording

log = logging.getLogger(__name__)
S = RecordingState
RETENTION_LOCK = "retention"
LOCK_LEASE_S = 600

DELETE_SOURCE = "delete_source"
EXPIRE = "expire"
ERASE = "erase"


@dataclass(frozen=True)
class PlanItem:
    """One deletion the policy calls for (``decision`` delete) or refuses (blocked)."""

    recording_id: str
    action: str
    decision: str
    reason: str
    rule: str
    state: str
    where: str
    due_at: datetime | None = None
    retain_until: datetime | None = None
    source_sha256: str | None = None
    holds: tuple[int, ...] = ()
    delete_source: bool = False
    bypass_governance: bool = False
    versions: tuple[PlannedVersion, ...] = ()

    @property
    def proceed(self) -> bool:
        return self.decision == Action.DELETE.value

    def as_dict(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "action": self.action,
            "decision": self.decision,
            "reason": self.reason,
            "rule": self.rule,
            "state": self.state,
            "where": self.where,
            "due_at": iso(self.due_at),
            "retain_until": iso(self.retain_until),
            "source_sha256": self.source_sha256,
            "holds": list(self.holds),
            "delete_source": self.delete_source,
            "bypass_governance": self.bypass_governance,
            "objects": [v.as_dict() for v in self.versions],
        }


@dataclass
class RetentionPlan:
    at: datetime
    items: list[PlanItem] = field(default_factory=list)
    holds_to_apply: list[HoldToApply] = field(default_factory=list)
    considered: int = 0
    waiting: int = 0  # recordings with a deletion still to come
    notes: list[str] = field(default_factory=list)  # what the run cannot do, and why
    waiting_items: list[PlanItem] = field(default_factory=list)  # each with its reason and date

    @property
    def deletions(self) -> list[PlanItem]:
        return [item for item in self.items if item.proceed]

    @property
    def due(self) -> list[PlanItem]:
        """Deletions the policy calls for that this deployment does not carry out (reported)."""
        return [item for item in self.items if item.decision == Action.DUE.value]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "considered": self.considered,
            "waiting": self.waiting,
            "deletions": len(self.deletions),
            "refusals": len(self.items) - len(self.deletions) - len(self.due),
            "due": len(self.due),
            "holds_to_apply": [h.as_dict() for h in self.holds_to_apply],
            "notes": list(self.notes),
            "items": [item.as_dict() for item in self.items],
            "waiting_items": [item.as_dict() for item in self.waiting_items],
        }


@dataclass(frozen=True)
class ItemResult:
    recording_id: str
    action: str
    outcome: str  # done | refused | failed | due (not deleted here: source deletion off)
    detail: str
    state: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "action": self.action,
            "outcome": self.outcome,
            "detail": self.detail,
            "state": self.state,
        }


class ResultTally:
    """Counts of a run's item outcomes; shared by retention and erasure runs."""

    results: list[ItemResult]

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def tally(self) -> dict[str, Any]:
        return {
            "results": [r.as_dict() for r in self.results],
            "done": self.count("done"),
            "refused": self.count("refused"),
            "failed": self.count("failed"),
            "due": self.count("due"),
        }


@dataclass
class RetentionRun(ResultTally):
    plan: RetentionPlan
    dry_run: bool
    results: list[ItemResult] = field(default_factory=list)
    holds_applied: int = 0
    anchor: AnchorReport | None = None
    transcripts: list[TranscriptResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return super().ok and all(t.outcome != "failed" for t in self.transcripts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "plan": self.plan.as_dict(),
            **self.tally(),
            "holds_applied": self.holds_applied,
            "transcripts": [t.as_dict() for t in self.transcripts],
            "audit_anchor": self.anchor.as_dict() if self.anchor else None,
        }


# --- planning ----------------------------------------------------------------------------------


def rule_for(deps: Services, row: Recording) -> Rule:
    """The rule that applies to ``row``. A tombstone lost the metadata some rules match on
    (tags live in the raw metadata), so it keeps the rule it was archived under when the
    policy still has it."""
    if row.state == S.EXPIRED and row.policy_rule:
        kept = deps.policy.get(row.policy_rule)
        if kept is not None:
            return kept
    return deps.policy.match(RecordingFacts.from_row(row)).rule


def source_gone(row: Recording) -> bool:
    return row.source_deleted_at is not None or row.state == S.SOURCE_DELETED


def effective_retain_until(
    rule: Rule, row: Recording, objects: Sequence[ArchivedObject], versions: Sequence[Any] = ()
) -> datetime:
    """The latest of the rule's date and every Object Lock date known for the recording."""
    dates = [retain_until(rule, row.started_at)]
    dates += [o.retain_until for o in objects if o.retain_until is not None]
    dates += [v.retain_until for v in versions if v.retain_until is not None]
    return max(dates)


def is_verified(row: Recording, objects: Sequence[ArchivedObject]) -> bool:
    original = original_of(objects)
    return (
        original is not None
        and original.verified_at is not None
        and original.deleted_at is None
        and bool(row.source_sha256)
        and original.sha256 == row.source_sha256
    )


def check_store(decision: Decision, versions: Sequence[PlannedVersion], now: datetime) -> Decision:
    """What the bucket itself says: a version under S3 legal hold or still locked past ``now``."""
    if not decision.proceed:
        return decision
    held = [v for v in versions if v.legal_hold]
    if held:
        first = held[0]
        return Decision(
            Action.BLOCKED,
            f"S3 legal hold is ON on {first.key} version {first.version_id}",
            decision.due_at,
        )
    locked = [v.retain_until for v in versions if v.retain_until and v.retain_until > now]
    if locked:
        until = max(locked)
        return Decision(Action.WAIT, f"object lock until {until:%Y-%m-%d %H:%M}Z", until)
    return decision


def _not_yet(decision: Decision, due: datetime | None, now: datetime) -> Decision:
    """A hold refuses a deletion only once it is due; before that the recording just waits
    (so a held recording is not listed and audited as refused on every run for years)."""
    if decision.action is Action.BLOCKED and due is not None and now < due:
        return Decision(Action.WAIT, f"due {due:%Y-%m-%d %H:%M}Z ({decision.reason})", due)
    return decision


def _deletes_at_source(deps: Services, recording_id: str) -> bool:
    """Can this deployment delete the recording's source copy? (Not with deletion off.)"""
    source = deps.sources.get(deps.catalog.get(recording_id).source)
    return source is not None and source.deletion_unavailable() is None


def source_deletion_due(deps: Services, row: Recording, decision: Decision) -> Decision:
    """A deletion the policy allows, as ``due`` where this deployment deletes nothing at the
    recording's source (source deletion off, or the source not configured here)."""
    source = deps.sources.get(row.source)
    if source is None:
        why = (
            f"source {row.source!r} is not configured here (set RECVAULT_SOURCES and the "
            "Infobip credentials)"
        )
    else:
        unavailable = source.deletion_unavailable()
        if unavailable is None:
            return decision
        why = unavailable
    return Decision(Action.DUE, f"due, {why}", decision.due_at)


def _item(
    row: Recording, rule: Rule, action: str, decision: Decision, where: str, **more: Any
) -> PlanItem:
    return PlanItem(
        recording_id=row.recording_id,
        action=action,
        decision=decision.action.value,
        reason=decision.reason,
        rule=rule.name,
        state=str(row.state),
        where=where,
        due_at=decision.due_at,
        source_sha256=row.source_sha256,
        **more,
    )


def plan_retention(deps: Services) -> RetentionPlan:
    now = deps.clock()
    plan = RetentionPlan(at=now)
    holds = deps.catalog.active_holds_by_recording()
    bucket = f"s3://{deps.store.bucket}"
    candidates = deps.catalog.iter_with_objects(
        {S.ARCHIVED, S.SOURCE_DELETED}, expired_with_source=True
    )
    for row, objects in candidates:
        plan.considered += 1
        rule = rule_for(deps, row)
        held = tuple(holds.get(row.recording_id, ()))
        source = decide_source_deletion(
            RecordingState(row.state),
            source_gone=source_gone(row),
            verified=is_verified(row, objects),
            on_hold=bool(held),
            rule=rule,
            archived_at=row.archived_at,
            now=now,
        )
        if row.archived_at is not None and row.state != S.EXPIRED:
            source = _not_yet(source, source_delete_due(rule, row.archived_at), now)
        if source.proceed:
            source = source_deletion_due(deps, row, source)
        if source.action is not Action.SKIP:
            item = _item(row, rule, DELETE_SOURCE, source, "infobip", holds=held)
            (plan.waiting_items if source.action is Action.WAIT else plan.items).append(item)
        until = effective_retain_until(rule, row, objects)
        expiry = decide_expiry(
            RecordingState(row.state), retain_until=until, on_hold=bool(held), now=now
        )
        expiry = expiry_after_source(_not_yet(expiry, until, now), source)
        versions: list[PlannedVersion] = []
        if expiry.proceed:
            versions = list_versions(deps.store, objects)
            until = effective_retain_until(rule, row, objects, versions)
            expiry = check_store(expiry, versions, now)
        if expiry.action is not Action.SKIP:
            item = _item(
                row,
                rule,
                EXPIRE,
                expiry,
                bucket,
                retain_until=until,
                holds=held,
                versions=tuple(versions),
            )
            (plan.waiting_items if expiry.action is Action.WAIT else plan.items).append(item)
        if Action.WAIT in (source.action, expiry.action):
            plan.waiting += 1
    plan.holds_to_apply = plan_hold_sync(deps, plan.notes)
    log.info(
        "retention planned considered=%d deletions=%d refusals=%d holds_to_apply=%d",
        plan.considered,
        len(plan.deletions),
        len(plan.items) - len(plan.deletions),
        len(plan.holds_to_apply),
    )
    return plan


# --- carrying it out ---------------------------------------------------------------------------


@contextmanager
def retention_lock(deps: Services) -> Iterator[Callable[[], None]]:
    """One deleting run at a time (retention apply or erase), across processes. Yields a
    ``renew`` to call between items; a crashed run's lease lapses after ``LOCK_LEASE_S``."""
    holder = f"{deps.actor}:{uuid.uuid4().hex[:8]}"
    if not deps.catalog.acquire_lock(
        RETENTION_LOCK, holder=holder, now=deps.clock(), lease_s=LOCK_LEASE_S
    ):
        other = deps.catalog.lock_holder(RETENTION_LOCK)
        raise CatalogLocked(
            f"another retention run or erasure is in progress ({other}); try again when it ends"
        )

    def renew() -> None:
        if not deps.catalog.renew_lock(
            RETENTION_LOCK, holder=holder, now=deps.clock(), lease_s=LOCK_LEASE_S
        ):
            raise CatalogLocked("the retention lock was lost (lease expired); run again")

    try:
        yield renew
    finally:
        deps.catalog.release_lock(RETENTION_LOCK, holder=holder)


def execute_item(deps: Services, item: PlanItem) -> ItemResult:
    """Does one plan item; refusals and failures are results, catalog outages raise."""
    if item.decision == Action.DUE.value:
        return ItemResult(item.recording_id, item.action, "due", item.reason, item.state)
    if not item.proceed:
        audit_refusal(deps, item.recording_id, _refusal_action(item.action), item.reason)
        return ItemResult(item.recording_id, item.action, "refused", item.reason, item.state)
    try:
        if item.action == DELETE_SOURCE:
            row = delete_source_copy(deps, item.recording_id, why=item.reason, rule=item.rule)
        else:
            rule = deps.policy.get(item.rule)
            row = delete_archive(
                deps,
                item.recording_id,
                item.versions,
                kind="archive_expiry",
                event="archive_expired",
                why=item.reason,
                rule=item.rule,
                retain_until=item.retain_until,
                source_first=rule is not None
                and rule.delete_source_after_days is not None
                and _deletes_at_source(deps, item.recording_id),
            )
    except (CatalogError, ConfigError):
        # A catalog outage or a route that does not exist: stop the run, record nothing.
        raise
    except SourceDeletionUnavailable as exc:
        return ItemResult(item.recording_id, item.action, "due", str(exc), item.state)
    except (LegalHoldActive, PolicyError) as exc:
        return ItemResult(item.recording_id, item.action, "refused", str(exc), item.state)
    except RecvaultError as exc:
        log.warning(
            "retention item failed recording_id=%s action=%s", item.recording_id, item.action
        )
        state = str(deps.catalog.get(item.recording_id).state)
        return ItemResult(item.recording_id, item.action, "failed", str(exc), state)
    return ItemResult(item.recording_id, item.action, "done", item.reason, str(row.state))


APPLY_HOLD = "apply_hold"


def _apply_hold(deps: Services, run: RetentionRun, job: HoldToApply) -> list[ItemResult]:
    """One recording's S3 legal hold; a failure is that recording's result, never the run's
    end (the catalog hold already blocks every deletion of it)."""
    try:
        run.holds_applied += apply_hold_to_recording(deps, job.hold_id, job.recording_id)
    except CatalogError:
        raise
    except RecvaultError as exc:
        log.warning(
            "legal hold not applied hold_id=%d recording_id=%s", job.hold_id, job.recording_id
        )
        state = str(deps.catalog.get(job.recording_id).state)
        detail = f"hold #{job.hold_id}: S3 legal hold not set: {exc}"
        return [ItemResult(job.recording_id, APPLY_HOLD, "failed", detail, state)]
    return []


def _refusal_action(action: str) -> str:
    return {DELETE_SOURCE: "source_deletion", EXPIRE: "archive_expiry"}.get(action, action)


def apply_plan(deps: Services, plan: RetentionPlan) -> RetentionRun:
    run = RetentionRun(plan=plan, dry_run=False)
    with retention_lock(deps) as renew:
        for job in plan.holds_to_apply:
            run.results.extend(_apply_hold(deps, run, job))
            renew()
        # Source copies first: an expiry in the same run then finds the state SOURCE_DELETED.
        ordered = [i for i in plan.items if i.action == DELETE_SOURCE]
        ordered += [i for i in plan.items if i.action != DELETE_SOURCE]
        for item in ordered:
            run.results.append(execute_item(deps, item))
            renew()
        # On committed state: a conversation whose last recording expired just now included.
        run.transcripts = expire_transcripts(deps)
    run.anchor = write_anchor(deps, run="retention")
    log.info(
        "retention applied done=%d refused=%d failed=%d due=%d",
        run.count("done"),
        run.count("refused"),
        run.count("failed"),
        run.count("due"),
    )
    return run


def run_retention(deps: Services, *, dry_run: bool) -> RetentionRun:
    plan = plan_retention(deps)
    if dry_run:
        return RetentionRun(plan=plan, dry_run=True)
    return apply_plan(deps, plan)
