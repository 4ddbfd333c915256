"""How ``catalog show`` prints one recording's dossier for a person: sections, whole ids."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

_METADATA_SHOWN = (
    "recording_id",
    "source",
    "conversation_id",
    "call_id",
    "conference_id",
    "media_type",
    "direction",
    "started_at",
    "duration_s",
    "participant_type",
    "participant_id",
    "participant_identity",
    "participant_name",
    "transferred_from_queue",
    "transferred_to_queue",
    "status",
    "state",
    "attempts",
    "last_error",
    "source_sha256",
    "source_size_bytes",
    "conflicting_sha256",
    "policy_rule",
    "discovered_at",
    "archived_at",
    "source_deleted_at",
    "source_deleted_by",
    "source_deleted_sha256",
    "retain_until",
    "expired_at",
    "expired_reason",
)


def _line(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def print_dossier(console: Console, dossier: dict[str, Any]) -> None:
    meta = dossier["metadata"]
    _line(console, f"recording {dossier['recording_id']}")
    for name in _METADATA_SHOWN:
        if meta.get(name) not in (None, ""):
            _line(console, f"  {name}: {meta[name]}")

    objects = Table(title=f"objects ({len(dossier['objects'])})")
    for column in ("kind", "key", "version", "size", "sha256", "retain until", "verified"):
        objects.add_column(column, overflow="fold")
    for o in dossier["objects"]:
        objects.add_row(
            o["kind"] + (" (deleted)" if o["deleted_at"] else ""),
            f"s3://{o['bucket']}/{o['key']}",
            o["version_id"] or "",
            f"{o['size']:,}",
            o["sha256"],
            o["retain_until"] or "",
            o["verified_at"] or "",
        )
    console.print(objects)

    history = Table(title=f"history ({len(dossier['history'])} events)")
    for column in ("id", "at (UTC)", "event", "state", "actor", "reason"):
        history.add_column(column, overflow="fold")
    for h in dossier["history"]:
        move = (
            f"{h['from_state'] or '-'} → {h['to_state']}"
            if h["to_state"] and h["to_state"] != h["from_state"]
            else (h["to_state"] or "")
        )
        history.add_row(str(h["id"]), h["at"], h["event"], move, h["actor"], h["reason"] or "")
    console.print(history)

    holds = dossier["holds"]
    if holds:
        for hold in holds:
            _line(
                console,
                f"legal hold #{hold['id']} case {hold['case']}: {hold['reason']} "
                f"(placed {hold['placed_at']} by {hold['placed_by']})",
            )
    else:
        _line(console, "legal holds: none active")

    _line(console, "retention:")
    for text in dossier["retention"].get("lines", []):
        _line(console, f"  {text}")

    certificates = dossier["certificates"]
    if not certificates:
        _line(console, "deletion certificates: none")
    for cert in certificates:
        _line(
            console,
            f"deletion certificate: event {cert['id']} {cert['event']} at {cert['at']} by "
            f"{cert['actor']}; chain hash {cert['hash']}",
        )
        for key, value in sorted((cert["detail"] or {}).items()):
            _line(console, f"  {key}: {value}")
