"""Re-reads archived objects and compares them with the catalog (``recvault verify``).

Plain functions over the catalog and the object store; nothing here trusts S3's own checksum:
every object is streamed back and hashed, so a store that lies or lost bytes is caught.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models.errors import ObjectStoreError, StorageError
from models.keys import ARCHIVE_PREFIX
from storage.catalog import Catalog
from storage.s3 import ObjectStore

log = logging.getLogger(__name__)


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
            "problems": [p.__dict__ for p in self.problems],
        }


def verify_archive(
    catalog: Catalog,
    store: ObjectStore,
    *,
    deep: bool = False,
    on_object: Callable[[int], None] | None = None,
) -> VerifyReport:
    report = VerifyReport()
    known_keys: set[str] = set()
    for status in ("ARCHIVED", "SOURCE_DELETED"):
        for row, objects in catalog.search(status=status):
            report.recordings += 1
            if not any(o.kind == "original" for o in objects):
                report.problems.append(
                    Problem(row.recording_id, "-", "catalog lists no original object")
                )
            for obj in objects:
                known_keys.add(obj.key)
                report.objects += 1
                report.problems.extend(_check_object(store, row.recording_id, obj, report))
                if on_object:
                    on_object(report.objects)
    if deep:
        report.audit_chain_checked = True
        report.problems.extend(
            Problem(None, "audit_events", issue) for issue in catalog.verify_audit_chain()
        )
        report.orphans_checked = True
        pending_keys = {o.key for row, objs in catalog.search(status="PENDING") for o in objs}
        for info in store.iter_objects(ARCHIVE_PREFIX):
            if info.key not in known_keys and info.key not in pending_keys:
                report.problems.append(
                    Problem(None, info.key, "object in the archive has no catalog row (orphan)")
                )
    return report


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
