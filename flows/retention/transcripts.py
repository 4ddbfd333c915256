"""Transcripts follow their conversation's recordings: held with them, deleted after them.

- Holds: a legal hold on any recording of a conversation puts every version of the
  conversation's transcript under S3 legal hold (``transcript_prefixes`` widens the versions
  a hold covers); a release lifts it only when no active hold covers any recording of the
  conversation any more.
- Deletion: once every recording of the conversation is EXPIRED (retention or erasure) and no
  hold covers any of them, every version of the transcript is deleted, checked gone, and the
  row becomes a tombstone with a certificate (``transcript_expired`` or ``transcript_erased``).
  A version still under S3 legal hold or Object Lock is refused, with the reason.

Runs after the recordings' own deletions, on committed state, so a conversation whose last
recording expired in this run loses its transcript in the same run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flows.retention.delete import PlannedVersion, iso, list_versions
from flows.services import Services
from models.errors import CatalogError, ConfigError, RecvaultError
from models.keys import transcript_prefix
from models.transcripts import ARCHIVED, EXPIRED, transcript_fate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranscriptResult:
    conversation_id: str
    outcome: str  # done | refused | failed | waiting
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "outcome": self.outcome,
            "detail": self.detail,
        }


def transcript_prefixes(deps: Services, recording_id: str) -> list[str]:
    """The folder of the transcript of the recording's conversation, when there is one."""
    conversation_id = deps.catalog.get(recording_id).conversation_id
    if not conversation_id:
        return []
    transcript = deps.catalog.transcript(conversation_id)
    if transcript is None or transcript.status != ARCHIVED:
        return []
    return [transcript_prefix(conversation_id)]


def transcript_versions(deps: Services, conversation_id: str) -> list[PlannedVersion]:
    return list_versions(deps.store, [], prefixes=[transcript_prefix(conversation_id)])


def _refusal(versions: Sequence[PlannedVersion], deps: Services, *, erasure: bool) -> str | None:
    """What the bucket says against deleting these versions now (erasure bypasses
    GOVERNANCE, as it does for recordings)."""
    now = deps.clock()
    for v in versions:
        if v.legal_hold:
            return f"S3 legal hold is ON on {v.key} version {v.version_id}"
        locked = v.retain_until is not None and v.retain_until > now
        if locked and (v.lock_mode == "COMPLIANCE" or not erasure):
            return f"Object Lock {v.lock_mode} until {iso(v.retain_until)}"
    return None


def expire_transcripts(
    deps: Services, conversation_ids: Iterable[str] | None = None, *, erasure: str | None = None
) -> list[TranscriptResult]:
    """Deletes the transcripts whose conversation's recordings are all EXPIRED (of
    ``conversation_ids``, or of every archived transcript). ``erasure``: the request id, when
    an erasure asks; its certificate names it and GOVERNANCE locks are bypassed."""
    results = []
    for transcript in deps.catalog.transcripts_after_recordings(conversation_ids):
        conversation_id = transcript.conversation_id
        try:
            result = _expire_one(deps, conversation_id, erasure=erasure)
        except (CatalogError, ConfigError):
            raise
        except RecvaultError as exc:
            log.warning("transcript deletion failed conversation_id=%s", conversation_id)
            result = TranscriptResult(conversation_id, "failed", str(exc))
        if result is not None:
            results.append(result)
    return results


def _expire_one(
    deps: Services, conversation_id: str, *, erasure: str | None
) -> TranscriptResult | None:
    legs = deps.catalog.recordings_of_conversations([conversation_id])
    holds = deps.catalog.conversations_with_holds([conversation_id]).get(conversation_id, [])
    fate = transcript_fate([row.state for row, _ in legs], held=bool(holds))
    if fate == "keep":
        return None
    if fate == "blocked":
        why = f"a legal hold covers a recording of the conversation (hold {holds[0]})"
        return TranscriptResult(conversation_id, "refused", why)
    versions = transcript_versions(deps, conversation_id)
    refused = _refusal(versions, deps, erasure=erasure is not None)
    if refused is not None:
        return TranscriptResult(conversation_id, "refused", refused)
    for version in versions:
        deps.store.delete_version(
            version.key,
            version_id=version.version_id,
            bypass_governance=erasure is not None and version.lock_mode == "GOVERNANCE",
        )
    left = transcript_versions(deps, conversation_id)
    if left:
        return TranscriptResult(
            conversation_id, "failed", f"{len(left)} version(s) appeared; the next run deletes them"
        )
    why = (
        f"erasure request {erasure}: every recording of the conversation is erased"
        if erasure
        else "every recording of the conversation has expired"
    )
    at = deps.clock()
    certificate = {
        "certificate_id": uuid.uuid4().hex,
        "kind": "transcript_erasure" if erasure else "transcript_expiry",
        "who": deps.actor,
        "when": iso(at),
        "why": why,
        "conversation_id": conversation_id,
        "recordings": [row.recording_id for row, _ in legs],
        "objects": [v.as_dict() for v in versions],
        "legal_holds": {"status": "none active", "checked_at": iso(at)},
        **({"request_id": erasure} if erasure else {}),
    }
    deps.catalog.record_transcript_deleted(
        conversation_id,
        status="ERASED" if erasure else EXPIRED,
        event="transcript_erased" if erasure else "transcript_expired",
        at=at,
        actor=deps.actor,
        certificate=certificate,
    )
    log.info(
        "transcript deleted conversation_id=%s versions=%d erasure=%s",
        conversation_id,
        len(versions),
        bool(erasure),
    )
    return TranscriptResult(conversation_id, "done", why)
