"""Erasure requests (GDPR art. 17): delete one person's recordings, except where the law or a
court says otherwise, and say why.

The request covers the recordings whose participant identity is the person's, in any spelling
of its normal form (``models.identity``: E.164 for phone numbers, case for the rest), and, when
the policy says ``erasure_other_legs = "erase"``, the other legs of their conversations. Each
one is refused, with the reason, when a legal hold covers it, when a statutory rule's retention
has not ended, when an Object Lock in COMPLIANCE mode still runs (S3 refuses that deletion,
whatever the request), or while an archive run is working on it. The rest are deleted
everywhere recvault knows of: the copy at Infobip (when it is still there) and every object
version in the bucket; GOVERNANCE locks are bypassed for this, which needs
``s3:BypassGovernanceRetention``. FAILED and QUARANTINED recordings were never archived: their
source copy (and any object a failed upload left) is deleted and they become tombstones too.

Each deletion leaves a certificate naming the request. The audit log names the person, and the
free-text reference, only by their keyed hash (``RECVAULT_IDENTITY_KEY``); the person's keyed
hash is also remembered, so later runs do not archive their recordings from before the request
again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flows.audit.anchor import AnchorReport, write_anchor
from flows.retention.delete import (
    PlannedVersion,
    audit_refusal,
    delete_archive,
    delete_source_copy,
    delete_versions,
    deletion_gate,
    iso,
    list_versions,
)
from flows.retention.steps import (
    ERASE,
    ItemResult,
    PlanItem,
    ResultTally,
    effective_retain_until,
    is_verified,
    retention_lock,
    rule_for,
)
from flows.retention.transcripts import TranscriptResult, expire_transcripts
from flows.services import Services
from models.errors import (
    CatalogError,
    ConfigError,
    PolicyError,
    RecvaultError,
    SourceDeletionUnavailable,
)
from models.identity import identity_hmac
from models.keys import object_key
from models.policy.retention import Action, Decision, decide_erasure
from models.states import VERIFIED, RecordingState
from models.tables import ArchivedObject, Recording

log = logging.getLogger(__name__)
S = RecordingState
UNARCHIVED = (S.FAILED, S.QUARANTINED)


@dataclass
class ErasurePlan:
    at: datetime
    request_id: str
    identity_hmac: str
    reference: str | None
    reference_hmac: str | None = None
    other_legs: str = "keep"
    items: list[PlanItem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        deletions = sum(1 for i in self.items if i.proceed)
        return {
            "at": iso(self.at),
            "request_id": self.request_id,
            "reference": self.reference,
            "identity_hmac": self.identity_hmac,
            "other_legs": self.other_legs,
            "recordings": len(self.items),
            "deletions": deletions,
            "refusals": len(self.items) - deletions,
            "items": [i.as_dict() for i in self.items],
        }


@dataclass
class ErasureRun(ResultTally):
    plan: ErasurePlan
    dry_run: bool
    results: list[ItemResult] = field(default_factory=list)
    anchor: AnchorReport | None = None
    transcripts: list[TranscriptResult] = field(default_factory=list)
    # Participant holds on this person: released ones whose scope lost the identity, and
    # active ones that keep it (the hold needs it; release the hold, then erase again).
    hold_scopes_erased: list[int] = field(default_factory=list)
    hold_scopes_kept: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return super().ok and all(t.outcome != "failed" for t in self.transcripts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "plan": self.plan.as_dict(),
            **self.tally(),
            "transcripts": [t.as_dict() for t in self.transcripts],
            "hold_scopes_erased": list(self.hold_scopes_erased),
            "hold_scopes_kept": list(self.hold_scopes_kept),
            "audit_anchor": self.anchor.as_dict() if self.anchor else None,
        }


def _check_versions(
    decision: Decision, versions: list[PlannedVersion], now: datetime
) -> tuple[Decision, bool]:
    """The bucket's word on an erasure: (decision, whether GOVERNANCE locks must be bypassed)."""
    for v in versions:
        if v.legal_hold:
            return Decision(Action.BLOCKED, f"S3 legal hold is ON on {v.key}"), False
    compliance = [
        v.retain_until
        for v in versions
        if v.lock_mode == "COMPLIANCE" and v.retain_until and v.retain_until > now
    ]
    if compliance:
        until = max(compliance)
        reason = f"Object Lock COMPLIANCE until {until:%Y-%m-%d}: S3 refuses deletion before then"
        return Decision(Action.BLOCKED, reason, until), False
    bypass = any(
        v.lock_mode == "GOVERNANCE" and v.retain_until and v.retain_until > now for v in versions
    )
    return decision, bypass


def _plan_one(
    deps: Services,
    row: Recording,
    objects: list[ArchivedObject],
    held: tuple[int, ...],
    now: datetime,
) -> PlanItem:
    rule = rule_for(deps, row)
    state = RecordingState(row.state)
    until = effective_retain_until(rule, row, objects)
    decision = decide_erasure(state, on_hold=bool(held), rule=rule, retain_until=until, now=now)
    versions: list[PlannedVersion] = []
    bypass = False
    unarchived = state in UNARCHIVED
    delete_source = row.source_deleted_at is None and (state is S.ARCHIVED or unarchived)
    if decision.proceed and state not in VERIFIED and not unarchived:
        decision = Decision(
            Action.BLOCKED,
            f"state is {state}: an archive run is working on it; erase again when the run is done",
        )
    if decision.proceed and state is S.ARCHIVED and delete_source and not is_verified(row, objects):
        decision = Decision(Action.BLOCKED, "no recorded verification of the archived copy")
    if decision.proceed:
        # A failed upload may have left objects the catalog never recorded: the folder counts.
        folder = object_key(
            started_at=row.started_at,
            conversation_id=row.conversation_id,
            recording_id=row.recording_id,
            name="",
        )
        versions = list_versions(deps.store, objects, prefixes=[folder] if unarchived else [])
        until = effective_retain_until(rule, row, objects, versions)
        decision, bypass = _check_versions(decision, versions, now)
    source = deps.sources.get(row.source)
    unavailable = source.deletion_unavailable() if source is not None else None
    if decision.proceed and delete_source and unavailable is not None:
        # The archive is erased; the copy at Infobip is reported as due, not deleted.
        delete_source = False
        decision = Decision(
            decision.action,
            f"{decision.reason}; the copy at Infobip stays: due, {unavailable}",
            decision.due_at,
        )
    return PlanItem(
        recording_id=row.recording_id,
        action=ERASE,
        decision=decision.action.value,
        reason=decision.reason,
        rule=rule.name,
        state=str(state),
        where=f"s3://{deps.store.bucket}" + (" and infobip" if delete_source else ""),
        due_at=decision.due_at,
        retain_until=until,
        source_sha256=row.source_sha256,
        holds=held,
        delete_source=delete_source and decision.proceed,
        bypass_governance=bypass,
        versions=tuple(versions),
    )


def plan_erasure(deps: Services, identity: str, *, reference: str | None) -> ErasurePlan:
    if not identity.strip():
        raise ConfigError("--participant-identity must not be empty")
    key = deps.settings.identity_secret
    now = deps.clock()
    plan = ErasurePlan(
        at=now,
        request_id=uuid.uuid4().hex,
        identity_hmac=identity_hmac(identity, key=key),
        reference=reference,
        reference_hmac=identity_hmac(reference, key=key) if reference else None,
        other_legs=deps.policy.erasure_other_legs,
    )
    holds = deps.catalog.active_holds_by_recording()
    rows = deps.catalog.recordings_of_participant(identity)
    if plan.other_legs == "erase":
        own = {row.recording_id for row, _ in rows}
        conversations = {row.conversation_id for row, _ in rows if row.conversation_id}
        rows += [
            (row, objects)
            for row, objects in deps.catalog.recordings_of_conversations(conversations)
            if row.recording_id not in own
        ]
    for row, objects in rows:
        held = tuple(holds.get(row.recording_id, ()))
        plan.items.append(_plan_one(deps, row, objects, held, now))
    return plan


def _erase_one(deps: Services, item: PlanItem, plan: ErasurePlan) -> ItemResult:
    if not item.proceed:
        audit_refusal(deps, item.recording_id, "erasure", item.reason)
        return ItemResult(item.recording_id, ERASE, "refused", item.reason, item.state)
    # The reference is free text (a ticket, maybe a name): the audit log gets its keyed hash.
    why = f"erasure request {plan.request_id}"
    request: dict[str, Any] = {
        "request_id": plan.request_id,
        "request_reference_hmac": plan.reference_hmac,
    }
    note = ""
    try:
        if RecordingState(item.state) in UNARCHIVED:
            row = _erase_unarchived(deps, item, why=why, **request)
            return ItemResult(item.recording_id, ERASE, "done", why, str(row.state))
        if item.delete_source:
            try:
                delete_source_copy(deps, item.recording_id, why=why, rule=item.rule)
            except SourceDeletionUnavailable as exc:
                # No way to delete it at Infobip here: erase the archive, report the source.
                audit_refusal(deps, item.recording_id, "source_deletion", str(exc))
                note = f"; the copy at Infobip stays: due, {exc}"
        row = delete_archive(
            deps,
            item.recording_id,
            item.versions,
            kind="erasure",
            event="archive_erased",
            why=why,
            rule=item.rule,
            retain_until=item.retain_until,
            bypass_governance=item.bypass_governance,
            **request,
        )
    except (CatalogError, ConfigError):
        raise
    except PolicyError as exc:
        return ItemResult(item.recording_id, ERASE, "refused", str(exc), item.state)
    except RecvaultError as exc:
        state = str(deps.catalog.get(item.recording_id).state)
        return ItemResult(item.recording_id, ERASE, "failed", str(exc), state)
    return ItemResult(item.recording_id, ERASE, "done", why + note, str(row.state))


def _erase_unarchived(deps: Services, item: PlanItem, *, why: str, **request: Any) -> Recording:
    """A FAILED or QUARANTINED recording: nothing was archived, so its source copy is the
    only one, and the person's request is what deletes it (there is no archive to re-verify);
    then any object a failed upload left, and the row becomes a tombstone."""
    with deletion_gate(deps, item.recording_id, kind="erasure", action="erasure") as gate:
        row = gate.row
        extra: dict[str, Any] = {
            "archive_check": {
                "result": f"not archived (state {row.state}): the source copy was the only one; "
                "deleted at the person's request",
            },
        }
        at_source = None
        if row.source_deleted_at is None:
            receipt = deps.source_for(row).delete(row)
            at_source = deps.clock()
            extra["source_outcome"] = (
                f"deleted at the source ({row.source}), confirmed: {receipt.confirmed_by}"
            )
        return delete_versions(
            deps,
            gate,
            item.versions,
            kind="erasure",
            event="archive_erased",
            why=why,
            rule=item.rule,
            retain_until=None,
            bypass_governance=item.bypass_governance,
            source_deleted_at=at_source,
            **extra,
            **request,
        )


def apply_erasure(deps: Services, plan: ErasurePlan) -> ErasureRun:
    run = ErasureRun(plan=plan, dry_run=False)
    summary = {
        "request_id": plan.request_id,
        "reference_hmac": plan.reference_hmac,
        "identity_hmac": plan.identity_hmac,
        "other_legs": plan.other_legs,
    }
    with retention_lock(deps) as renew:
        deps.catalog.append_audit(
            event="erasure_requested",
            actor=deps.actor,
            at=deps.clock(),
            detail={**summary, "recordings": [i.recording_id for i in plan.items]},
        )
        for item in plan.items:
            run.results.append(_erase_one(deps, item, plan))
            renew()
        # The messages hold the person's words too: a transcript goes once every recording
        # of its conversation is erased (or expired), never while a hold covers one of them.
        conversations = {deps.catalog.get(i.recording_id).conversation_id for i in plan.items}
        run.transcripts = expire_transcripts(
            deps, [c for c in conversations if c], erasure=plan.request_id
        )
        deps.catalog.append_audit(
            event="erasure_finished",
            actor=deps.actor,
            at=deps.clock(),
            detail={
                **summary,
                "done": run.count("done"),
                "refused": run.count("refused"),
                "failed": run.count("failed"),
            },
        )
        deps.catalog.remember_erased(plan.identity_hmac, at=plan.at, request_id=plan.request_id)
        run.hold_scopes_erased, run.hold_scopes_kept = deps.catalog.erase_hold_scopes(
            plan.identity_hmac,
            identity_key=deps.settings.identity_secret,
            actor=deps.actor,
            at=deps.clock(),
            request_id=plan.request_id,
        )
    run.anchor = write_anchor(deps, run="erasure")
    log.info(
        "erasure request_id=%s done=%d refused=%d failed=%d",
        plan.request_id,
        run.count("done"),
        run.count("refused"),
        run.count("failed"),
    )
    return run


def run_erasure(
    deps: Services, identity: str, *, dry_run: bool, reference: str | None = None
) -> ErasureRun:
    plan = plan_erasure(deps, identity, reference=reference)
    if dry_run:
        return ErasureRun(plan=plan, dry_run=True)
    return apply_erasure(deps, plan)
