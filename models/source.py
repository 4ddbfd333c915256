"""Typed shapes of what Infobip returns (docs/infobip.md, "Endpoints", "Video readiness").

Unknown fields are kept (``extra="allow"``) so a new Infobip field never breaks a run and is
still stored in the catalog's raw copy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _InfobipModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


def epoch_ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def datetime_to_epoch_ms(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return int(at.timestamp() * 1000)


class MediaType(StrEnum):
    AUDIO = "AUDIO"
    AUDIO_AND_VIDEO = "AUDIO_AND_VIDEO"


class RecordingMetadata(_InfobipModel):
    """One element of ``GET /ccaas/voice/2/recording/metadata`` (one participant leg)."""

    recording_id: str
    # In Infobip's examples only, not in its schema: whatever it is, it is kept and never
    # decides anything (``recordingId`` is the key); a non-integer is reported, not dropped.
    id: object = None
    conversation_id: str | None = None
    conference_id: str | None = None
    call_id: str | None = None
    direction: str | None = None
    recording_status: str | None = None
    composed: bool = False
    filename: str | None = None
    duration: int | None = None  # seconds
    participant_id: str | None = None
    participant_identity: str | None = None
    participant_name: str | None = None
    participant_type: str | None = None
    media_type: str = MediaType.AUDIO
    started_at: int  # epoch ms
    deleted_at: int | None = None
    deleted_by: str | None = None
    sftp_path: str | None = None
    transferred_from: str | None = None
    transferred_to: str | None = None
    transferred_from_queue: str | None = None
    transferred_to_queue: str | None = None

    @property
    def id_is_integer(self) -> bool:
        """True when ``id`` is absent (the schema does not declare it) or an integer."""
        return self.id is None or (isinstance(self.id, int) and not isinstance(self.id, bool))

    @property
    def started_at_dt(self) -> datetime:
        return epoch_ms_to_datetime(self.started_at)

    @property
    def is_video(self) -> bool:
        return self.media_type == MediaType.AUDIO_AND_VIDEO

    @property
    def extension(self) -> str:
        """File extension of the original media, from the filename, else from the media type."""
        if self.filename and "." in self.filename:
            ext = self.filename.rsplit(".", 1)[1].lower()
            if ext.isalnum() and len(ext) <= 5:
                return ext
        return "mp4" if self.is_video else "wav"


class MetadataPage(_InfobipModel):
    elements: list[RecordingMetadata] = Field(default_factory=list)
    total: int = 0
    total_pages: int = 0


class PreparationState(StrEnum):
    NOT_REQUESTED = "NOT_REQUESTED"
    PREPARING = "PREPARING"
    READY = "READY"
    FAILED = "FAILED"


class PreparationStatus(_InfobipModel):
    recording_id: str
    status: PreparationState
    reason: str | None = None


class AccountRecordingConfig(_InfobipModel):
    inbound: bool = False
    outbound: bool = False
    auto_compose: bool = False
    media_type: str = MediaType.AUDIO
    enabled: bool = False
    enabled_changed_at: int | None = None
    video_download_preparation: bool | None = None
