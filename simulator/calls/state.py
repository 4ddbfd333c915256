"""The Calls recordings world of the simulator: lists, reads, deletions and file downloads.

What it answers (docs/infobip.md, "The Calls API"): a deleted file no longer shows in its
recording's file list and its download answers 404, while the recording's metadata stays; a
deleted call, conference or dialog is gone with all its files. A file of a FAILED recording
and a file delivered to SFTP are listed but answer 404 (how Infobip answers those is not
published). Every error is the legacy ``requestError`` body. One lock guards all changes.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

from simulator.calls.dataset import CallsBuilder, Kind, SimCall, SimEntity, SimFile
from simulator.calls.query import check_location, page_body, parse_query, select
from simulator.clips import ClipCache
from simulator.downloads import DownloadPlan, parse_range, resolve_range
from simulator.errors import ApiError
from simulator.faults import pick_ids
from simulator.media import MediaBody, build_body, marker_text
from simulator.scenario import Scenario

CallsFault = Literal["failed", "partially_failed", "sftp", "drop", "truncate"]


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} was not found.", shape="legacy")


class CallsState:
    def __init__(self, scenario: Scenario, clips: ClipCache) -> None:
        self.scenario = scenario
        self.clips = clips
        self._lock = threading.RLock()
        data = CallsBuilder(scenario).build()
        self._entities: dict[tuple[Kind, str], SimEntity] = {
            (e.kind, e.entity_id): e for e in data.entities
        }
        self._files: dict[str, SimFile] = data.files
        self._owner: dict[str, SimCall | None] = {}
        for entity in data.entities:
            for file in entity.body.get("composedFiles", []):
                self._owner[file["id"]] = None
            for call in entity.calls:
                for file in call.body["files"]:
                    self._owner[file["id"]] = call
        files = list(self._files.values())
        sc, seed = scenario.calls, scenario.seed
        self.picks: dict[str, frozenset[str]] = {
            "drop": pick_ids(sc.drop.recordings, files, seed=seed, name="calls_drop"),
            "truncate": pick_ids(sc.truncate.recordings, files, seed=seed, name="calls_truncate"),
        }
        self.deleted_files: set[str] = set()
        self.deleted_entities: set[tuple[Kind, str]] = set()
        self._sizes: dict[str, int] = {}
        self._cuts_used: Counter[tuple[str, str]] = Counter()

    # --- answers ---------------------------------------------------------------------------------

    def list_entities(self, kind: Kind, params: Mapping[str, str]) -> dict[str, Any]:
        query = parse_query(kind, params)
        with self._lock:
            view = select(kind, list(self._live_entities()), query)
            chosen = view[query.page * query.size : (query.page + 1) * query.size]
            results = [self._snapshot(entity) for entity in chosen]
        return page_body(results, len(view), query)

    def get(self, kind: Kind, entity_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        check_location(params)
        with self._lock:
            return self._snapshot(self._entity(kind, entity_id))

    def delete_entity(
        self, kind: Kind, entity_id: str, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """Deletes the recording and all its files; answers it as it was."""
        check_location(params)
        with self._lock:
            entity = self._entity(kind, entity_id)
            answer = self._snapshot(entity)
            self.deleted_entities.add((kind, entity_id))
            self.deleted_files.update(_file_ids(entity))
            return answer

    def delete_file(self, file_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Deletes one file; its recording stays, without the file in its list."""
        check_location(params)
        with self._lock:
            file = self._live_file(file_id)
            self.deleted_files.add(file_id)
            return self._file_body(file)

    def plan_download(
        self, file_id: str, range_header: str | None, params: Mapping[str, str]
    ) -> DownloadPlan:
        check_location(params)
        with self._lock:
            file = self._live_file(file_id)
            owner = self._owner.get(file_id)
            if owner is not None and owner.body.get("status") == "FAILED":
                raise not_found(f"Recording file {file_id}")
            if file.body.get("location") == "SFTP":
                raise not_found(f"Recording file {file_id} (delivered to SFTP)")
        body = self.media_body(file)
        try:
            wanted = parse_range(range_header)
        except ApiError:
            # The spec documents 416 for a range it cannot serve, and no 400 here.
            raise _unsatisfiable(body.size) from None
        start, end = resolve_range(wanted, body.size)
        with self._lock:
            cut = self._take_cut(file_id)
        after = None
        if cut is not None:
            fault = self.scenario.calls.drop if cut == "drop" else self.scenario.calls.truncate
            length = end - start
            after = min(fault.after_bytes if fault.after_bytes is not None else length // 2, length)
            after = max(0, min(after, length - 1))
        return DownloadPlan(
            media_id=file_id,
            filename=file.filename,
            body=body,
            start=start,
            end=end,
            partial=wanted is not None,
            cut=cut,
            cut_after=after,
            # The only media type the Voice spec documents for this download.
            content_type="application/octet-stream",
        )

    # --- media -----------------------------------------------------------------------------------

    def media_body(self, file: SimFile) -> MediaBody:
        clip = self.clips.clip(file.media_format, file.tone)
        marker = marker_text(file.recording_id, 0)
        return build_body(
            clip, file.media_format, marker=marker, size_bytes=file.size_bytes, version=0
        )

    def media_size(self, file_id: str) -> int:
        size = self._sizes.get(file_id)
        if size is None:
            size = self._sizes[file_id] = self.media_body(self._files[file_id]).size
        return size

    # --- for tests -------------------------------------------------------------------------------

    def file(self, file_id: str) -> SimFile:
        return self._files[file_id]

    def media_sha256(self, file_id: str) -> str:
        """SHA-256 of the bytes a clean download of the file yields."""
        return self.media_body(self._files[file_id]).sha256()

    def files(self) -> list[dict[str, Any]]:
        """Every file still listed, with ``entity``/``entityId``/``callId``, in data set order."""
        out: list[dict[str, Any]] = []
        with self._lock:
            for entity in self._live_entities():
                for file_body, call in _files_with_owner(entity):
                    if file_body["id"] in self.deleted_files:
                        continue
                    out.append(
                        {
                            **self._file_body(self._files[file_body["id"]]),
                            "entity": entity.kind,
                            "entityId": entity.entity_id,
                            "callId": call.body["callId"] if call is not None else None,
                            "status": call.body.get("status") if call is not None else None,
                        }
                    )
        return sorted(out, key=lambda f: self._files[f["id"]].index)

    def entities(self, kind: Kind) -> list[dict[str, Any]]:
        with self._lock:
            live = [e for e in self._live_entities() if e.kind == kind]
            return [self._snapshot(e) for e in sorted(live, key=lambda e: e.start_ms)]

    def ids_with(self, fault: CallsFault) -> list[str]:
        """File ids a fault hits (for failed/partially_failed: the files of those calls)."""
        if fault in self.picks:
            chosen = self.picks[fault]
            return [f for f in self._files if f in chosen]
        if fault == "sftp":
            return [f for f, sim in self._files.items() if sim.body.get("location") == "SFTP"]
        status = "FAILED" if fault == "failed" else "PARTIALLY_FAILED"
        return [
            f
            for f, call in self._owner.items()
            if call is not None and call.body.get("status") == status
        ]

    # --- plumbing --------------------------------------------------------------------------------

    def _live_entities(self) -> list[SimEntity]:
        return [e for key, e in self._entities.items() if key not in self.deleted_entities]

    def _entity(self, kind: Kind, entity_id: str) -> SimEntity:
        key = (kind, entity_id)
        entity = self._entities.get(key)
        if entity is None or key in self.deleted_entities:
            raise not_found(f"{kind.capitalize()} recording {entity_id}")
        return entity

    def _live_file(self, file_id: str) -> SimFile:
        file = self._files.get(file_id)
        if file is None or file_id in self.deleted_files:
            raise not_found(f"Recording file {file_id}")
        return file

    def _file_body(self, file: SimFile) -> dict[str, Any]:
        body = copy.deepcopy(file.body)
        body["size"] = self.media_size(file.recording_id)
        return body

    def _snapshot(self, entity: SimEntity) -> dict[str, Any]:
        """The entity as served: deleted files left out, sizes filled in."""

        def files(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                self._file_body(self._files[f["id"]])
                for f in listed
                if f["id"] not in self.deleted_files
            ]

        body = copy.deepcopy(entity.body)
        if entity.kind == "call":
            body["files"] = files(entity.body["files"])
            return body
        body["composedFiles"] = files(entity.body["composedFiles"])
        for served, call in zip(body["callRecordings"], entity.calls, strict=True):
            served["files"] = files(call.body["files"])
        return body

    def _take_cut(self, file_id: str) -> Literal["drop", "truncate"] | None:
        kinds: tuple[Literal["drop", "truncate"], ...] = ("drop", "truncate")
        for kind in kinds:
            fault = self.scenario.calls.drop if kind == "drop" else self.scenario.calls.truncate
            if file_id in self.picks[kind] and self._cuts_used[(kind, file_id)] < fault.times:
                self._cuts_used[(kind, file_id)] += 1
                return kind
        return None


def _files_with_owner(entity: SimEntity) -> list[tuple[dict[str, Any], SimCall | None]]:
    found: list[tuple[dict[str, Any], SimCall | None]] = [
        (f, None) for f in entity.body.get("composedFiles", [])
    ]
    for call in entity.calls:
        found.extend((f, call) for f in call.body["files"])
    return found


def _file_ids(entity: SimEntity) -> set[str]:
    return {f["id"] for f, _call in _files_with_owner(entity)}


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(
        416,
        "Requested range is invalid.",
        shape="legacy",
        headers={"content-range": f"bytes */{size}"},
    )
