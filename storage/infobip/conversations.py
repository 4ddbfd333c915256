"""The Infobip Conversations recordings as a ``RecordingSource`` (``models.ports``).

Everything Conversations-specific that the pipeline used to know lives here: which
``recordingStatus`` words are final, how a video becomes downloadable, and how a deletion is
done and confirmed. The HTTP work is ``InfobipClient``'s. What is documented is the default
(docs/infobip.md); the rest is switched on by the source profile:

- video readiness ``account`` (default): Infobip's account switch (Video Download
  Preparation) makes videos downloadable on their own; recvault only polls the download until
  it serves media. ``endpoint``: trigger and poll a configured preparation route.
- source deletion ``off`` (default): nothing is deleted at Infobip, retention reports what is
  due. ``calls-files``: the documented Calls API file deletion, where the recording maps to a
  Calls file. ``ccaas``: DELETE on a configured route.

Whatever the profile, a deletion counts only once the source is read back and shows it, and
an answer nobody documented makes the recording wait with a reason, never fail.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.errors import (
    ConfigError,
    DeletionNotConfirmed,
    RecordingNotReady,
    RecvaultError,
    SourceDeletionUnavailable,
    SourceNotFound,
)
from models.ports import (
    DeletionReceipt,
    Download,
    Readiness,
    ReadinessReport,
    SourceRecording,
)
from models.settings import SourceDeletion, VideoReadiness
from models.source import MediaType, PreparationState, RecordingMetadata, epoch_ms_to_datetime
from models.tables import Recording
from storage.infobip.calls import CallsSource
from storage.infobip.client import InfobipClient

log = logging.getLogger(__name__)

SOURCE_NAME = "conversations"
FINAL_STATUSES = frozenset({"SUCCESSFUL", "PARTIALLY_FAILED"})
FAILED_STATUSES = frozenset({"FAILED"})
# Words seen for recordings whose media is not final yet (section 9); any other word is
# unknown: the recording waits all the same, and a person is told.
PENDING_STATUSES = frozenset({"IN_PROGRESS", "PROCESSING", "PENDING", "RECORDING"})
KNOWN_MEDIA_TYPES = frozenset({MediaType.AUDIO.value, MediaType.AUDIO_AND_VIDEO.value})
ACCOUNT_CONFIG_TTL_S = 300.0

# Kinds of "needs attention", one warning per kind per run (flows/archive/summary.py).
ATTENTION_STATUS = "unknown recordingStatus"
ATTENTION_MEDIA = "unknown mediaType"
ATTENTION_ID = "metadata id is not an integer"
ATTENTION_SWITCH = "videoDownloadPreparation is off"


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
        attention=None if meta.id_is_integer else ATTENTION_ID,
    )


class ConversationsSource:
    name = SOURCE_NAME

    def __init__(
        self,
        client: InfobipClient,
        *,
        video_readiness: VideoReadiness = "account",
        deletion: SourceDeletion = "off",
        calls_files: CallsSource | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if deletion == "calls-files" and calls_files is None:
            raise ConfigError("source deletion calls-files needs the Calls API client")
        self.client = client
        self.video_readiness = video_readiness
        self.deletion = deletion
        self.calls_files = calls_files
        self._now = now
        self._clock = clock
        self._lock = threading.Lock()
        self._switch: tuple[float, bool | None] | None = None

    def list_recordings(self, *, since: datetime, until: datetime) -> Iterator[SourceRecording]:
        for meta in self.client.list_recordings(started_from=since, started_to=until):
            yield to_source_recording(meta)

    # --- messages (transcripts) -----------------------------------------------------------------

    def list_messages(self, conversation_id: str) -> Iterator[Mapping[str, Any]]:
        return self.client.list_messages(conversation_id)

    def list_conversations(self, *, since: datetime, until: datetime) -> Iterator[str]:
        return self.client.list_conversations(since=since, until=until)

    # --- readiness -------------------------------------------------------------------------------

    def readiness(self, recording: Recording, *, refresh: bool = False) -> ReadinessReport:
        if recording.source_deleted_at is not None:
            return ReadinessReport(Readiness.GONE, "deleted at the source before it was archived")
        media = (recording.media_type or "").upper()
        if media not in KNOWN_MEDIA_TYPES:
            return ReadinessReport(
                Readiness.WAITING,
                f"unknown mediaType {recording.media_type!r}: not downloaded until a person "
                "checks what Infobip sends",
                attention=ATTENTION_MEDIA,
            )
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
                known = status in PENDING_STATUSES or status in FAILED_STATUSES or not status
                return ReadinessReport(
                    Readiness.WAITING,
                    f"source status {status or 'unknown'}"
                    + ("" if known else " (a recordingStatus Infobip does not document)"),
                    status=fresh.recording_status,
                    attention=None if known else ATTENTION_STATUS,
                )
        if media != MediaType.AUDIO_AND_VIDEO:
            return ReadinessReport(Readiness.READY, status=status)
        if self.video_readiness == "endpoint":
            return self._prepared_by_endpoint(recording.recording_id, status)
        return self._prepared_by_account(recording.recording_id, status)

    def _prepared_by_endpoint(self, recording_id: str, status: str) -> ReadinessReport:
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

    def _prepared_by_account(self, recording_id: str, status: str) -> ReadinessReport:
        """Ask the download for its first byte: media served means prepared. Until then the
        video waits, PREPARING while the account switch is on, WAITING (and a person told)
        while it is off. Nothing here ever fails a recording."""
        try:
            self.client.probe_download(recording_id)
        except (SourceNotFound, RecordingNotReady) as exc:
            not_served = exc
        else:
            return ReadinessReport(Readiness.READY, status=status, preparation="SERVED")
        try:
            fresh = self.client.get_recording(recording_id)
        except SourceNotFound:
            return ReadinessReport(Readiness.GONE, "the source no longer lists it")
        if fresh.deleted_at is not None:
            return ReadinessReport(Readiness.GONE, "deleted at the source before it was archived")
        switch = self.video_download_preparation()
        if switch is False:
            return ReadinessReport(
                Readiness.WAITING,
                "video not downloadable: videoDownloadPreparation is off in the account "
                "recording configuration; switch Video Download Preparation on "
                f"(see recvault doctor) [{not_served.status_code}]",
                preparation="NOT_PREPARED",
                attention=ATTENTION_SWITCH,
            )
        return ReadinessReport(
            Readiness.PREPARING,
            "video not downloadable yet: Infobip prepares it (Video Download Preparation); "
            "polling the download",
            preparation="PREPARING",
        )

    def video_download_preparation(self) -> bool | None:
        """The account's ``videoDownloadPreparation`` (None: not reported or unreadable),
        read at most every five minutes. A missing route is a ``ConfigError``."""
        with self._lock:
            cached = self._switch
        if cached is not None and self._clock() - cached[0] < ACCOUNT_CONFIG_TTL_S:
            return cached[1]
        try:
            value = self.client.get_account_recording_config().video_download_preparation
        except ConfigError:
            raise
        except RecvaultError as exc:
            log.info("account recording config unreadable: %s", exc)
            value = None
        with self._lock:
            self._switch = (self._clock(), value)
        return value

    # --- download --------------------------------------------------------------------------------

    def download(
        self, recording: Recording, dest: Path, *, on_progress: Callable[[int], None] | None
    ) -> Download:
        try:
            result = self.client.download(recording.recording_id, dest, on_progress=on_progress)
        except SourceNotFound as exc:
            if self.video_readiness == "account" and recording.media_type == "AUDIO_AND_VIDEO":
                # Under the account switch a video answers 404 until it is prepared: waiting,
                # not gone (readiness re-reads the metadata before deciding it is gone).
                raise RecordingNotReady(
                    f"video not downloadable yet: {exc}", status_code=exc.status_code
                ) from exc
            raise
        return Download(
            path=result.path,
            size_bytes=result.size_bytes,
            sha256=result.sha256,
            resumes=result.resumes,
            content_type=result.content_type,
            changed_at_resume=result.changed_at,
        )

    # --- deletion --------------------------------------------------------------------------------

    def deletion_unavailable(self) -> str | None:
        if self.deletion == "off":
            return (
                "source deletion is off (RECVAULT_SOURCE_DELETION=off): delete it at Infobip, "
                "or configure calls-files or a ccaas route that recvault doctor confirms"
            )
        return None

    def delete(self, recording: Recording) -> DeletionReceipt:
        """Delete as the profile says, then confirm by reading back (module docstring)."""
        recording_id = recording.recording_id
        unavailable = self.deletion_unavailable()
        if unavailable is not None:
            raise SourceDeletionUnavailable(f"recording {recording_id}: {unavailable}")
        if self.deletion == "calls-files":
            return self._delete_calls_file(recording)
        try:
            self.client.delete_recording(recording_id)
            deleted = f"DELETE {self.client.paths.delete} answered"
        except SourceNotFound:
            log.info("delete answered not found recording_id=%s; confirming", recording_id)
            deleted = f"DELETE {self.client.paths.delete} answered an Infobip 404"
        return self._confirm(recording_id, deleted)

    def _confirm(self, recording_id: str, deleted: str) -> DeletionReceipt:
        """Metadata shows ``deletedAt``, or the element is gone and the download answers an
        Infobip 404; anything else is not a deletion."""
        try:
            fresh = self.client.get_recording(recording_id)
        except SourceNotFound:
            try:
                self.client.probe_download(recording_id)
            except SourceNotFound:
                return DeletionReceipt(
                    recording_id,
                    f"{deleted}; metadata no longer lists the recording and its download "
                    "answers an Infobip 404",
                    deleted_at=self._now(),
                )
            raise DeletionNotConfirmed(
                f"recording {recording_id}: metadata no longer lists it but its download still "
                "serves media; not recorded as deleted (retried on the next run)"
            ) from None
        if fresh.deleted_at is None:
            raise DeletionNotConfirmed(
                f"recording {recording_id}: Infobip accepted the deletion but its metadata "
                "shows no deletedAt; not recorded as deleted (retried on the next run)"
            )
        return DeletionReceipt(
            recording_id,
            f"{deleted}; metadata shows deletedAt",
            deleted_at=epoch_ms_to_datetime(fresh.deleted_at),
        )

    def _delete_calls_file(self, recording: Recording) -> DeletionReceipt:
        assert self.calls_files is not None  # noqa: S101 - checked in __init__
        file = self.calls_files.locate_file(
            recording_id=recording.recording_id,
            filename=recording.filename,
            call_id=recording.call_id,
            conference_id=recording.conference_id,
        )
        if file is None:
            raise SourceDeletionUnavailable(
                f"recording {recording.recording_id}: no Calls API file maps to it (call "
                f"{recording.call_id or '-'}, conference {recording.conference_id or '-'}); "
                "delete it at Infobip, or configure a ccaas route"
            )
        receipt = self.calls_files.delete_file(file)
        return DeletionReceipt(
            recording.recording_id,
            f"Calls API file {file.recording_id}: {receipt.confirmed_by}",
            deleted_at=receipt.deleted_at,
        )

    def stats(self) -> Mapping[str, int]:
        return asdict(self.client.stats)

    def close(self) -> None:
        self.client.close()
        if self.calls_files is not None:
            self.calls_files.close()
