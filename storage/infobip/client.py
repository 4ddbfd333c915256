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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import ValidationError

from models.errors import ConfigError, SourceNotFound, SourceServerError
from models.ports import SharedRateLimits
from models.settings import (
    ACCOUNT_CONFIG_PATH,
    DOWNLOAD_PATH,
    MESSAGES_PATH,
    METADATA_PATH,
    Settings,
)
from models.source import (
    AccountRecordingConfig,
    PreparationStatus,
    RecordingMetadata,
    datetime_to_epoch_ms,
)
from storage.infobip.core import Call, ClientStats, DownloadResult, HttpCore, RouteCheck
from storage.infobip.download import CHUNK_BYTES
from storage.infobip.listing import keyset_listing, page_elements, parse_element
from storage.infobip.messages import OP_MESSAGES, list_conversations, list_messages

__all__ = [
    "CHUNK_BYTES",
    "ClientStats",
    "DownloadResult",
    "InfobipClient",
    "InfobipPaths",
    "RouteCheck",
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
    """Every path recvault calls, in one place: the published ones by default; the
    hypotheses of docs/infobip.md (preparation, delete) only where a deployment configures them."""

    metadata: str = METADATA_PATH
    download: str = DOWNLOAD_PATH
    account_config: str = ACCOUNT_CONFIG_PATH
    preparation: str | None = None
    delete: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> InfobipPaths:
        return cls(
            metadata=settings.infobip_metadata_path,
            download=settings.infobip_download_path,
            account_config=settings.infobip_account_config_path,
            preparation=settings.infobip_preparation_path,
            delete=settings.infobip_delete_path,
        )


_DEFAULT_PATHS = InfobipPaths()
# The variable that configures each route, named when a route turns out not to exist.
SETTING_OF = {
    "metadata": "RECVAULT_INFOBIP_METADATA_PATH",
    "download": "RECVAULT_INFOBIP_DOWNLOAD_PATH",
    "account_config": "RECVAULT_INFOBIP_ACCOUNT_CONFIG_PATH",
    "preparation": "RECVAULT_INFOBIP_PREPARATION_PATH",
    "delete": "RECVAULT_INFOBIP_DELETE_PATH",
}
# A recording id no account holds: route checks ask for it and expect Infobip's own 404.
PROBE_RECORDING_ID = "recvault-route-check-0000"


def _call(op: str, method: str, route: str, template: str, recording_id: str | None = None) -> Call:
    ids = (("recording_id", recording_id),) if recording_id is not None else ()
    # Metadata answers and filters hold names and phone numbers: scrub them from messages.
    # Every route is checked: a 404 without an Infobip body means the route is missing.
    return Call(
        op,
        method,
        template,
        ids=ids,
        personal=op == OP_METADATA,
        route_checked=True,
        setting=SETTING_OF[route],
    )


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
        messages_rate_per_min: float = 500.0,
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
        # Burst 1: Infobip counts Get messages per minute; saved-up tokens would overshoot it.
        limits[OP_MESSAGES] = (messages_rate_per_min / 60.0, 1)
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
            messages_rate_per_min=settings.messages_rate_per_min,
            retry_budget_s=settings.retry_budget_s,
            shared_limits=shared_limits,
            paths=InfobipPaths.from_settings(settings),
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
            route_checked=True,
            setting=SETTING_OF["metadata"],
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
        call = Call(
            OP_METADATA,
            "GET",
            self.paths.metadata,
            redact=(recording_id,),
            personal=True,
            route_checked=True,
            setting=SETTING_OF["metadata"],
        )
        body = self._core.request_json(call, params={"recordingId": recording_id, "size": "20"})
        for position, raw in enumerate(page_elements(body)):
            record = parse_element(raw, page=0, position=position)
            if record is not None and record.recording_id == recording_id:
                return record
        raise SourceNotFound(f"Infobip has no metadata for recording_id={recording_id}")

    def count_recordings(self, **filters: str) -> int:
        """How many recordings the metadata lists for ``filters`` (its ``total``)."""
        call = Call(
            OP_METADATA,
            "GET",
            self.paths.metadata,
            redact=tuple(filters.values()),
            personal=True,
            route_checked=True,
            setting=SETTING_OF["metadata"],
        )
        body = self._core.request_json(call, params={**filters, "page": "0", "size": "1"})
        total = body.get("total") if isinstance(body, dict) else None
        return total if isinstance(total, int) else len(page_elements(body))

    def delete_recording(self, recording_id: str) -> RecordingMetadata | None:
        """``DELETE`` on the configured delete route (section 9): the element it answers with,
        or None for an answer of another shape. The answer is never trusted as a deletion:
        the caller confirms by reading the source back."""
        template = self._configured("delete", self.paths.delete)
        call = _call(OP_DELETE, "DELETE", "delete", template, recording_id)
        body = self._core.request_json(call)
        try:
            return RecordingMetadata.model_validate(body)
        except ValidationError:
            return None

    def get_account_recording_config(self) -> AccountRecordingConfig:
        call = _call(OP_CONFIG, "GET", "account_config", self.paths.account_config)
        return self._validate(AccountRecordingConfig, self._core.request_json(call), call)

    # --- messages (Conversations API) ---------------------------------------------------------

    def list_messages(self, conversation_id: str) -> Iterator[Mapping[str, Any]]:
        """Every message of the conversation, as Infobip sent it (``storage.infobip.messages``)."""
        return list_messages(self._core, conversation_id)

    def list_conversations(self, *, since: datetime, until: datetime) -> Iterator[str]:
        """Ids of the conversations updated in the window."""
        return list_conversations(self._core, since=since, until=until)

    # --- video preparation (a hypothesis: docs/infobip.md) -------------------------------------

    def request_video_preparation(self, recording_id: str) -> PreparationStatus:
        template = self._configured("preparation", self.paths.preparation)
        call = _call(OP_PREPARATION, "POST", "preparation", template, recording_id)
        return self._validate(PreparationStatus, self._core.request_json(call), call)

    def get_video_preparation(self, recording_id: str) -> PreparationStatus:
        template = self._configured("preparation", self.paths.preparation)
        call = _call(OP_PREPARATION, "GET", "preparation", template, recording_id)
        return self._validate(PreparationStatus, self._core.request_json(call), call)

    @staticmethod
    def _configured(route: str, template: str | None) -> str:
        if template is None:
            raise ConfigError(
                f"no Infobip {route} route is configured: set {SETTING_OF[route]} to a route "
                "your account answers (docs/infobip.md), or leave the mode that needs "
                "it off"
            )
        return template

    # --- route checks (recvault doctor) -------------------------------------------------------

    def check_routes(self, *, messages: bool = False) -> list[RouteCheck]:
        """Each configured route asked once, harmlessly: the listing for one element, and the
        id-bearing routes for an id no account holds (expecting Infobip's own 404). The
        delete route is asked with DELETE, which for that id deletes nothing. ``messages``:
        Get messages too (transcripts), for a conversation id no account holds."""
        checks = [
            ("metadata", "GET", self.paths.metadata, None),
            ("download", "GET", self.paths.download, PROBE_RECORDING_ID),
            ("account_config", "GET", self.paths.account_config, None),
            ("preparation", "GET", self.paths.preparation, PROBE_RECORDING_ID),
            ("delete", "DELETE", self.paths.delete, PROBE_RECORDING_ID),
        ]
        results: list[RouteCheck] = []
        for route, method, template, recording_id in checks:
            if template is None:
                continue
            op = OP_DOWNLOAD if route == "download" else OP_CONFIG
            call = _call(op, method, route, template, recording_id)
            params = {"page": "0", "size": "1"} if route == "metadata" else None
            headers = {"Range": "bytes=0-0"} if route == "download" else None
            results.append(self._check(route, call, params, headers))
        if messages:
            call = Call(
                OP_MESSAGES,
                "GET",
                MESSAGES_PATH,
                ids=(("conversation_id", PROBE_RECORDING_ID),),
                route_checked=True,
            )
            results.append(self._check("messages", call, {"page": "0", "limit": "1"}, None))
        return results

    def _check(
        self,
        route: str,
        call: Call,
        params: dict[str, str] | None,
        headers: dict[str, str] | None,
    ) -> RouteCheck:
        return self._core.check_route(route, call, params=params, headers=headers)

    def probe_download(self, recording_id: str) -> int:
        """The status of asking the download for its first byte: media is served (200/206);
        an Infobip 404 raises ``SourceNotFound``, a missing route ``ConfigError``."""
        call = _call(OP_DOWNLOAD, "GET", "download", self.paths.download, recording_id)
        return self._core.probe(call, headers={"Range": "bytes=0-0"})

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
        call = _call(OP_DOWNLOAD, "GET", "download", self.paths.download, recording_id)
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
