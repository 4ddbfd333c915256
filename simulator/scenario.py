"""What the simulator serves: a seeded, deterministic data set plus the faults to inject.

A ``Scenario`` is plain data (pydantic), so it can come from a test, a preset name or a JSON
file. The same scenario always yields the same recordings, ids and media bytes.

Data set
    seed                 every random choice derives from it
    count                number of metadata elements (participant legs) at start
    start_at             startedAt of the first conversation (UTC)
    spacing_s            seconds between the starts of consecutive conversations
    legs_weights         relative weights of conversations with 1, 2 and 3 legs (leg 1 is the
                         CUSTOMER, the others AGENTs; 3 legs means a transfer between queues)
    composed_ratio       share of multi-leg conversations recorded as one merged file
                         (a single element with ``composed: true``)
    video_ratio          share of conversations recorded as AUDIO_AND_VIDEO (MP4, H.264+AAC)
    mp3_ratio            share of the audio conversations stored as MP3 (the rest WAV PCM)
    duration_min_s/max_s range of the metadata ``duration`` field
    media_duration_s     length of the real media clip served (kept short on purpose; the
                         metadata ``duration`` is the call's length, not the clip's)
    size_bytes           {recording index: size} makes a recording's media exactly that large
                         (never smaller than its natural size); streamed, never held in memory
    chat_conversations   conversations with messages but no recording (the Conversations API
                         serves seeded messages for every conversation, see simulator/messages.py)
    api_key, username, password   accepted credentials (App key, Basic, session/OAuth tokens)
    video_download_preparation    initial value of the account recording config switch

Faults on chosen recordings (each a ``RecordingPick``: explicit ``indices``, plus ``count``
more, plus a ``ratio`` of the rest, chosen with the seed among the recordings it can apply to)
    not_ready            recordingStatus IN_PROGRESS and download 404 for the first
                         ``in_progress_listings`` listings and/or ``in_progress_s`` seconds after
                         the first listing (whichever ends first)
    failed               recordingStatus FAILED for good, download 404
    gone_after_listing   listed normally, but download answers 404 once it has been listed
    changing_bytes       each download request serves a new version of the bytes (same size);
                         version 0 is what ``SimulatorServer.media_sha256`` reports
    prep_failures        video preparation ends FAILED with ``prep_failure_reason``
    drop                 the connection is reset (RST) mid-body, ``times`` times per recording
    truncate             Content-Length announces the full body, the server sends part of it and
                         closes cleanly (FIN): a lying Content-Length
    duplicates           the element is listed twice, the copy one page further on
    corrupt              the media is not a media file at all (a text line, then seeded random
                         bytes): ffprobe cannot read it

Faults on requests (each a ``RequestFault``: the ``first_n`` requests per endpoint, then a
``rate``, for the endpoints named, all when empty)
    rate_limit           429 with the legacy TOO_MANY_REQUESTS body and no Retry-After
    server_errors        500 (legacy GENERAL_ERROR body), 502 and 503 (HTML from a "gateway"),
                         cycling through ``statuses``
    enforce_rate_limits  also answer 429 when Infobip's published limits are exceeded
                         (metadata 10/s burst 20, download 100/s burst 100, config 10/s burst 20)

Calls API recordings (``calls``, a ``CallsScenario``; docs/infobip.md, "The Calls API")
    count                recorded entities at start: calls, conferences and dialogs, drawn by
                         ``kinds_weights``; each call has one file (sometimes two: a recording
                         stopped and restarted), each conference 2-3 and each dialog 2
                         participant calls; ``composed_ratio`` of those also have a composed
                         file (and then, half the time, no per-participant files left)
    video_ratio/mp3_ratio  share of entities recorded as MP4 / of audio ones as MP3 (else WAV)
    size_bytes           {file index: size}, as for the Conversations data set
    failed               participant or standalone call recordings (by index, in data set
                         order) with status FAILED and a reason; their files answer 404
    partially_failed     call recordings with status PARTIALLY_FAILED and a reason (files fine)
    sftp                 files (by index) delivered to SFTP: ``location: SFTP``, download 404
    drop, truncate       as below, on file downloads (files by index)
    The data set is seeded by ``seed`` on a stream of its own, so it never changes the
    Conversations recordings above; its clips come from the same cache.

Strict mode (``strict``; ``recvault simulator serve --strict``)
    only the routes Infobip publishes exist: no video preparation route, no Conversations
    recording DELETE (docs/infobip.md); any other route answers a plain ``404``
    without an Infobip body, as a gateway would. Video becomes downloadable only through the
    account switch (``video_download_preparation``): ``prep_delay_s`` after the recording (or
    the switch) appeared; before that, and always while the switch is off, its download
    answers ``404`` with Infobip's body (never the ``409`` of recvault's model)

Shifting pages
    shift                after each metadata page served, ``inserts_per_page`` new recordings
                         arrive, with startedAt ``earlier`` than the page just served, ``later``
                         than it, or at a ``random`` point of the data set's span; at most
                         ``max_inserts`` in total
    prep_delay_s         seconds a video preparation takes

Latency
    latency_s            every request waits this long before it is answered (without blocking
                         other requests), like a distant API; 0 on loopback by default
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Endpoint = Literal[
    "metadata",
    "download",
    "prepare",
    "preparation_status",
    "delete",
    "account_config",
    "calls_list",
    "calls_get",
    "calls_delete",
    "calls_file_download",
    "calls_file_delete",
    "messages",
    "conversations",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordingPick(_Strict):
    """Which recordings a per-recording fault hits."""

    indices: tuple[int, ...] = ()
    count: int = Field(0, ge=0)
    ratio: float = Field(0.0, ge=0.0, le=1.0)

    @property
    def empty(self) -> bool:
        return not self.indices and self.count == 0 and self.ratio == 0.0


class RequestFault(_Strict):
    """Which requests answer with an injected error status."""

    first_n: int = Field(0, ge=0)
    rate: float = Field(0.0, ge=0.0, le=1.0)
    endpoints: tuple[Endpoint, ...] = ()

    def applies_to(self, endpoint: str) -> bool:
        return not self.endpoints or endpoint in self.endpoints


class NotReadyFault(_Strict):
    recordings: RecordingPick = RecordingPick()
    in_progress_listings: int | None = Field(1, ge=0)
    in_progress_s: float | None = Field(None, ge=0.0)


class ConnectionFault(_Strict):
    recordings: RecordingPick = RecordingPick()
    after_bytes: int | None = Field(None, ge=0)  # None: half of the response body
    times: int = Field(1, ge=1)


class ShiftFault(_Strict):
    inserts_per_page: int = Field(0, ge=0)
    position: Literal["earlier", "later", "random"] = "random"
    max_inserts: int = Field(1000, ge=0)


class CallsScenario(_Strict):
    """The Calls API recordings data set and its per-recording faults (module docstring)."""

    count: int = Field(12, ge=0)
    kinds_weights: tuple[float, float, float] = (0.5, 0.25, 0.25)  # call, conference, dialog
    composed_ratio: float = Field(0.5, ge=0.0, le=1.0)
    video_ratio: float = Field(0.2, ge=0.0, le=1.0)
    mp3_ratio: float = Field(0.25, ge=0.0, le=1.0)
    size_bytes: dict[int, int] = Field(default_factory=dict)
    failed: RecordingPick = RecordingPick()
    partially_failed: RecordingPick = RecordingPick()
    sftp: RecordingPick = RecordingPick()
    drop: ConnectionFault = ConnectionFault()
    truncate: ConnectionFault = ConnectionFault()

    @field_validator("kinds_weights")
    @classmethod
    def _some_kind(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) < 0 or sum(value) <= 0:
            raise ValueError("kinds_weights must be non-negative with a positive sum")
        return value


class Scenario(_Strict):
    """A seeded data set plus the faults to inject (see the module docstring)."""

    seed: int = 1
    strict: bool = False  # only published routes (see the module docstring)
    count: int = Field(20, ge=0)
    start_at: datetime = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    spacing_s: float = Field(300.0, gt=0)
    legs_weights: tuple[float, float, float] = (0.25, 0.55, 0.2)
    composed_ratio: float = Field(0.15, ge=0.0, le=1.0)
    video_ratio: float = Field(0.2, ge=0.0, le=1.0)
    mp3_ratio: float = Field(0.25, ge=0.0, le=1.0)
    duration_min_s: int = Field(20, ge=1)
    duration_max_s: int = Field(900, ge=1)
    media_duration_s: float = Field(1.0, gt=0.0, le=30.0)
    size_bytes: dict[int, int] = Field(default_factory=dict)
    # Conversations with messages but no recording (chats), beside those of the recordings.
    chat_conversations: int = Field(0, ge=0)

    api_key: str = "recvault-simulator-key"
    username: str = "simulator"
    password: str = "simulator-password"  # noqa: S105 - a fake credential of a local fake
    video_download_preparation: bool = False
    prep_delay_s: float = Field(0.5, ge=0.0)
    prep_failure_reason: str = "Video preparation failed: transcoding error"

    not_ready: NotReadyFault = NotReadyFault()
    failed: RecordingPick = RecordingPick()
    gone_after_listing: RecordingPick = RecordingPick()
    changing_bytes: RecordingPick = RecordingPick()
    prep_failures: RecordingPick = RecordingPick()
    drop: ConnectionFault = ConnectionFault()
    truncate: ConnectionFault = ConnectionFault()
    duplicates: RecordingPick = RecordingPick()
    corrupt: RecordingPick = RecordingPick()
    rate_limit: RequestFault = RequestFault()
    server_errors: RequestFault = RequestFault()
    server_error_statuses: tuple[Literal[500, 502, 503], ...] = (500, 502, 503)
    enforce_rate_limits: bool = False
    latency_s: float = Field(0.0, ge=0.0, le=10.0)
    shift: ShiftFault = ShiftFault()
    calls: CallsScenario = CallsScenario()

    @property
    def start(self) -> datetime:
        """``start_at`` under the name callers used first."""
        return self.start_at

    @field_validator("start_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start_at must be timezone-aware")
        return value.astimezone(UTC)

    @field_validator("legs_weights")
    @classmethod
    def _some_weight(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) < 0 or sum(value) <= 0:
            raise ValueError("legs_weights must be non-negative with a positive sum")
        return value


PRESETS: dict[str, Scenario] = {
    "clean": Scenario(),
    "demo": Scenario(
        count=24,
        video_ratio=0.25,
        video_download_preparation=True,  # the documented way to downloadable video
        prep_delay_s=2.0,
        not_ready=NotReadyFault(recordings=RecordingPick(count=2), in_progress_listings=1),
        enforce_rate_limits=True,
    ),
    "faulty": Scenario(
        count=40,
        video_ratio=0.3,
        video_download_preparation=True,
        prep_delay_s=1.0,
        not_ready=NotReadyFault(recordings=RecordingPick(count=3), in_progress_listings=1),
        failed=RecordingPick(count=1),
        gone_after_listing=RecordingPick(count=1),
        changing_bytes=RecordingPick(count=1),
        prep_failures=RecordingPick(count=1),
        drop=ConnectionFault(recordings=RecordingPick(ratio=0.2)),
        truncate=ConnectionFault(recordings=RecordingPick(ratio=0.1)),
        duplicates=RecordingPick(count=3),
        rate_limit=RequestFault(first_n=3, rate=0.05),
        server_errors=RequestFault(rate=0.03),
        enforce_rate_limits=True,
        shift=ShiftFault(inserts_per_page=1, max_inserts=10),
    ),
}


def load_scenario(name_or_path: str, **overrides: object) -> Scenario:
    """A preset by name, or a JSON file of Scenario fields; ``overrides`` replace fields."""
    if name_or_path in PRESETS:
        base = PRESETS[name_or_path].model_dump()
    else:
        path = Path(name_or_path)
        if not path.is_file():
            names = ", ".join(sorted(PRESETS))
            raise ValueError(
                f"unknown scenario {name_or_path!r}: use one of {names} or a JSON file"
            )
        base = json.loads(path.read_text(encoding="utf-8"))
    base.update({key: value for key, value in overrides.items() if value is not None})
    return Scenario.model_validate(base)
