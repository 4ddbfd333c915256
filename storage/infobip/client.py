"""The Infobip Conversations recordings client (what it relies on: docs/infobip.md).

What recvault asks the Conversations API, and what its answers mean. The requests themselves,
rate limits, retries, error translation and resumable downloads are the shared HTTP core's
(``storage.infobip.core``), which the Calls source uses too; nothing above ``storage/`` sees
httpx.

Privacy: the API key lives only in the httpx client's default headers. Exception messages and
log lines carry path templates and recording ids, never query strings (metadata filters may be
names or phone numbers) and never metadata response bodies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import ValidationError

from models.errors import ConfigError, SourceNotFound, SourceServerError
from models.ports import SharedRateLimits
from models.settings import Settings
from models.source import (
    AccountRecordingConfig,
    PreparationStatus,
    RecordingMetadata,
    datetime_to_epoch_ms,
)
from storage.infobip.core import Call, ClientStats, DownloadResult, HttpCore
from storage.infobip.download import CHUNK_BYTES
from storage.infobip.listing import keyset_listing, page_elements, parse_element

__all__ = [
    "CHUNK_BYTES",
    "ClientStats",
    "DownloadResult",
    "InfobipClient",
    "InfobipPaths",
]

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 999
_RESERVED_PARAMS = frozenset(
    {"startedAtFrom", "startedAtTo", "page", "size", "sortBy", "sortDirection"}
)
_M = TypeVar("_M", RecordingMetadata, PreparationStatus, AccountRecordingConfig)

# Operation classes, each with its own token bucket (Infobip limits per endpoint).
OP_METADATA = "metadata"
OP_PREPARATION = "preparation"
OP_CONFIG = "config"
OP_DELETE = "delete"
OP_DOWNLOAD = "download"


@dataclass(frozen=True)
class InfobipPaths:
    """Every path recvault calls, in one place (preparation and delete are hypotheses)."""

    metadata: str = "/ccaas/voice/2/recording/metadata"
    download: str = "/ccaas/voice/2/recording/download/{recording_id}"
    preparation: str = "/ccaas/voice/2/recording/{recording_id}/download-preparation"
    delete: str = "/ccaas/voice/2/recording/{recording_id}"
    account_config: str = "/ccaas/voice/2/account-recording-config"


_DEFAULT_PATHS = InfobipPaths()


def _call(op: str, method: str, template: str, recording_id: str | None = None) -> Call:
    ids = (("recording_id", recording_id),) if recording_id is not None else ()
    # Metadata answers and filters hold names and phone numbers: scrub them from messages.
    return Call(op, method, template, ids=ids, personal=op == OP_METADATA)


class InfobipClient:
    """Thread-safe client of the Conversations recordings API; share one per process."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        metadata_rate_per_s: float = 10.0,
        metadata_burst: int = 20,
        download_rate_per_s: float = 100.0,
        retry_budget_s: float = 120.0,
        max_retries: int = 8,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        paths: InfobipPaths = _DEFAULT_PATHS,
        clock: Callable[[], float] = time.monotonic,
        shared_limits: SharedRateLimits | None = None,
    ) -> None:
        self.paths = paths
        download_burst = max(1, int(download_rate_per_s))
        limits = dict.fromkeys(
            (OP_METADATA, OP_PREPARATION, OP_CONFIG, OP_DELETE),
            (metadata_rate_per_s, metadata_burst),
        )
        limits[OP_DOWNLOAD] = (download_rate_per_s, download_burst)
        self._core = HttpCore(
            base_url,
            api_key,
            limits=limits,
            timeout_s=timeout_s,
            retry_budget_s=retry_budget_s,
            max_retries=max_retries,
            transport=transport,
            sleep=sleep,
            clock=clock,
            shared_limits=shared_limits,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, shared_limits: SharedRateLimits | None = None
    ) -> InfobipClient:
        return cls(
            settings.base_url,
            settings.api_key,
            timeout_s=settings.http_timeout_s,
            metadata_rate_per_s=settings.metadata_rate_per_s,
            metadata_burst=settings.metadata_burst,
            download_rate_per_s=settings.download_rate_per_s,
            retry_budget_s=settings.retry_budget_s,
            shared_limits=shared_limits,
        )

    def __repr__(self) -> str:
        return f"InfobipClient(base_url={self._core.base_url!r})"

    @property
    def max_retries(self) -> int:
        return self._core.max_retries

    @property
    def retry_budget_s(self) -> float:
        return self._core.retry_budget_s

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def stats(self) -> ClientStats:
        return self._core.stats

    # --- metadata ------------------------------------------------------------------------------

    def list_recordings(
        self,
        *,
        started_from: datetime,
        started_to: datetime,
        page_size: int = MAX_PAGE_SIZE,
        **filters: str,
    ) -> Iterator[RecordingMetadata]:
        """Every recording started in ``[started_from, started_to]``, each id once, oldest first.

        Keyset paging over pages that shift while recordings arrive (``storage.infobip.listing``).
        Arguments are checked when this is called; requests go out as the iterator is consumed.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConfigError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        if clash := sorted(_RESERVED_PARAMS & filters.keys()):
            raise ConfigError(f"list_recordings sets {', '.join(clash)} itself; drop the filter")
        try:
            from_ms = datetime_to_epoch_ms(started_from)
            to_ms = datetime_to_epoch_ms(started_to)
        except ValueError as exc:
            raise ConfigError(f"listing window: {exc}") from None
        call = Call(
            OP_METADATA,
            "GET",
            self.paths.metadata,
            redact=tuple(filters.values()),
            personal=True,
        )

        def fetch(cursor_ms: int, page: int) -> Any:
            params = {
                **filters,
                "startedAtFrom": str(cursor_ms),
                "startedAtTo": str(to_ms),
                "page": str(page),
                "size": str(page_size),
                "sortBy": "startedAt",
                "sortDirection": "ASC",
            }
            return self._core.request_json(call, params=params)

        return keyset_listing(fetch, from_ms=from_ms)

    def get_recording(self, recording_id: str) -> RecordingMetadata:
        call = Call(OP_METADATA, "GET", self.paths.metadata, redact=(recording_id,), personal=True)
        body = self._core.request_json(call, params={"recordingId": recording_id, "size": "20"})
        for position, raw in enumerate(page_elements(body)):
            record = parse_element(raw, page=0, position=position)
            if record is not None and record.recording_id == recording_id:
                return record
        raise SourceNotFound(f"Infobip has no metadata for recording_id={recording_id}")

    def delete_recording(self, recording_id: str) -> RecordingMetadata:
        call = _call(OP_DELETE, "DELETE", self.paths.delete, recording_id)
        return self._validate(RecordingMetadata, self._core.request_json(call), call)

    def get_account_recording_config(self) -> AccountRecordingConfig:
        call = _call(OP_CONFIG, "GET", self.paths.account_config)
        return self._validate(AccountRecordingConfig, self._core.request_json(call), call)

    # --- video preparation (a hypothesis: docs/infobip.md) -------------------------------------

    def request_video_preparation(self, recording_id: str) -> PreparationStatus:
        call = _call(OP_PREPARATION, "POST", self.paths.preparation, recording_id)
        return self._validate(PreparationStatus, self._core.request_json(call), call)

    def get_video_preparation(self, recording_id: str) -> PreparationStatus:
        call = _call(OP_PREPARATION, "GET", self.paths.preparation, recording_id)
        return self._validate(PreparationStatus, self._core.request_json(call), call)

    # --- download ------------------------------------------------------------------------------

    def download(
        self,
        recording_id: str,
        dest: Path,
        *,
        expected_size_bytes: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> DownloadResult:
        """Stream the recording into ``dest``, resuming a partial file left there earlier.

        ``on_progress`` gets the file's size in bytes after every chunk. The retry allowance
        restarts whenever bytes arrive, so a long download over a flaky link may resume many
        times while a link that delivers nothing gives up after the usual budget.
        """
        call = _call(OP_DOWNLOAD, "GET", self.paths.download, recording_id)
        return self._core.download(
            call, dest, expected_size_bytes=expected_size_bytes, on_progress=on_progress
        )

    @staticmethod
    def _validate(model: type[_M], body: Any, call: Call) -> _M:
        try:
            return model.model_validate(body)
        except ValidationError:
            raise SourceServerError(
                f"{call.where}: response is not a valid {model.__name__}"
            ) from None
