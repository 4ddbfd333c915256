"""Reconciliation: what each source lists, what the catalog holds and what the bucket holds,
per day of recording start, so an operator (or a regulator) can see that nothing is missing.

- **missing**: listed by a source, unknown to the catalog (never discovered);
- **lost objects**: archived in the catalog, but a referenced object version is not in the
  bucket any more;
- **orphans**: object versions in the bucket that no catalog object references;
- **failed**, **quarantined**, **pending**: the catalog's own problem and waiting counts.

Only "missing" and "lost objects" make the result not ok: orphans are usually the uploads of an
interrupted attempt that the next run adopts, and failed or pending recordings are known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

from flows.services import Services
from models.keys import ARCHIVE_PREFIX
from models.states import IN_PROGRESS, RecordingState

S = RecordingState
MAX_LISTED_IDS = 50


@dataclass
class DayFigures:
    day: date
    listed: int = 0
    in_catalog: int = 0
    archived: int = 0
    pending: int = 0
    failed: int = 0
    quarantined: int = 0
    deleted: int = 0  # SOURCE_DELETED or EXPIRED: gone from the source by design
    source_deleted: int = 0  # of ``deleted``: archived, source copy deleted by recvault
    expired: int = 0  # of ``deleted``: the archive's copy deleted after its retention
    missing: int = 0
    lost_objects: int = 0
    orphans: int = 0


@dataclass
class ReconcileReport:
    since: datetime
    until: datetime
    days: list[DayFigures]
    missing_ids: list[str] = field(default_factory=list)
    lost_keys: list[str] = field(default_factory=list)
    orphan_keys: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.missing or d.lost_objects for d in self.days)

    def totals(self) -> DayFigures:
        total = DayFigures(day=self.since.date())
        for d in self.days:
            for name, value in asdict(d).items():
                if name != "day":
                    setattr(total, name, getattr(total, name) + value)
        return total

    def as_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "ok": self.ok,
            "totals": {k: v for k, v in asdict(self.totals()).items() if k != "day"},
            "days": [{**asdict(d), "day": d.day.isoformat()} for d in self.days],
            "missing_ids": self.missing_ids,
            "lost_keys": self.lost_keys,
            "orphan_keys": self.orphan_keys,
        }

    def to_markdown(self) -> str:
        head = (
            "| day | listed | in catalog | archived | pending | failed | quarantined | deleted "
            "| missing | lost objects | orphans |"
        )
        lines = [
            f"# recvault reconciliation {self.since:%Y-%m-%d %H:%M} → {self.until:%Y-%m-%d %H:%M}"
            " UTC",
            "",
            "**Nothing is missing.**" if self.ok else "**Recordings or objects are missing.**",
            "",
            head,
            "|" + "---|" * 11,
        ]
        for label, d in [*((f"{d.day}", d) for d in self.days), ("total", self.totals())]:
            lines.append(
                f"| {label} | {d.listed} | {d.in_catalog} | {d.archived} | {d.pending} "
                f"| {d.failed} | {d.quarantined} | {d.deleted} | {d.missing} "
                f"| {d.lost_objects} | {d.orphans} |"
            )
        for title, ids in (
            ("missing recordings", self.missing_ids),
            ("lost objects", self.lost_keys),
            ("orphaned object versions", self.orphan_keys),
        ):
            if ids:
                lines += ["", f"{title} (first {MAX_LISTED_IDS}):", *(f"- `{i}`" for i in ids)]
        return "\n".join(lines) + "\n"


def _days(since: datetime, until: datetime) -> list[date]:
    first, last = since.date(), (until - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def reconcile(deps: Services, since: datetime, until: datetime) -> ReconcileReport:
    figures = {day: DayFigures(day) for day in _days(since, until)}
    listed: dict[str, date] = {}
    for source in deps.sources.values():
        for rec in source.list_recordings(since=since, until=until):
            if since <= rec.started_at < until:
                listed[rec.recording_id] = rec.started_at.date()
    for day in listed.values():
        figures[day].listed += 1

    referenced: set[tuple[str, str | None]] = set()
    known: set[str] = set()
    lost: list[str] = []
    for row, objects in deps.catalog.search(since=since, until=until):
        counts = figures[row.started_at.date()]
        known.add(row.recording_id)
        counts.in_catalog += 1
        if row.state == S.ARCHIVED:
            counts.archived += 1
        elif row.state in IN_PROGRESS:
            counts.pending += 1
        elif row.state == S.FAILED:
            counts.failed += 1
        elif row.state == S.QUARANTINED:
            counts.quarantined += 1
        else:
            counts.deleted += 1
            if row.state == S.EXPIRED:
                counts.expired += 1
            else:
                counts.source_deleted += 1
        if row.state in (S.ARCHIVED, S.SOURCE_DELETED):
            for obj in objects:
                referenced.add((obj.key, obj.version_id))
    in_bucket: dict[tuple[str, str | None], date] = {}
    for day in figures:
        prefix = f"{ARCHIVE_PREFIX}{day:%Y}/{day:%m}/{day:%d}/"
        for version in deps.store.iter_versions(prefix):
            in_bucket[(version.key, version.version_id)] = day
    for key, version_id in sorted(referenced - in_bucket.keys(), key=lambda kv: kv[0]):
        key_day = _day_of_key(key)
        if key_day in figures:
            figures[key_day].lost_objects += 1
        lost.append(f"{key}@{version_id}")
    orphans = sorted(set(in_bucket) - referenced, key=lambda kv: kv[0])
    for orphan in orphans:
        figures[in_bucket[orphan]].orphans += 1
    missing = sorted(set(listed) - known)
    for recording_id in missing:
        figures[listed[recording_id]].missing += 1
    return ReconcileReport(
        since=since,
        until=until,
        days=list(figures.values()),
        missing_ids=missing[:MAX_LISTED_IDS],
        lost_keys=lost[:MAX_LISTED_IDS],
        orphan_keys=[f"{k}@{v}" for k, v in orphans[:MAX_LISTED_IDS]],
    )


def _day_of_key(key: str) -> date | None:
    parts = key.removeprefix(ARCHIVE_PREFIX).split("/")
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except (IndexError, ValueError):
        return None
