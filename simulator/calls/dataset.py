"""Seeded Calls API recordings: calls, conferences and dialogs, and the files inside them.

Shapes follow Infobip's Voice spec (``PublicCallRecording``, ``PublicConferenceRecording``,
``PublicDialogRecording``, ``PublicRecordingFile``; docs/infobip.md, "The Calls API"). File
sizes are not stored here: they are the size of the media the simulator serves, filled in when
served.
All phone numbers and names are fictional (reserved ranges, example.com).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from simulator.dataset import TONE_VARIANTS, MediaFormat
from simulator.faults import pick_ids
from simulator.scenario import Scenario

Kind = Literal["call", "conference", "dialog"]
KINDS: tuple[Kind, ...] = ("call", "conference", "dialog")
ID_FIELDS: dict[Kind, str] = {"call": "callId", "conference": "conferenceId", "dialog": "dialogId"}
FILE_FORMATS: dict[MediaFormat, str] = {"wav": "WAV", "mp3": "MP3", "mp4": "MP4"}
_ROOMS = ["Support", "Billing", "Sales", "Escalations", "Onboarding"]


def calls_time(ms: int) -> str:
    """Epoch milliseconds in the Calls API's format, ``2026-01-15T12:00:00.150+0000``."""
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


@dataclass
class SimFile:
    """One recording file and how its media is made."""

    index: int
    body: dict[str, Any]  # PublicRecordingFile without ``size``
    media_format: MediaFormat
    tone: int
    size_bytes: int | None = None

    @property
    def recording_id(self) -> str:  # what fault picks name it by
        return str(self.body["id"])

    @property
    def filename(self) -> str:
        return str(self.body["name"])


@dataclass
class SimCall:
    """One call recording (standalone, or a participant of a conference or dialog)."""

    index: int
    body: dict[str, Any]  # PublicCallRecording; ``files`` holds file ids until served

    @property
    def recording_id(self) -> str:
        return str(self.body["callId"])


@dataclass
class SimEntity:
    kind: Kind
    body: dict[str, Any]
    start_ms: int
    end_ms: int
    composition: bool  # auto-compose was on (the ``composition`` list filter)
    calls: list[SimCall] = field(default_factory=list)

    @property
    def entity_id(self) -> str:
        return str(self.body[ID_FIELDS[self.kind]])


@dataclass
class CallsDataSet:
    entities: list[SimEntity]
    files: dict[str, SimFile]
    calls: list[SimCall]


class CallsBuilder:
    """Makes the data set; its random stream is its own, so Conversations data never moves."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.sc = scenario.calls
        self.rng = random.Random(f"{scenario.seed}:calls")
        self.files: dict[str, SimFile] = {}
        self.calls: list[SimCall] = []
        self.configuration_id = self._hex24()
        self.application_id = self._hex24()

    def build(self) -> CallsDataSet:
        start_ms = int(self.scenario.start_at.timestamp() * 1000)
        spacing_ms = int(self.scenario.spacing_s * 1000)
        entities = []
        for n in range(self.sc.count):
            started = start_ms + n * spacing_ms + self.rng.randint(0, spacing_ms // 3)
            kind = self.rng.choices(KINDS, weights=self.sc.kinds_weights)[0]
            entities.append(self._entity(kind, started, n))
        self._apply_faults()
        return CallsDataSet(entities=entities, files=self.files, calls=self.calls)

    def _entity(self, kind: Kind, started_ms: int, n: int) -> SimEntity:
        rng = self.rng
        video = rng.random() < self.sc.video_ratio
        fmt: MediaFormat = (
            "mp4" if video else ("mp3" if rng.random() < self.sc.mp3_ratio else "wav")
        )
        total_s = rng.randint(20, 600)
        end_ms = started_ms + total_s * 1000
        if kind == "call":
            call = self._call(started_ms, end_ms, fmt)
            return SimEntity(kind, call.body, started_ms, end_ms, False, [call])
        legs = 2 if kind == "dialog" else rng.choice([2, 2, 3])
        composed = rng.random() < self.sc.composed_ratio
        keep_leg_files = not composed or rng.random() < 0.5
        calls = []
        for leg in range(legs):
            joined = started_ms + (0 if leg == 0 else rng.randint(1, 20) * 1000)
            calls.append(self._call(joined, end_ms, fmt, with_files=keep_leg_files))
        entity_id = self._uuid()
        composed_files = [self._file(entity_id, started_ms, end_ms, fmt)] if composed else []
        body: dict[str, Any] = {ID_FIELDS[kind]: entity_id}
        if kind == "conference":
            body["conferenceName"] = f"{rng.choice(_ROOMS)} room {n + 1}"
        body.update(
            {
                "callsConfigurationId": self.configuration_id,
                "platform": {"applicationId": self.application_id},
                "composedFiles": composed_files,
                "callRecordings": [c.body for c in calls],
                "startTime": calls_time(started_ms),
                "endTime": calls_time(end_ms),
            }
        )
        return SimEntity(kind, body, started_ms, end_ms, composed, calls)

    def _call(
        self, started_ms: int, end_ms: int, fmt: MediaFormat, *, with_files: bool = True
    ) -> SimCall:
        rng = self.rng
        call_id = self._uuid()
        files = []
        if with_files:
            if rng.random() < 0.15:  # stopped and restarted: two files
                middle = started_ms + (end_ms - started_ms) // 2
                files = [
                    self._file(call_id, started_ms, middle - 2000, fmt),
                    self._file(call_id, middle, end_ms, fmt),
                ]
            else:
                files = [self._file(call_id, started_ms, end_ms, fmt)]
        body: dict[str, Any] = {
            "callId": call_id,
            "endpoint": self._endpoint(),
            "direction": rng.choice(["INBOUND", "INBOUND", "OUTBOUND"]),
            "files": files,
            "status": "SUCCESSFUL",
            "callsConfigurationId": self.configuration_id,
            "platform": {"applicationId": self.application_id},
            "startTime": calls_time(started_ms),
            "endTime": calls_time(end_ms),
        }
        call = SimCall(len(self.calls), body)
        self.calls.append(call)
        return call

    def _file(self, owner_id: str, start_ms: int, end_ms: int, fmt: MediaFormat) -> dict[str, Any]:
        index = len(self.files)
        file_id = self._hex24()
        body: dict[str, Any] = {
            "id": file_id,
            "name": f"{owner_id}_{start_ms}.{fmt}",
            "fileFormat": FILE_FORMATS[fmt],
            "creationTime": calls_time(end_ms + self.rng.randint(100, 5000)),
            "duration": max(1, (end_ms - start_ms) // 1000),
            "startTime": calls_time(start_ms),
            "endTime": calls_time(end_ms),
            "location": "HOSTED",
        }
        if self.rng.random() < 0.3:
            body["customData"] = {"queue": self.rng.choice(_ROOMS)}
        tone = self.rng.randrange(TONE_VARIANTS)
        size = self.sc.size_bytes.get(index)
        self.files[file_id] = SimFile(index, body, fmt, tone, size)
        return body

    def _endpoint(self) -> dict[str, Any]:
        rng = self.rng
        kind = rng.choices(
            ["PHONE", "WEBRTC", "SIP", "WEBSOCKET", "VIBER", "WHATSAPP"],
            weights=[10, 4, 3, 1, 1, 1],
        )[0]
        if kind in ("PHONE", "VIBER", "WHATSAPP"):
            # Fictional ranges: UK 07700 900xxx and US 555-01xx.
            number = rng.choice(
                [f"447700900{rng.randrange(1000):03d}", f"1202555{rng.randrange(100, 200)}"]
            )
            return {"type": kind, "phoneNumber": number}
        if kind == "WEBRTC":
            n = rng.randrange(100)
            return {"type": kind, "identity": f"agent-{n:02d}", "displayName": f"Agent {n:02d}"}
        if kind == "SIP":
            return {
                "type": kind,
                "username": f"desk{rng.randrange(100):02d}",
                "sipTrunkId": "trunk-1",
            }
        return {"type": kind, "websocketEndpointConfigId": self._hex24(), "identifier": "voicebot"}

    def _apply_faults(self) -> None:
        sc, seed = self.sc, self.scenario.seed
        failed = pick_ids(sc.failed, self.calls, seed=seed, name="calls_failed")
        partial = pick_ids(sc.partially_failed, self.calls, seed=seed, name="calls_partial")
        for call in self.calls:
            if call.recording_id in failed:
                call.body.update(status="FAILED", reason="Recording failed: media server error")
            elif call.recording_id in partial:
                call.body.update(
                    status="PARTIALLY_FAILED", reason="Recording postprocessing failed"
                )
        sftp = pick_ids(sc.sftp, list(self.files.values()), seed=seed, name="calls_sftp")
        for file_id in sftp:
            self.files[file_id].body.update(location="SFTP", sftpUploadStatus="UPLOADED")

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _hex24(self) -> str:
        return f"{self.rng.getrandbits(96):024x}"
