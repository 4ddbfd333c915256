"""``retention explain``: which rule applies to a recording and why, and what it means today."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flows.retention.delete import iso
from flows.retention.holds import hold_json
from flows.retention.steps import effective_retain_until, is_verified, source_gone
from models.policy.facts import RecordingFacts
from models.policy.retention import (
    Decision,
    decide_expiry,
    decide_source_deletion,
    expiry_after_source,
)
from models.policy.rules import Policy
from models.states import RecordingState
from storage.catalog.store import Catalog


def _decision(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action.value,
        "reason": decision.reason,
        "due_at": iso(decision.due_at),
    }


def explain_recording(
    catalog: Catalog, policy: Policy, recording_id: str, *, now: datetime
) -> dict[str, Any]:
    """The policy's reasoning for one recording, its legal holds and both deletion decisions."""
    row = catalog.get(recording_id)
    objects = catalog.objects(recording_id)
    state = RecordingState(row.state)
    covering = set(catalog.holds_covering(recording_id))
    holds = [h for h in catalog.list_holds() if h.id in covering]
    out: dict[str, Any] = {
        "recording_id": recording_id,
        "state": str(state),
        "holds": [hold_json(h) for h in holds],
    }
    if state is RecordingState.EXPIRED:
        out |= {
            "rule": row.policy_rule,
            "retain_until": iso(row.retain_until),
            "expired_at": iso(row.expired_at),
            "lines": [
                f"expired {iso(row.expired_at)}: {row.expired_reason or 'no reason recorded'}",
                f"archived under rule {row.policy_rule!r}; retained until {iso(row.retain_until)}",
                "the catalog keeps a tombstone: ids, hashes, dates and the rule",
                f"source copy: deleted {iso(row.source_deleted_at)}"
                if row.source_deleted_at is not None
                else "source copy: not deleted by recvault; the next retention run deletes it "
                "when the rule deletes source copies",
            ],
        }
        return out
    match = policy.match(RecordingFacts.from_row(row))
    rule = match.rule
    until = effective_retain_until(rule, row, objects)
    on_hold = bool(holds)
    source = decide_source_deletion(
        state,
        source_gone=source_gone(row),
        verified=is_verified(row, objects),
        on_hold=on_hold,
        rule=rule,
        archived_at=row.archived_at,
        now=now,
    )
    expiry = expiry_after_source(
        decide_expiry(state, retain_until=until, on_hold=on_hold, now=now), source
    )
    lines = policy.explain(RecordingFacts.from_row(row))
    if row.policy_rule and row.policy_rule != rule.name:
        lines.append(f"archived under rule {row.policy_rule!r}, which no longer matches first")
    lines += [
        f"retain until {iso(until)} (the latest of the rule's date and any Object Lock date)",
        f"legal holds: {', '.join(f'#{h.id} case {h.case_ref}' for h in holds) or 'none'}",
        f"source copy: {source.action.value}: {source.reason}",
        f"archive expiry: {expiry.action.value}: {expiry.reason}",
    ]
    out |= {
        "rule": rule.name,
        "rule_index": match.index + 1,
        "reasons": match.reasons,
        "retain_until": iso(until),
        "source_deletion": _decision(source),
        "expiry": _decision(expiry),
        "lines": lines,
    }
    return out
