"""The Infobip Conversations recordings as a ``RecordingSource`` (``models.ports``).

Everything Conversations-specific that the pipeline used to know lives here: which
``recordingStatus`` words are final, how a video becomes downloadable (by preparation request
and poll), and how a deletion is confirmed. The HTTP work is ``InfobipClient``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from models.errors import SourceError, SourceNotFound
from models.ports import (
    DeletionReceipt,
    Download,
    Readiness,
    ReadinessReport,
    SourceRecording,
)
from models.source import MediaType, PreparationState, RecordingMetadata, epoch_ms_to_datetime
from models.tables import Recording
from storage.infobip.client import InfobipClient

log = logging.getLogger(__name__)

SOURCE_NAME = "conversations"
FINAL_STATUSES = frozenset({"SUCCESSFUL", "PARTIALLY_FAILED"})
FAILED_STATUSES = frozenset({"FAILED"})


def to_source_recording(meta: RecordingMetadata) -> SourceRecording:
    return SourceRecording(
        source=SOURCE_NAME,
        recording_id=meta.recording_id,
        started_at=meta.started_at_dt,
        media_type=str(meta.media_type),
        status=meta.recording_status,
        conversation_id=meta.conversation_id,
        conference_id=meta.conference_id,
        call_id=meta.call_id,
        direction=meta.direction,
        composed=meta.composed,
        filename=meta.filename,
        duration_s=meta.duration,
        participant_id=meta.participant_id,
        participant_identity=meta.participant_identity,
        participant_name=meta.participant_name,
        participant_type=meta.participant_type,
        deleted_at=None if meta.deleted_at is None else epoch_ms_to_datetime(meta.deleted_at),
        deleted_by=meta.deleted_by,
        sftp_path=meta.sftp_path,
        transferred_from=meta.transferred_from,
        transferred_to=meta.transferred_to,
        transferred_from_queue=meta.transferred_from_queue,
        transferred_to_queue=meta.transferred_to_queue,
        # by_alias keeps Infobip's own field names; extra="allow" keeps fields we do not know.
        raw=meta.model_dump(mode="json", by_alias=True),
    )


class ConversationsSource:
    name = SOURCE_NAME

    def __init__(self, client: InfobipClient) -> None:
        self.client = client

    def list_recordings(self, *, since: datetime, until: datetime) -> Iterator[SourceRecording]:
        for meta in self.client.list_recordings(started_from=since, started_to=until):
            yield to_source_recording(meta)

    def readiness(self, recording: Recording, *, refresh: bool = False) -> ReadinessReport:
        if recording.source_deleted_at is not None:
            return ReadinessReport(Readiness.GONE, "deleted at the source before it was archived")
        status = (recording.recording_status or "SUCCESSFUL").upper()
        if status in FAILED_STATUSES:
            return ReadinessReport(
                Readiness.FAILED, f"recording status at the source is {status}", retryable=False
            )
        if refresh or status not in FINAL_STATUSES:
            try:
                fresh = self.client.get_recording(recording.recording_id)
            except SourceNotFound:
                return ReadinessReport(Readiness.GONE, "the source no longer lists it")
            if fresh.deleted_at is not None:
                return ReadinessReport(
                    Readiness.GONE, "deleted at the source before it was archived"
                )
            status = (fresh.recording_status or "").upper()
            if status not in FINAL_STATUSES:
                return ReadinessReport(
                    Readiness.WAITING,
                    f"source status {status or 'unknown'}",
                    status=fresh.recording_status,
                )
        if recording.media_type != MediaType.AUDIO_AND_VIDEO:
            return ReadinessReport(Readiness.READY, status=status)
        return self._video_readiness(recording.recording_id, status)

    def _video_readiness(self, recording_id: str, status: str) -> ReadinessReport:
        """Poll first, request only when nothing was requested: asking twice is harmless."""
        prep = self.client.get_video_preparation(recording_id)
        if prep.status == PreparationState.NOT_REQUESTED:
            prep = self.client.request_video_preparation(recording_id)
        if prep.status == PreparationState.READY:
            return ReadinessReport(Readiness.READY, status=status, preparation=prep.status)
        if prep.status == PreparationState.FAILED:
            return ReadinessReport(
                Readiness.FAILED,
                f"video preparation failed: {prep.reason or 'no reason'}",
                preparation=prep.status,
            )
        return ReadinessReport(
            Readiness.PREPARING, "video preparation in progress", preparation=prep.status
        )

    def download(
        self, recording: Recording, dest: Path, *, on_progress: Callable[[int], None] | None
    ) -> Download:
        result = self.client.download(recording.recording_id, dest, on_progress=on_progress)
        return Download(
            path=result.path,
            size_bytes=result.size_bytes,
            sha256=result.sha256,
            resumes=result.resumes,
            content_type=result.content_type,
        )

    def delete(self, recording: Recording) -> DeletionReceipt:
        """DELETE, then read the metadata back: only a ``deletedAt`` there (or no element at
        all) confirms it; a deletion the source does not show is not a deletion."""
        recording_id = recording.recording_id
        try:
            self.client.delete_recording(recording_id)
        except SourceNotFound:
            log.info("delete answered not found recording_id=%s; confirming", recording_id)
        try:
            fresh = self.client.get_recording(recording_id)
        except SourceNotFound:
            return DeletionReceipt(recording_id, "metadata no longer lists the recording")
        if fresh.deleted_at is None:
            raise SourceError(
                f"recording {recording_id}: Infobip accepted the deletion but its metadata "
                "shows no deletedAt; not recorded as deleted (retried on the next run)"
            )
        return DeletionReceipt(
            recording_id,
            "metadata shows deletedAt",
            deleted_at=epoch_ms_to_datetime(fresh.deleted_at),
        )

    def stats(self) -> Mapping[str, int]:
        return asdict(self.client.stats)

    def close(self) -> None:
        self.client.close()
