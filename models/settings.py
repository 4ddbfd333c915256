"""Settings: every ``RECVAULT_*`` variable, read once (environment, then an optional ``.env``).

``load_settings()`` turns pydantic's validation report into one ``ConfigError`` line that names
the variable, so the CLI never shows a traceback for a bad value.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.errors import ConfigError

ENV_PREFIX = "RECVAULT_"
SourceName = Literal["conversations", "calls"]
# How a video recording becomes downloadable (docs/infobip.md).
VideoReadiness = Literal["account", "endpoint"]
# How a recording is deleted at the source once the policy says so (section 9).
SourceDeletion = Literal["off", "calls-files", "ccaas"]

# The documented Conversations routes (docs/infobip.md).
METADATA_PATH = "/ccaas/voice/2/recording/metadata"
DOWNLOAD_PATH = "/ccaas/voice/2/recording/download/{recording_id}"
ACCOUNT_CONFIG_PATH = "/ccaas/voice/2/account-recording-config"
# Conversations API (ccaas v1): a conversation's messages, and the conversations themselves.
MESSAGES_PATH = "/ccaas/1/conversations/{conversation_id}/messages"
CONVERSATIONS_PATH = "/ccaas/1/conversations"
# Which conversations get a transcript of their messages (docs/transcripts.md).
TranscriptMode = Literal["recorded", "all", "off"]
# recvault's working model of routes Infobip does not publish (section 9): never a default,
# only where a deployment configures them.
PREPARATION_PATH_EXAMPLE = "/ccaas/voice/2/recording/{recording_id}/download-preparation"
DELETE_PATH_EXAMPLE = "/ccaas/voice/2/recording/{recording_id}"


def default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "recvault"


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL such as https://host.example.com, got {value!r}")
    return value.rstrip("/")


def _check_path(value: str, *, with_id: bool) -> str:
    if not value.startswith("/") or "://" in value or "?" in value:
        raise ValueError(f"must be a path such as /ccaas/voice/2/..., got {value!r}")
    fields = re.findall(r"\{([^}]*)\}", value)
    if with_id and fields != ["recording_id"]:
        raise ValueError(f"must hold {{recording_id}} once, got {value!r}")
    if not with_id and fields:
        raise ValueError(f"must not hold a {{field}}, got {value!r}")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", validate_default=True
    )

    # The README's configuration contract. Optional here because read-only commands need
    # none of them; ``require`` checks what a command needs before it starts.
    infobip_base_url: str | None = None
    infobip_api_key: SecretStr | None = None
    s3_bucket: str | None = Field(None, min_length=3, max_length=63)
    s3_endpoint_url: str | None = None
    database_url: str | None = None  # None: a SQLite file in data_dir
    work_dir: Path | None = None  # None: data_dir / "work"

    # Which recording sources to archive from, comma-separated.
    sources: Annotated[list[SourceName], NoDecode] = Field(
        default_factory=lambda: list[SourceName](["conversations"])
    )

    # Operational knobs, all optional.
    data_dir: Path = Field(default_factory=default_data_dir)
    policy_file: Path | None = None  # None: the built-in default policy
    concurrency: int = Field(4, ge=1, le=64)
    list_overlap_s: int = Field(300, ge=0)
    default_lookback_days: int = Field(7, ge=1)
    max_attempts: int = Field(8, ge=1)
    prepare_poll_s: float = Field(2.0, gt=0)
    prepare_wait_s: float = Field(120.0, ge=0)  # how long one run waits for preparations
    # Opt-in: also wait (within prepare_wait_s) for retry back-offs and media not final yet.
    wait_for_retries: bool = False
    # Media not final yet: look again after this. At least 1 s: a recording that is not ready
    # would otherwise be claimed again at once, again and again, while a run has other work.
    not_ready_retry_s: float = Field(300.0, ge=1)
    retry_backoff_s: float = Field(30.0, ge=0)  # first back-off after a failed attempt; doubles
    http_timeout_s: float = Field(30.0, gt=0)
    metadata_rate_per_s: float = Field(10.0, gt=0)
    metadata_burst: int = Field(20, ge=1)
    download_rate_per_s: float = Field(100.0, gt=0)
    retry_budget_s: float = Field(120.0, ge=0)
    # Calls API recordings (docs/infobip.md, "The Calls API"): Infobip allows 100 list/get
    # requests a second, and 100 file downloads and, separately, 100 file deletions a minute.
    calls_list_rate_per_s: float = Field(100.0, gt=0)
    calls_file_rate_per_min: float = Field(100.0, gt=0)
    # Get messages (Conversations API): Infobip allows 500 requests a minute.
    messages_rate_per_min: float = Field(500.0, gt=0)
    # Transcripts of conversation messages: of conversations with archived recordings
    # (recorded), of every conversation updated in the window (all), or none (off).
    transcripts: TranscriptMode = "recorded"
    calls_location: str | None = Field(None, pattern=r"^[A-Z][A-Z0-9_]*$")  # e.g. FRANKFURT
    work_dir_max_bytes: int = Field(50 * 1024**3, ge=1024**2)
    # S3 behaviour. "auto" sends SHA-256 checksums only where the store is AWS (no endpoint URL);
    # many S3-compatible stores reject or ignore the additional-checksum headers.
    s3_checksum: Literal["auto", "sha256", "off"] = "auto"
    s3_sse: Literal["AES256", "aws:kms", "none"] = "AES256"
    s3_sse_kms_key_id: str | None = None
    s3_multipart_threshold_bytes: int = Field(64 * 1024**2, ge=5 * 1024**2)
    s3_part_size_bytes: int = Field(16 * 1024**2, ge=5 * 1024**2)
    # With PREFECT_API_URL set: also take a slot of a Prefect global rate limit per request.
    shared_rate_limits: bool = True
    lease_s: int = Field(900, ge=3)  # renewed every third of it while a recording is worked on
    # Audit anchors: the chain head written after every run, under COMPLIANCE Object Lock.
    audit_anchor_bucket: str | None = Field(None, min_length=3, max_length=63)  # None: archive
    audit_anchor_retention_days: int = Field(3653, ge=1, le=36600)
    # The secret of the keyed hash that names a person in the audit log (erasure, holds).
    identity_key: SecretStr | None = None
    # The auditor API (``recvault serve-api``): the file of token hashes and roles (None:
    # data_dir / "auditor-tokens.json"), and how long a playback or export link stays valid.
    auditor_tokens: Path | None = None
    auditor_url_ttl_s: int = Field(300, ge=10, le=7 * 24 * 3600)

    # The source profile (docs/infobip.md): what is documented is the default; the
    # rest is a hypothesis a deployment switches on by configuring a route its account answers.
    infobip_metadata_path: str = METADATA_PATH
    infobip_download_path: str = DOWNLOAD_PATH
    infobip_account_config_path: str = ACCOUNT_CONFIG_PATH
    infobip_preparation_path: str | None = None  # needed by video_readiness=endpoint
    infobip_delete_path: str | None = None  # needed by source_deletion=ccaas
    video_readiness: VideoReadiness = "account"
    source_deletion: SourceDeletion = "off"

    @field_validator("sources", mode="before")
    @classmethod
    def _sources(cls, value: object) -> object:
        if isinstance(value, str):
            names = [part.strip().lower() for part in value.split(",") if part.strip()]
            if not names:
                raise ValueError("name at least one source: conversations, calls")
            return list(dict.fromkeys(names))
        return value

    @field_validator("infobip_metadata_path", "infobip_account_config_path")
    @classmethod
    def _plain_path(cls, value: str) -> str:
        return _check_path(value, with_id=False)

    @field_validator("infobip_download_path", "infobip_preparation_path", "infobip_delete_path")
    @classmethod
    def _recording_path(cls, value: str | None) -> str | None:
        return _check_path(value, with_id=True) if value else None

    @model_validator(mode="after")
    def _profile_complete(self) -> Settings:
        if self.video_readiness == "endpoint" and self.infobip_preparation_path is None:
            raise ValueError(
                "RECVAULT_VIDEO_READINESS=endpoint needs RECVAULT_INFOBIP_PREPARATION_PATH "
                f"(e.g. {PREPARATION_PATH_EXAMPLE}), a route your account answers"
            )
        if self.source_deletion == "ccaas" and self.infobip_delete_path is None:
            raise ValueError(
                "RECVAULT_SOURCE_DELETION=ccaas needs RECVAULT_INFOBIP_DELETE_PATH "
                f"(e.g. {DELETE_PATH_EXAMPLE}), a route your account answers"
            )
        return self

    @property
    def source_profile(self) -> dict[str, str | None]:
        """The active source profile, as ``recvault doctor`` prints it."""
        return {
            "video_readiness": self.video_readiness,
            "source_deletion": self.source_deletion,
            "metadata": self.infobip_metadata_path,
            "download": self.infobip_download_path,
            "account_config": self.infobip_account_config_path,
            "preparation": self.infobip_preparation_path,
            "delete": self.infobip_delete_path,
        }

    @field_validator("infobip_base_url")
    @classmethod
    def _infobip_url(cls, value: str | None) -> str | None:
        return _check_http_url(value) if value else None

    @field_validator("s3_endpoint_url")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        return _check_http_url(value) if value else None

    @field_validator("infobip_api_key")
    @classmethod
    def _api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("identity_key")
    @classmethod
    def _identity_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("must be at least 16 characters (a long random secret)")
        return value

    @property
    def identity_secret(self) -> str:
        """The identity key; a one-line ConfigError when it is not set."""
        if self.identity_key is None:
            raise ConfigError(
                "RECVAULT_IDENTITY_KEY is not set: the audit log names a person only by a keyed "
                "hash; set a long random secret (e.g. `openssl rand -hex 32`) and keep it, "
                "like a password, outside the catalog"
            )
        return self.identity_key.get_secret_value()

    def require(self, *fields: str) -> None:
        """Raise a one-line ConfigError for the first of ``fields`` that is not set."""
        for name in fields:
            if getattr(self, name) is None:
                var = ENV_PREFIX + name.upper()
                raise ConfigError(f"{var} is not set: export {var}=... (or put it in .env)")

    @property
    def api_key(self) -> str:
        self.require("infobip_api_key")
        assert self.infobip_api_key is not None  # noqa: S101 - checked by require
        return self.infobip_api_key.get_secret_value()

    @property
    def base_url(self) -> str:
        self.require("infobip_base_url")
        assert self.infobip_base_url is not None  # noqa: S101 - checked by require
        return self.infobip_base_url

    @property
    def bucket(self) -> str:
        self.require("s3_bucket")
        assert self.s3_bucket is not None  # noqa: S101 - checked by require
        return self.s3_bucket

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if not scheme.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "must be a SQLAlchemy URL such as sqlite:///path/recvault.db or "
                f"postgresql+psycopg://user@host/db, got scheme {scheme or value!r}"
            )
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'recvault.db'}"

    @property
    def resolved_auditor_tokens(self) -> Path:
        return self.auditor_tokens or self.data_dir / "auditor-tokens.json"

    @property
    def resolved_work_dir(self) -> Path:
        return self.work_dir or self.data_dir / "work"


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first bad variable and what it needs."""
    first = exc.errors()[0]
    msg = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a check of several settings together names them itself
        return msg
    var = ENV_PREFIX + str(first["loc"][0]).upper()
    if first["type"] == "missing":
        return f"{var} is not set: export {var}=... (or put it in .env)"
    return f"{var} is invalid: {msg}"


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
