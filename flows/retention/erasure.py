"""Erasure requests (GDPR art. 17): delete one person's recordings, except where the law or a
court says otherwise, and say why.

The request covers the recordings whose participant identity is the person's (compared
case-insensitively). Each one is refused, with the reason, when a legal hold covers it, when a
statutory rule's retention has not ended, when an Object Lock in COMPLIANCE mode still runs
(S3 refuses that deletion, whatever the request), or when it is not archived yet. The rest are
deleted everywhere recvault knows of: the copy at Infobip (when it is still there) and every
object version in the bucket; GOVERNANCE locks are bypassed for this, which needs
``s3:BypassGovernanceRetention``. Each deletion leaves a certificate naming the request; the
audit log names the person only by a hash.
"""

from __future__ import annotations

import hashlib
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
from flows.services import Services
from models.errors import CatalogError, ConfigError, PolicyError, RecvaultError
from models.policy.retention import Action, Decision, decide_erasure
from models.states import VERIFIED, RecordingState
from models.tables import ArchivedObject, Recording

log = logging.getLogger(__name__)
S = RecordingState


def identity_sha256(identity: str) -> str:
    return hashlib.sha256(identity.strip().lower().encode("utf-8")).hexdigest()


@dataclass
class ErasurePlan:
    at: datetime
    request_id: str
    identity_sha256: str
    reference: str | None
    items: list[PlanItem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        deletions = sum(1 for i in self.items if i.proceed)
        return {
            "at": iso(self.at),
            "request_id": self.request_id,
            "reference": self.reference,
            "identity_sha256": self.identity_sha256,
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "plan": self.plan.as_dict(),
            **self.tally(),
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
    delete_source = state is S.ARCHIVED and row.source_deleted_at is None
    if decision.proceed and state not in VERIFIED:
        decision = Decision(
            Action.BLOCKED,
            f"state is {state}: not archived, so there is nothing in the archive to erase; "
            "delete it at Infobip or erase again once it is archived",
        )
    if decision.proceed and delete_source and not is_verified(row, objects):
        decision = Decision(Action.BLOCKED, "no recorded verification of the archived copy")
    if decision.proceed:
        versions = list_versions(deps.store, objects)
        until = effective_retain_until(rule, row, objects, versions)
        decision, bypass = _check_versions(decision, versions, now)
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
    now = deps.clock()
    plan = ErasurePlan(
        at=now,
        request_id=uuid.uuid4().hex,
        identity_sha256=identity_sha256(identity),
        reference=reference,
    )
    holds = deps.catalog.active_holds_by_recording()
    for row, objects in deps.catalog.recordings_of_participant(identity):
        held = tuple(holds.get(row.recording_id, ()))
        plan.items.append(_plan_one(deps, row, objects, held, now))
    return plan


def _erase_one(deps: Services, item: PlanItem, plan: ErasurePlan) -> ItemResult:
    if not item.proceed:
        audit_refusal(deps, item.recording_id, "erasure", item.reason)
        return ItemResult(item.recording_id, ERASE, "refused", item.reason, item.state)
    why = f"erasure request {plan.request_id}" + (f" ({plan.reference})" if plan.reference else "")
    try:
        if item.delete_source:
            delete_source_copy(deps, item.recording_id, why=why, rule=item.rule)
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
            request_id=plan.request_id,
            request_reference=plan.reference,
        )
    except CatalogError:
        raise
    except PolicyError as exc:
        return ItemResult(item.recording_id, ERASE, "refused", str(exc), item.state)
    except RecvaultError as exc:
        state = str(deps.catalog.get(item.recording_id).state)
        return ItemResult(item.recording_id, ERASE, "failed", str(exc), state)
    return ItemResult(item.recording_id, ERASE, "done", why, str(row.state))


def apply_erasure(deps: Services, plan: ErasurePlan) -> ErasureRun:
    run = ErasureRun(plan=plan, dry_run=False)
    summary = {
        "request_id": plan.request_id,
        "reference": plan.reference,
        "identity_sha256": plan.identity_sha256,
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
