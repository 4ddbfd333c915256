"""Video download preparation and the account recording config (docs/infobip.md, "Video readiness").

Not thread-safe on its own: ``SimulatorState`` calls it under its lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from simulator.dataset import SimRecording
from simulator.errors import ApiError
from simulator.scenario import Scenario

_MEDIA_TYPES = ("AUDIO", "AUDIO_AND_VIDEO")
_FLAGS = ("inbound", "outbound", "autoCompose", "enabled", "videoDownloadPreparation")


@dataclass(frozen=True)
class _Job:
    ready_at: float
    fails: bool


class Preparations:
    def __init__(
        self,
        scenario: Scenario,
        *,
        clock: Callable[[], float],
        wall_ms: Callable[[], int],
        fails: frozenset[str],
        has_video: bool,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.wall_ms = wall_ms
        self.fails = fails
        self._jobs: dict[str, _Job] = {}
        self._auto_since: float | None = clock() if scenario.video_download_preparation else None
        enabled_at = scenario.start_at - timedelta(days=30)
        self._config: dict[str, Any] | None = {
            "inbound": True,
            "outbound": True,
            "autoCompose": False,
            "mediaType": "AUDIO_AND_VIDEO" if has_video else "AUDIO",
            "enabled": True,
            "enabledChangedAt": int(enabled_at.timestamp() * 1000),
            "videoDownloadPreparation": scenario.video_download_preparation,
        }

    def _job(self, rec: SimRecording) -> _Job | None:
        job = self._jobs.get(rec.recording_id)
        if job is None and self._auto_since is not None:
            # With the account switch on, a video prepares itself from when it (or the switch)
            # appeared.
            ready_at = max(self._auto_since, rec.appeared_at) + self.scenario.prep_delay_s
            job = _Job(ready_at, rec.recording_id in self.fails)
        return job

    def _state(self, rec: SimRecording) -> str:
        job = self._job(rec)
        if job is None:
            return "NOT_REQUESTED"
        if self.clock() < job.ready_at:
            return "PREPARING"
        return "FAILED" if job.fails else "READY"

    def is_ready(self, rec: SimRecording) -> bool:
        return self._state(rec) == "READY"

    def status_body(self, rec: SimRecording) -> dict[str, Any]:
        state = self._state(rec)
        body: dict[str, Any] = {"recordingId": rec.recording_id, "status": state}
        if state == "FAILED":
            body["reason"] = self.scenario.prep_failure_reason
        return body

    def request(self, rec: SimRecording) -> tuple[int, dict[str, Any]]:
        state = self._state(rec)
        if state == "READY":
            return 200, self.status_body(rec)
        if state == "NOT_REQUESTED" or state == "FAILED":
            ready_at = self.clock() + self.scenario.prep_delay_s
            self._jobs[rec.recording_id] = _Job(ready_at, rec.recording_id in self.fails)
        return 202, self.status_body(rec)

    def account_config(
        self, method: str, body: object, recordings: Sequence[SimRecording]
    ) -> dict[str, Any]:
        if method == "GET":
            if self._config is None:
                raise ApiError(404, "Account recording config not found!")
            return dict(self._config)
        if method == "POST" and self._config is not None:
            raise ApiError(400, "Account recording config already exists!")
        return dict(self._store(_validated(body), recordings))

    def _store(self, new: dict[str, Any], recordings: Sequence[SimRecording]) -> dict[str, Any]:
        old = self._config or {}
        if old.get("enabled") != new["enabled"] or "enabledChangedAt" not in old:
            new["enabledChangedAt"] = self.wall_ms()
        else:
            new["enabledChangedAt"] = old["enabledChangedAt"]
        auto = bool(new["videoDownloadPreparation"])
        if auto and self._auto_since is None:
            self._auto_since = self.clock()
        elif not auto and self._auto_since is not None:
            # Switching off keeps whatever the switch already started.
            for rec in recordings:
                job = self._job(rec)
                if rec.is_video and job is not None:
                    self._jobs.setdefault(rec.recording_id, job)
            self._auto_since = None
        self._config = new
        return new


def _validated(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid request body")
    media_type = body.get("mediaType")
    if media_type is None:
        raise ApiError(400, "mediaType: Missing Media Type")
    if media_type not in _MEDIA_TYPES:
        raise ApiError(400, "mediaType: must be one of AUDIO, AUDIO_AND_VIDEO")
    config: dict[str, Any] = {"mediaType": media_type}
    for name in _FLAGS:
        value = body.get(name, False)
        if not isinstance(value, bool):
            raise ApiError(400, f"{name}: must be a boolean")
        config[name] = value
    if not (config["inbound"] or config["outbound"]):
        raise ApiError(400, "inbound: at least one of inbound and outbound must be true")
    return config
