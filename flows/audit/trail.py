"""The audit trail in words: one line per event that a person can read without the schema."""

from __future__ import annotations

import json
from typing import Any

from flows.audit.dossier import event_reason
from models.tables import AuditEvent

SUMMARY_MAX = 160
# Detail keys worth naming first; the rest follow alphabetically.
_FIRST = ("hold_id", "case", "reason", "error", "versions", "sha256", "key", "request_id")


def _value(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return str(value)


def event_summary(event: AuditEvent) -> str:
    """What happened, in one line: the state move, the reason, then the detail's fields."""
    parts: list[str] = []
    if event.to_state and event.to_state != event.from_state:
        parts.append(f"{event.from_state or '-'} → {event.to_state}")
    reason = event_reason(event)
    if reason:
        parts.append(reason)
    detail = event.detail or {}
    keys = [k for k in _FIRST if k in detail] + sorted(k for k in detail if k not in _FIRST)
    parts += [f"{k}={_value(detail[k])}" for k in keys if detail[k] != reason]
    text = "; ".join(parts)
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"
