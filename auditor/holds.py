"""Legal holds from the API: the very code path of ``recvault hold place`` and ``release``.

``flows.retention.holds`` puts the hold in the catalog, waits for deletions already under way,
switches S3 legal hold ON on every covered object version and writes an audit anchor. Only the
actor differs: the officer's token name instead of ``user@host``.
"""

from __future__ import annotations

import dataclasses

from auditor.schemas import HoldOut, HoldResult
from auditor.tokens import Principal, RoleRequired
from flows.retention.holds import HoldReport, place_hold, release_holds
from flows.services import ServicesFactory


def require_officer(who: Principal) -> None:
    if not who.is_officer:
        raise RoleRequired(
            f"{who.name} has the {who.role} role: only a compliance officer places or releases "
            "legal holds"
        )


def _result(report: HoldReport) -> HoldResult:
    return HoldResult(
        hold=HoldOut.of(report.hold),
        recordings=report.recordings,
        versions=report.versions,
        s3_legal_hold=report.s3_legal_hold,
    )


class FlowsHoldDesk:
    """Opens the retention services (catalog writer, archive store, policy) for each hold
    action: holds are rare, and a process that only reads holds no writer open meanwhile."""

    def __init__(self, factory: ServicesFactory) -> None:
        self._factory = factory

    def place(
        self, who: Principal, *, scope_kind: str, scope_value: str, reason: str, case_ref: str
    ) -> HoldResult:
        require_officer(who)
        with self._factory.open() as services:
            acting = dataclasses.replace(services, actor=who.actor)
            report = place_hold(
                acting,
                scope_kind=scope_kind,
                scope_value=scope_value,
                reason=reason,
                case_ref=case_ref,
            )
        return _result(report)

    def release(self, who: Principal, ref: str) -> list[HoldResult]:
        require_officer(who)
        with self._factory.open() as services:
            reports = release_holds(dataclasses.replace(services, actor=who.actor), ref)
        return [_result(r) for r in reports]
