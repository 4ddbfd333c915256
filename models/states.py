"""The recording state machine (docs/architecture.md, "The state machine"), as data.

A transition not listed here is a bug; ``check_transition`` raises before anything is written.
"""

from __future__ import annotations

from enum import StrEnum


class RecordingState(StrEnum):
    DISCOVERED = "DISCOVERED"
    PREPARING = "PREPARING"
    READY = "READY"
    DOWNLOADED = "DOWNLOADED"
    UPLOADED = "UPLOADED"
    ARCHIVED = "ARCHIVED"
    SOURCE_DELETED = "SOURCE_DELETED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"
    QUARANTINED = "QUARANTINED"


S = RecordingState

# Work in progress: each of these is picked up again by the next run.
IN_PROGRESS: frozenset[RecordingState] = frozenset(
    {S.DISCOVERED, S.PREPARING, S.READY, S.DOWNLOADED, S.UPLOADED}
)
TERMINAL: frozenset[RecordingState] = frozenset({S.FAILED, S.QUARANTINED, S.EXPIRED})
# States whose archived copy has been verified.
VERIFIED: frozenset[RecordingState] = frozenset({S.ARCHIVED, S.SOURCE_DELETED})

_ALLOWED: dict[RecordingState, frozenset[RecordingState]] = {
    S.DISCOVERED: frozenset({S.PREPARING, S.READY, S.FAILED, S.QUARANTINED}),
    S.PREPARING: frozenset({S.READY, S.DISCOVERED, S.FAILED}),
    # READY -> DISCOVERED: the work file was lost or the source answered "not ready" again.
    S.READY: frozenset({S.DOWNLOADED, S.DISCOVERED, S.FAILED, S.QUARANTINED}),
    S.DOWNLOADED: frozenset({S.UPLOADED, S.READY, S.FAILED, S.QUARANTINED}),
    S.UPLOADED: frozenset({S.ARCHIVED, S.DOWNLOADED, S.READY, S.FAILED, S.QUARANTINED}),
    S.ARCHIVED: frozenset({S.SOURCE_DELETED, S.EXPIRED}),
    S.SOURCE_DELETED: frozenset({S.EXPIRED}),
    S.EXPIRED: frozenset(),
    # An operator may retry a failed or quarantined recording (recvault retry); an erasure
    # request deletes its source copy and leaves a tombstone (EXPIRED).
    S.FAILED: frozenset({S.DISCOVERED, S.EXPIRED}),
    S.QUARANTINED: frozenset({S.DISCOVERED, S.EXPIRED}),
}


class InvalidTransition(ValueError):
    pass


def check_transition(current: RecordingState, new: RecordingState) -> None:
    if new not in _ALLOWED[current]:
        raise InvalidTransition(f"recording cannot go from {current} to {new}")


def public_status(state: RecordingState) -> str:
    """The coarse status of the CLI contract: in-progress states all read PENDING."""
    return "PENDING" if state in IN_PROGRESS else state.value
