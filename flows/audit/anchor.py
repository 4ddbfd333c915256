"""Audit anchors: the chain head, written where the database cannot reach.

At the end of every run that appends audit events (archive, backfill, retention, holds,
erasure) the chain head (the last event's id and hash, how many events there are and how many
of each type) is written as a small JSON object under COMPLIANCE Object Lock into the archive
bucket or ``RECVAULT_AUDIT_ANCHOR_BUCKET``. Nobody, not even the bucket's owner, can delete or
change it before its retain-until date; so whoever can write the catalog can no longer cut off
the chain's tail or recompute it without the anchors contradicting them
(``flows.audit.check``). The key carries the id and hash (``audit-anchors/<id>-<hash>.json``),
so a verification needs only the listing.

A bucket without Object Lock still gets the anchor, unlocked and with a warning: it then only
protects against someone who can write the database but not the bucket. Writing an anchor
never fails the run whose events it anchors: the run's work is done and committed; a failure
is logged and reported, and the next run's anchor covers the same events.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flows.services import Services
from models.errors import BucketPolicyError, CatalogError, RecvaultError

log = logging.getLogger(__name__)

ANCHOR_PREFIX = "audit-anchors/"
ANCHOR_FORMAT = "recvault-audit-anchor/1"
_KEY = re.compile(r"audit-anchors/(\d{1,19})-([0-9a-f]{64})\.json")


def anchor_key(sequence: int, chain_hash: str) -> str:
    return f"{ANCHOR_PREFIX}{sequence:016d}-{chain_hash}.json"


def parse_anchor_key(key: str) -> tuple[int, str] | None:
    """(sequence, hash) from an anchor's key; None for anything else under the prefix."""
    m = _KEY.fullmatch(key)
    return (int(m.group(1)), m.group(2)) if m else None


@dataclass(frozen=True)
class AnchorReport:
    key: str | None
    bucket: str
    sequence: int | None = None
    hash: str | None = None
    locked_until: datetime | None = None  # None: written without Object Lock
    already_there: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "sequence": self.sequence,
            "hash": self.hash,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "already_there": self.already_there,
            "error": self.error,
        }


def write_anchor(deps: Services, *, run: str) -> AnchorReport | None:
    """Anchors the chain as it is now; None when there is no event yet. Catalog outages
    raise; everything else is reported, never raised (see the module docstring)."""
    head = deps.catalog.audit_chain_head()
    if head is None:
        return None
    store = deps.anchor_store
    key = anchor_key(head.sequence, head.hash)
    report = AnchorReport(key=key, bucket=store.bucket, sequence=head.sequence, hash=head.hash)
    try:
        if store.head(key) is not None:
            return AnchorReport(**{**report.__dict__, "already_there": True})
        until = None
        # None: the store would not say (a denied GetObjectLockConfiguration): try the lock.
        if store.object_lock_enabled() is not False:
            # S3 enforces the lock in real time, whatever the run's clock says.
            days = deps.settings.audit_anchor_retention_days
            until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
        body = {
            "format": ANCHOR_FORMAT,
            **head.as_dict(),
            "anchored_at": deps.clock().isoformat(),
            "run": run,
            "actor": deps.actor,
        }
        data = json.dumps(body, sort_keys=True, indent=1).encode()
        try:
            store.put_bytes(
                key,
                data,
                content_type="application/json",
                retain_until=until,
                lock_mode="COMPLIANCE" if until else None,
            )
        except BucketPolicyError:
            if until is None:
                raise
            until = None  # the bucket refused the lock: it has none after all
            store.put_bytes(key, data, content_type="application/json")
        if until is None:
            log.warning(
                "audit anchor written without Object Lock bucket=%s: it does not protect "
                "against whoever can write to the bucket",
                store.bucket,
            )
    except CatalogError:
        raise
    except RecvaultError as exc:
        log.warning("audit anchor not written bucket=%s key=%s: %s", store.bucket, key, exc)
        return AnchorReport(**{**report.__dict__, "error": str(exc)})
    log.info("audit anchored sequence=%d key=%s locked=%s", head.sequence, key, until is not None)
    return AnchorReport(**{**report.__dict__, "locked_until": until})
