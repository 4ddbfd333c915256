"""Everything the catalog knows about one recording, as one JSON document (``catalog show``).

Built from the catalog reader and the policy only: the metadata, the archived objects with
their versions and hashes, the state history with the reason of each move, the legal holds
covering it, the retention explanation, and its deletion certificates. The same events also
appear whole (with their chain hashes) so a reader can check them against ``audit verify``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flows.audit.check import EXPIRY_CERTIFICATES, SOURCE_CERTIFICATES
from flows.retention.explain import explain_recording
from flows.retention.holds import hold_json
from models.policy.rules import Policy
from models.states import RecordingState, public_status
from models.tables import ArchivedObject, AuditEvent, Recording
from storage.catalog.store import Catalog

CERTIFICATE_EVENTS = SOURCE_CERTIFICATES | EXPIRY_CERTIFICATES
# Detail keys that say why a recording moved, in the order they are looked for.
_REASON_KEYS = ("error", "reason", "problem", "expired_reason", "cause")
# Columns ``metadata`` leaves out: shown elsewhere in the dossier, or only the pipeline's.
_NOT_METADATA = {"raw", "probe", "claimed_by", "claimed_until", "state"}


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_json(event: AuditEvent) -> dict[str, Any]:
    """An audit event whole, as the chain hashes it (``at`` in UTC)."""
    return {
        "id": event.id,
        "at": iso(event.at),
        "recording_id": event.recording_id,
        "event": event.event,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "actor": event.actor,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def event_reason(event: AuditEvent) -> str | None:
    detail = event.detail or {}
    for key in _REASON_KEYS:
        value = detail.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def object_json(obj: ArchivedObject) -> dict[str, Any]:
    return {
        "kind": obj.kind,
        "bucket": obj.bucket,
        "key": obj.key,
        "version_id": obj.version_id,
        "sha256": obj.sha256,
        "size": obj.size_bytes,
        "content_type": obj.content_type,
        "codec": obj.codec,
        "retain_until": iso(obj.retain_until),
        "lock_mode": obj.lock_mode,
        "created_at": iso(obj.created_at),
        "verified_at": iso(obj.verified_at),
        "checksum_method": obj.checksum_method,
        "deleted_at": iso(obj.deleted_at),
    }


def metadata_json(row: Recording) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(row).model_fields:
        if name in _NOT_METADATA:
            continue
        value = getattr(row, name)
        out[name] = iso(value) if isinstance(value, datetime) else value
    out["status"] = public_status(RecordingState(row.state))
    out["state"] = str(row.state)
    return out


def recording_dossier(
    catalog: Catalog, policy: Policy, recording_id: str, *, now: datetime
) -> dict[str, Any]:
    row = catalog.get(recording_id)
    events = catalog.history(recording_id)
    history = [
        {
            "id": e.id,
            "at": iso(e.at),
            "event": e.event,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "actor": e.actor,
            "reason": event_reason(e),
        }
        for e in events
    ]
    covering = set(catalog.holds_covering(recording_id))
    holds = [hold_json(h) for h in catalog.list_holds(include_released=True) if h.id in covering]
    return {
        "recording_id": row.recording_id,
        "metadata": metadata_json(row),
        "objects": [object_json(o) for o in catalog.objects(recording_id)],
        "history": history,
        "holds": holds,
        "retention": explain_recording(catalog, policy, recording_id, now=now),
        "certificates": [event_json(e) for e in events if e.event in CERTIFICATE_EVENTS],
        "events": [event_json(e) for e in events],
    }
