"""The simulator's mutable world: recordings, faults in progress, preparations, account config.

Handlers run on the server's event loop thread while tests read from theirs, so every change
happens under one lock. Nothing here knows about HTTP framing; ``simulator/app.py`` does.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from simulator.calls import CallsState
from simulator.clips import ClipCache
from simulator.dataset import DataSetBuilder, SimRecording
from simulator.downloads import DownloadPlan, parse_range, resolve_range
from simulator.errors import ApiError, not_found
from simulator.faults import RequestFaults, pick_ids
from simulator.listing import page_body, parse_query, select
from simulator.media import MediaBody, build_body, corrupt_body, marker_text
from simulator.messages import MessagesState
from simulator.preparation import Preparations
from simulator.scenario import Scenario

FaultName = Literal[
    "not_ready",
    "failed",
    "gone_after_listing",
    "changing_bytes",
    "prep_failures",
    "drop",
    "truncate",
    "duplicates",
    "corrupt",
]


def _wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class _Credentials:
    api_key: str
    basic: str


class SimulatorState:
    def __init__(
        self,
        scenario: Scenario,
        *,
        cache_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.wall_ms = wall_ms
        self.clips = ClipCache(cache_dir, duration_s=scenario.media_duration_s)
        self.calls = CallsState(scenario, self.clips)  # /calls/1/recordings/..., its own lock
        self._lock = threading.RLock()
        now = clock()
        initial = DataSetBuilder(scenario).initial()
        for rec in initial:
            rec.appeared_at = now
        self._recordings: dict[str, SimRecording] = {r.recording_id: r for r in initial}
        # /ccaas/1/conversations/...: its own lock, like the Calls API's state.
        self.messages = MessagesState(
            scenario.seed,
            [r.element for r in initial],
            chat_conversations=scenario.chat_conversations,
        )
        self._arrivals = DataSetBuilder(scenario, stream="arrivals")
        self._arrivals.next_index = len(initial)
        self._arrivals.next_id = len(initial) + 1
        self._inserted = 0
        self.picks = self._make_picks(initial)
        self.deleted: set[str] = set()
        self.request_counts: Counter[tuple[str, int]] = Counter()
        self.request_times: list[tuple[float, str]] = []
        self.bytes_served: Counter[str] = Counter()
        self._listed: Counter[str] = Counter()
        self._first_listed_at: dict[str, float] = {}
        self._download_versions: Counter[str] = Counter()
        self._cuts_used: Counter[tuple[str, str]] = Counter()
        self._request_faults = RequestFaults(scenario, clock)
        self._tokens: set[str] = set()
        basic = base64.b64encode(f"{scenario.username}:{scenario.password}".encode()).decode()
        self._credentials = _Credentials(scenario.api_key, basic)
        self.preparations = Preparations(
            scenario,
            clock=clock,
            wall_ms=wall_ms,
            fails=self.picks["prep_failures"],
            has_video=scenario.video_ratio > 0,
        )

    def _make_picks(self, initial: list[SimRecording]) -> dict[str, frozenset[str]]:
        sc = self.scenario
        videos = [r for r in initial if r.is_video]
        picks = {
            "not_ready": pick_ids(sc.not_ready.recordings, initial, seed=sc.seed, name="not_ready"),
            "failed": pick_ids(sc.failed, initial, seed=sc.seed, name="failed"),
            "gone_after_listing": pick_ids(
                sc.gone_after_listing, initial, seed=sc.seed, name="gone_after_listing"
            ),
            "changing_bytes": pick_ids(sc.changing_bytes, initial, seed=sc.seed, name="changing"),
            "prep_failures": pick_ids(sc.prep_failures, videos, seed=sc.seed, name="prep"),
            "drop": pick_ids(sc.drop.recordings, initial, seed=sc.seed, name="drop"),
            "truncate": pick_ids(sc.truncate.recordings, initial, seed=sc.seed, name="truncate"),
            "duplicates": pick_ids(sc.duplicates, initial, seed=sc.seed, name="duplicates"),
            "corrupt": pick_ids(sc.corrupt, initial, seed=sc.seed, name="corrupt"),
        }
        return picks

    # --- requests ----------------------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        scheme, _, value = (header or "").strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "app":
            return secrets.compare_digest(value, self._credentials.api_key)
        if scheme == "basic":
            return secrets.compare_digest(value, self._credentials.basic)
        if scheme in ("ibsso", "bearer"):
            with self._lock:
                return value in self._tokens
        return False

    def issue_token(self, username: str, password: str) -> str | None:
        sc = self.scenario
        if not (
            secrets.compare_digest(username, sc.username)
            and secrets.compare_digest(password, sc.password)
        ):
            return None
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens.add(token)
        return token

    def injected_status(self, endpoint: str) -> int | None:
        with self._lock:
            return self._request_faults.decide(endpoint)

    def record(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.request_counts[(endpoint, status)] += 1
            self.request_times.append((time.monotonic(), endpoint))

    def add_bytes_served(self, endpoint: str, sent: int) -> None:
        with self._lock:
            self.bytes_served[endpoint] += sent

    def served(self, endpoint: str) -> int:
        """Body bytes sent by ``endpoint``'s media responses, cut ones included."""
        with self._lock:
            return self.bytes_served[endpoint]

    def times(self, endpoint: str) -> list[float]:
        """When each request to ``endpoint`` was answered (monotonic seconds)."""
        with self._lock:
            return [at for at, name in self.request_times if name == endpoint]

    def counts(self) -> Counter[tuple[str, int]]:
        with self._lock:
            return Counter(self.request_counts)

    def deleted_ids(self) -> set[str]:
        with self._lock:
            return set(self.deleted)

    # --- metadata ----------------------------------------------------------------------------

    def list_metadata(self, params: Mapping[str, str]) -> dict[str, Any]:
        query = parse_query(params)
        with self._lock:
            now = self.clock()
            elements = [self._snapshot(rec, now) for rec in self._recordings.values()]
            view = self._with_duplicates(select(elements, query), query.size)
            body = page_body(view, query)
            for recording_id in {e["recordingId"] for e in body["elements"]}:
                self._listed[recording_id] += 1
                self._first_listed_at.setdefault(recording_id, now)
            if body["elements"]:
                self._arrive(body["elements"], now)
        return body

    def _snapshot(self, rec: SimRecording, now: float) -> dict[str, Any]:
        element = dict(rec.element)
        if rec.recording_id in self.picks["failed"]:
            element["recordingStatus"] = "FAILED"
        elif self._in_progress(rec.recording_id, now, for_download=False):
            element["recordingStatus"] = "IN_PROGRESS"
        return element

    def _in_progress(self, recording_id: str, now: float, *, for_download: bool) -> bool:
        """Listing n shows SUCCESSFUL once n > K; downloads wait until such a listing was served."""
        if recording_id not in self.picks["not_ready"]:
            return False
        fault = self.scenario.not_ready
        listed = self._listed[recording_id]
        if fault.in_progress_listings is not None:
            threshold = fault.in_progress_listings + (1 if for_download else 0)
            if listed >= threshold:
                return False
        first = self._first_listed_at.get(recording_id)
        if fault.in_progress_s is not None and first is not None:
            return now - first < fault.in_progress_s
        return True

    def _with_duplicates(self, view: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
        copies = [
            (i, e) for i, e in enumerate(view) if e["recordingId"] in self.picks["duplicates"]
        ]
        for position, element in reversed(copies):
            view.insert(min(position + size, len(view)), dict(element))
        return view

    def _arrive(self, page: list[dict[str, Any]], now: float) -> None:
        """New recordings arrive after a page was served, so later pages shift."""
        shift = self.scenario.shift
        wanted = min(shift.inserts_per_page, shift.max_inserts - self._inserted)
        if wanted <= 0:
            return
        rng = self._arrivals.rng
        starts = [int(e["startedAt"]) for e in page]
        all_starts = [r.started_at_ms for r in self._recordings.values()]
        span_start, span_end = min(all_starts), max(all_starts)
        low, high = min(starts), max(starts)
        while wanted > 0:
            position = shift.position
            if position == "random":
                started = rng.randint(span_start, max(span_start, span_end))
            elif position == "earlier":
                started = rng.randint(min(span_start, low - 1), low - 1)
            else:
                started = rng.randint(high + 1, max(high + 1, span_end))
            arrivals = self._arrivals.conversation(started, max_legs=wanted)
            for rec in arrivals:
                rec.appeared_at = now
                self._recordings[rec.recording_id] = rec
            wanted -= len(arrivals)
            self._inserted += len(arrivals)

    def recordings(self) -> list[dict[str, Any]]:
        with self._lock:
            now = self.clock()
            return [self._snapshot(rec, now) for rec in self._recordings.values()]

    def recording(self, recording_id: str) -> SimRecording:
        with self._lock:
            rec = self._recordings.get(recording_id)
        if rec is None:
            raise not_found(recording_id)
        return rec

    # --- deletion and preparation ------------------------------------------------------------

    def delete(self, recording_id: str) -> dict[str, Any]:
        with self._lock:
            rec = self._recordings.get(recording_id)
            if rec is None or recording_id in self.deleted:
                raise not_found(recording_id)
            rec.element["deletedAt"] = self.wall_ms()
            rec.element["deletedBy"] = "API"
            self.deleted.add(recording_id)
            return self._snapshot(rec, self.clock())

    def _live_video(self, recording_id: str) -> SimRecording:
        with self._lock:
            rec = self._recordings.get(recording_id)
            if rec is None or recording_id in self.deleted:
                raise not_found(recording_id)
        if not rec.is_video:
            raise ApiError(400, f"Recording {recording_id} is not a video recording")
        return rec

    def request_preparation(self, recording_id: str) -> tuple[int, dict[str, Any]]:
        rec = self._live_video(recording_id)
        with self._lock:
            return self.preparations.request(rec)

    def preparation_status(self, recording_id: str) -> dict[str, Any]:
        rec = self._live_video(recording_id)
        with self._lock:
            return self.preparations.status_body(rec)

    def account_config(self, method: str, body: object) -> dict[str, Any]:
        with self._lock:
            return self.preparations.account_config(method, body, list(self._recordings.values()))

    # --- downloads ---------------------------------------------------------------------------

    def plan_download(self, recording_id: str, range_header: str | None) -> DownloadPlan:
        with self._lock:
            rec = self._recordings.get(recording_id)
            now = self.clock()
            listed = self._listed[recording_id]
            if (
                rec is None
                or recording_id in self.deleted
                or recording_id in self.picks["failed"]
                or self._in_progress(recording_id, now, for_download=True)
                or (recording_id in self.picks["gone_after_listing"] and listed > 0)
            ):
                raise not_found(recording_id)
            if rec.is_video and not self.preparations.is_ready(rec):
                if self.scenario.strict:  # what a real account answers: Infobip's own 404
                    raise not_found(recording_id)
                raise ApiError(409, f"Recording {recording_id} is not prepared for download")
            version = self._download_versions[recording_id]
        wanted = parse_range(range_header)
        body = self.media_body(rec, version)
        start, end = resolve_range(wanted, body.size)
        with self._lock:
            if recording_id in self.picks["changing_bytes"]:
                self._download_versions[recording_id] += 1
            cut = self._take_cut(recording_id)
        after = None
        if cut is not None:
            fault = self.scenario.drop if cut == "drop" else self.scenario.truncate
            length = end - start
            after = min(fault.after_bytes if fault.after_bytes is not None else length // 2, length)
            after = max(0, min(after, length - 1))
        return DownloadPlan(
            media_id=recording_id,
            filename=f"{recording_id}.{rec.media_format}",
            body=body,
            start=start,
            end=end,
            partial=wanted is not None,
            cut=cut,
            cut_after=after,
            # What the published contract documents for 200/206 (docs/infobip.md).
            content_type="application/octet-stream",
        )

    def _take_cut(self, recording_id: str) -> Literal["drop", "truncate"] | None:
        kinds: tuple[Literal["drop", "truncate"], ...] = ("drop", "truncate")
        for kind in kinds:
            fault = self.scenario.drop if kind == "drop" else self.scenario.truncate
            if (
                recording_id in self.picks[kind]
                and self._cuts_used[(kind, recording_id)] < fault.times
            ):
                self._cuts_used[(kind, recording_id)] += 1
                return kind
        return None

    def media_body(self, rec: SimRecording, version: int = 0) -> MediaBody:
        marker = marker_text(rec.recording_id, version)
        if rec.recording_id in self.picks["corrupt"]:
            return corrupt_body(marker, size_bytes=rec.size_bytes)
        clip = self.clips.clip(rec.media_format, rec.tone)
        return build_body(
            clip, rec.media_format, marker=marker, size_bytes=rec.size_bytes, version=version
        )
