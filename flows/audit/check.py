"""``recvault audit verify``: the audit chain against itself, its anchors and the catalog.

What is checked, each problem named by a ``kind`` so a report (and the tamper-matrix test)
can say what was done to the evidence:

- ``chain_broken``: an event's ``prev_hash`` is not the hash of the event before it (an event
  was deleted, inserted or moved); ``chain_altered``: an event's hash does not match its
  content (a row was edited). The first broken link is named, then how many more follow.
- ``truncated``: an anchor proves events up to id N existed, and the chain ends before N;
  ``anchored_event_missing``: the anchored event itself is gone; ``recomputed``: the event an
  anchor names has another hash now, i.e. history up to it was rewritten and the hashes
  recomputed with the published algorithm (the earliest disagreeing anchor is named, with the
  last one that still agrees: the rewrite lies between them).
- ``certificate_missing``: a SOURCE_DELETED or EXPIRED recording without the certificate of
  that deletion on the chain; ``expired_object_present``: an EXPIRED recording whose object is
  not recorded as deleted (or is still in the bucket).
- ``holds_mismatch``: the ``legal_holds`` table differs from the replay of the hold events
  (a hold added, removed, edited or released without its event).
- ``s3_legal_hold_off``: a version an active hold put under S3 legal hold has it OFF now.

Every anchor version under ``audit-anchors/`` counts, including older versions of a key:
an attacker who can write to the bucket can add anchors (false alarms) but, with COMPLIANCE
Object Lock, cannot remove the ones that contradict a rewritten chain. Events after the last
anchor are protected by the chain's links only, until the next run anchors them.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flows.audit.anchor import ANCHOR_PREFIX, parse_anchor_key
from models.errors import StorageError
from models.identity import identity_hmac
from models.states import RecordingState
from models.tables import AuditEvent, LegalHold
from storage.catalog.audit import event_hash
from storage.catalog.holds import ERASED_SCOPE
from storage.catalog.store import Catalog
from storage.s3.store import ObjectStore

log = logging.getLogger(__name__)
S = RecordingState

SOURCE_CERTIFICATES = frozenset({"source_deleted"})
EXPIRY_CERTIFICATES = frozenset({"archive_expired", "archive_erased"})
HOLD_PLACED, HOLD_RELEASED = "legal_hold_placed", "legal_hold_released"


@dataclass(frozen=True)
class AuditProblem:
    kind: str
    where: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "where": self.where, "problem": self.problem}

    def line(self) -> str:
        return f"{self.kind}: {self.where}: {self.problem}"


@dataclass(frozen=True)
class Anchor:
    sequence: int
    hash: str
    key: str
    version_id: str | None
    written_at: datetime | None

    @property
    def name(self) -> str:
        when = f" (written {self.written_at:%Y-%m-%d %H:%M:%S}Z)" if self.written_at else ""
        return f"anchor {self.key}{when}"


@dataclass
class AuditReport:
    events: int = 0
    head: tuple[int, str] | None = None
    anchors: int = 0
    anchors_agreeing: int = 0
    last_anchor: int | None = None
    certificates_checked: int = 0
    holds_checked: int = 0
    s3_legal_holds_checked: int = 0
    problems: list[AuditProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unanchored(self) -> int:
        if self.head is None:
            return 0
        return self.head[0] - (self.last_anchor or 0)

    def add(self, kind: str, where: str, problem: str) -> None:
        self.problems.append(AuditProblem(kind, where, problem))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": None if self.head is None else {"id": self.head[0], "hash": self.head[1]},
            "anchors": self.anchors,
            "anchors_agreeing": self.anchors_agreeing,
            "last_anchored_id": self.last_anchor,
            "certificates_checked": self.certificates_checked,
            "holds_checked": self.holds_checked,
            "s3_legal_holds_checked": self.s3_legal_holds_checked,
            "problems": [p.as_dict() for p in self.problems],
            "notes": list(self.notes),
        }


def list_anchors(store: ObjectStore) -> list[Anchor]:
    """Every anchor version in the bucket, by sequence."""
    found = []
    for info in store.iter_versions(ANCHOR_PREFIX):
        parsed = parse_anchor_key(info.key)
        if parsed is not None:
            found.append(Anchor(*parsed, info.key, info.version_id, info.last_modified))
    return sorted(found, key=lambda a: (a.sequence, a.key, a.version_id or ""))


@dataclass
class _Replay:
    """What the chain says, collected in one walk."""

    hashes: dict[int, str] = field(default_factory=dict)  # anchored ids only
    certificates: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    placed: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    released: dict[int, int] = field(default_factory=dict)


def verify_audit(
    catalog: Catalog,
    *,
    anchors: ObjectStore | None,
    store: ObjectStore | None,
    identity_key: str | None = None,
) -> AuditReport:
    """The whole check; ``anchors``: the bucket of the anchors (None: not checked), ``store``:
    the archive bucket, for the objects of tombstones and the S3 legal holds."""
    report = AuditReport()
    anchor_list = list_anchors(anchors) if anchors is not None else []
    report.anchors = len(anchor_list)
    replay = _walk_chain(catalog, report, {a.sequence for a in anchor_list})
    if anchors is not None:
        _check_anchors(report, anchor_list, replay, anchors.bucket)
    _check_certificates(catalog, report, replay, store)
    _check_holds(catalog, report, replay, identity_key)
    if identity_key is None and any("scope_hmac" in d for _i, d in replay.placed.values()):
        report.notes.append(
            "participant hold scopes are named by a keyed hash: set RECVAULT_IDENTITY_KEY to "
            "check them against the legal_holds table"
        )
    if store is not None:
        _check_s3_holds(catalog, report, store)
    log.info(
        "audit verified events=%d anchors=%d problems=%d",
        report.events,
        report.anchors,
        len(report.problems),
    )
    return report


def _walk_chain(catalog: Catalog, report: AuditReport, anchored: set[int]) -> _Replay:
    replay = _Replay()
    prev_hash: str | None = None
    prev_id: int | None = None
    broken = altered = 0
    for row in catalog.iter_audit_events():
        report.events += 1
        rid = row.id or 0
        if row.prev_hash != prev_hash:
            broken += 1
            if broken == 1:
                after = f"event id={prev_id}" if prev_id is not None else "the start of the chain"
                report.add(
                    "chain_broken",
                    f"audit event id={rid}",
                    f"prev_hash does not match {after}: an event was deleted, inserted or "
                    "moved here (the first broken link)",
                )
        if row.hash != event_hash(row):
            altered += 1
            if altered == 1:
                report.add(
                    "chain_altered",
                    f"audit event id={rid} ({row.event})",
                    "its hash does not match its content: the row was edited (the first one)",
                )
        if rid in anchored:
            replay.hashes[rid] = row.hash
        _collect(replay, row)
        prev_hash, prev_id = row.hash, rid
    for kind, count in (("chain_broken", broken), ("chain_altered", altered)):
        if count > 1:
            report.notes.append(f"{kind}: {count - 1} more after the first")
    if prev_id is not None and prev_hash is not None:
        report.head = (prev_id, prev_hash)
    return replay


def _collect(replay: _Replay, row: AuditEvent) -> None:
    detail = row.detail or {}
    if row.recording_id and row.event in SOURCE_CERTIFICATES | EXPIRY_CERTIFICATES:
        replay.certificates[row.event].add(row.recording_id)
    hold_id = detail.get("hold_id")
    if isinstance(hold_id, int):
        if row.event == HOLD_PLACED:
            replay.placed[hold_id] = (row.id or 0, detail)
        elif row.event == HOLD_RELEASED:
            replay.released[hold_id] = row.id or 0


def _check_anchors(
    report: AuditReport, anchors: list[Anchor], replay: _Replay, bucket: str
) -> None:
    last_id = report.head[0] if report.head else 0
    agreeing: Anchor | None = None
    first_wrong: tuple[Anchor, str] | None = None
    beyond: list[Anchor] = []
    for anchor in anchors:
        if anchor.sequence > last_id:
            beyond.append(anchor)
            continue
        found = replay.hashes.get(anchor.sequence)
        if found is None:
            report.add(
                "anchored_event_missing",
                f"audit event id={anchor.sequence}",
                f"{anchor.name} names this event, and it is gone from the chain",
            )
        elif found != anchor.hash:
            if first_wrong is None:
                first_wrong = (anchor, found)
        else:
            report.anchors_agreeing += 1
            if first_wrong is None:
                agreeing = anchor
    if first_wrong is not None:
        anchor, found = first_wrong
        since = f"event id={agreeing.sequence}" if agreeing else "the start of the chain"
        report.add(
            "recomputed",
            f"audit event id={anchor.sequence}",
            f"its hash is {found[:16]}…, but {anchor.name} recorded {anchor.hash[:16]}…: "
            f"the chain was rewritten after {since} and its hashes recomputed",
        )
    if beyond:
        top = beyond[-1]
        report.add(
            "truncated",
            f"audit event id={last_id}" if last_id else "the audit chain",
            f"the chain ends here, but {top.name} proves events up to id={top.sequence} "
            f"existed: at least {top.sequence - last_id} event(s) were cut off the end",
        )
    if anchors:
        report.last_anchor = max(a.sequence for a in anchors)
    elif report.events:
        report.notes.append(
            f"no audit anchor in s3://{bucket}/{ANCHOR_PREFIX}: a truncated or recomputed "
            "chain cannot be told from a genuine one"
        )
    if report.head and report.unanchored > 0 and anchors:
        report.notes.append(
            f"{report.unanchored} event(s) after the last anchor are protected by the chain's "
            "links only, until the next run anchors them"
        )


def _check_certificates(
    catalog: Catalog, report: AuditReport, replay: _Replay, store: ObjectStore | None
) -> None:
    sourced = replay.certificates["source_deleted"]
    expired = set().union(*(replay.certificates[e] for e in EXPIRY_CERTIFICATES))
    for row, objects in catalog.iter_with_objects({S.SOURCE_DELETED, S.EXPIRED}):
        report.certificates_checked += 1
        rid = row.recording_id
        if row.state == S.SOURCE_DELETED and rid not in sourced:
            report.add(
                "certificate_missing",
                f"recording {rid}",
                "SOURCE_DELETED without a source_deleted certificate on the audit chain",
            )
        if row.state != S.EXPIRED:
            continue
        if rid not in expired:
            report.add(
                "certificate_missing",
                f"recording {rid}",
                "EXPIRED without an archive_expired or archive_erased certificate on the "
                "audit chain",
            )
        for obj in objects:
            if obj.deleted_at is not None:
                continue
            there = ""
            if store is not None:
                try:
                    if store.head(obj.key, version_id=obj.version_id) is not None:
                        there = ", and it is still in the bucket"
                except StorageError as exc:
                    there = f" (the bucket could not be asked: {exc})"
            report.add(
                "expired_object_present",
                f"recording {rid}",
                f"EXPIRED, but {obj.key} version {obj.version_id} is not recorded as "
                f"deleted{there}",
            )


def _scope_matches(hold: LegalHold, placed: dict[str, Any], key: str | None) -> bool | None:
    """Whether the table's scope is the one the event placed; None: cannot tell (no key)."""
    if hold.scope_kind == "participant" and hold.scope_value == ERASED_SCOPE:
        # An erasure removes the identity from released holds only, and keeps the keyed hash.
        if hold.released_at is None:
            return False
        if "scope_hmac" in placed and hold.scope_hmac is not None:
            return bool(placed["scope_hmac"] == hold.scope_hmac)
        return None
    if "scope_hmac" in placed:
        if key is None:
            return None
        return bool(placed["scope_hmac"] == identity_hmac(hold.scope_value, key=key))
    if "scope_sha256" in placed:
        digest = hashlib.sha256(hold.scope_value.strip().lower().encode("utf-8")).hexdigest()
        return bool(placed["scope_sha256"] in (digest, hold.scope_value))
    return bool(placed.get("scope_value") == hold.scope_value)


def _check_holds(catalog: Catalog, report: AuditReport, replay: _Replay, key: str | None) -> None:
    table = {h.id or 0: h for h in catalog.list_holds(include_released=True)}
    for hold_id, hold in sorted(table.items()):
        report.holds_checked += 1
        where = f"legal hold #{hold_id}"
        event = replay.placed.get(hold_id)
        if event is None:
            report.add(
                "holds_mismatch",
                where,
                "in the legal_holds table, but no legal_hold_placed event placed it",
            )
            continue
        event_id, placed = event
        differs = [
            name
            for name, ok in (
                ("scope_kind", placed.get("scope_kind") == hold.scope_kind),
                ("scope", _scope_matches(hold, placed, key) is not False),
                ("case", placed.get("case") == hold.case_ref),
                ("reason", placed.get("reason") == hold.reason),
            )
            if not ok
        ]
        if differs:
            report.add(
                "holds_mismatch",
                where,
                f"{', '.join(differs)} in the legal_holds table differ from its "
                f"legal_hold_placed event id={event_id}",
            )
        released = replay.released.get(hold_id)
        if hold.released_at is not None and released is None:
            report.add(
                "holds_mismatch",
                where,
                "released in the legal_holds table, but no legal_hold_released event released it",
            )
        if hold.released_at is None and released is not None:
            report.add(
                "holds_mismatch",
                where,
                f"released by event id={released}, but active in the legal_holds table",
            )
    for hold_id, (event_id, _placed) in sorted(replay.placed.items()):
        if hold_id not in table:
            report.add(
                "holds_mismatch",
                f"legal hold #{hold_id}",
                f"placed by event id={event_id}, but missing from the legal_holds table",
            )


def _check_s3_holds(catalog: Catalog, report: AuditReport, store: ObjectStore) -> None:
    active = catalog.list_holds()
    if not active:
        return
    if store.object_lock_enabled() is False:
        report.notes.append(
            f"bucket {store.bucket!r} has no Object Lock: S3 legal holds are not checked "
            "(recvault alone enforces the holds)"
        )
        return
    pending = 0
    for hold in active:
        hold_id = hold.id or 0
        applied = {link.recording_id for link in catalog.hold_links(hold_id)}
        covered = catalog.hold_covered_ids(hold)
        _check_transcript_holds(catalog, store, report, hold_id, covered, applied)
        for rid in covered:
            for obj in catalog.objects(rid):
                if obj.deleted_at is not None:
                    continue
                try:
                    info = store.head(obj.key, version_id=obj.version_id)
                except StorageError as exc:
                    report.add(
                        "s3_legal_hold_off",
                        f"legal hold #{hold_id}",
                        f"cannot read the S3 legal hold of {obj.key}: {exc}",
                    )
                    continue
                if info is None or info.legal_hold is None:
                    continue
                report.s3_legal_holds_checked += 1
                if info.legal_hold:
                    continue
                if rid not in applied:
                    pending += 1
                    continue
                report.add(
                    "s3_legal_hold_off",
                    f"legal hold #{hold_id}",
                    f"S3 legal hold is OFF on {obj.key} version {obj.version_id} of recording "
                    f"{rid} (the hold put it ON): recvault retention apply puts it back",
                )
    _note_pending(report, pending)


def _check_transcript_holds(
    catalog: Catalog,
    store: ObjectStore,
    report: AuditReport,
    hold_id: int,
    covered: list[str],
    applied: set[str],
) -> None:
    """The current transcript version of each covered conversation is under S3 legal hold
    once the hold was applied to one of its recordings."""
    conversations: dict[str, bool] = {}
    for rid in covered:
        conversation_id = catalog.get(rid).conversation_id
        if conversation_id:
            conversations[conversation_id] = conversations.get(conversation_id, False) or (
                rid in applied
            )
    for transcript in catalog.transcripts(conversations, status="ARCHIVED"):
        if not conversations[transcript.conversation_id]:
            continue
        try:
            info = store.head(transcript.key, version_id=transcript.version_id)
        except StorageError as exc:
            report.add(
                "s3_legal_hold_off",
                f"legal hold #{hold_id}",
                f"cannot read the S3 legal hold of {transcript.key}: {exc}",
            )
            continue
        if info is None or info.legal_hold is None:
            continue
        report.s3_legal_holds_checked += 1
        if not info.legal_hold:
            report.add(
                "s3_legal_hold_off",
                f"legal hold #{hold_id}",
                f"S3 legal hold is OFF on {transcript.key} version {transcript.version_id}, the "
                f"transcript of held conversation {transcript.conversation_id}: recvault "
                "retention apply puts it back",
            )


def _note_pending(report: AuditReport, pending: int) -> None:
    if pending:
        report.notes.append(
            f"{pending} object version(s) of recordings archived after their hold are not under "
            "S3 legal hold yet: the next recvault retention apply sets it"
        )
