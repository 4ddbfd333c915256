from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import ConfigError
from models.settings import Settings, load_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_need_nothing_and_derive_paths(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'recvault.db'}"
    assert settings.resolved_work_dir == tmp_path / "work"


def test_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECVAULT_INFOBIP_BASE_URL", "https://abc.api.infobip.com/")
    monkeypatch.setenv("RECVAULT_INFOBIP_API_KEY", "k" * 20)
    monkeypatch.setenv("RECVAULT_S3_BUCKET", "archive-bucket")
    monkeypatch.setenv("RECVAULT_CONCURRENCY", "7")
    settings = load_settings()
    assert settings.base_url == "https://abc.api.infobip.com"
    assert settings.api_key == "k" * 20
    assert settings.bucket == "archive-bucket"
    assert settings.concurrency == 7


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("RECVAULT_INFOBIP_BASE_URL", "ftp://x", "RECVAULT_INFOBIP_BASE_URL is invalid"),
        ("RECVAULT_CONCURRENCY", "many", "RECVAULT_CONCURRENCY is invalid"),
        ("RECVAULT_CONCURRENCY", "0", "RECVAULT_CONCURRENCY is invalid"),
        ("RECVAULT_DATABASE_URL", "postgress://x/y", "RECVAULT_DATABASE_URL is invalid"),
        ("RECVAULT_S3_CHECKSUM", "md5", "RECVAULT_S3_CHECKSUM is invalid"),
        ("RECVAULT_INFOBIP_API_KEY", "  ", "RECVAULT_INFOBIP_API_KEY is invalid"),
        # 0 claimed a not-ready recording again at once, endlessly, while a run had other work.
        ("RECVAULT_NOT_READY_RETRY_S", "0", "RECVAULT_NOT_READY_RETRY_S is invalid"),
    ],
)
def test_bad_values_give_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_require_names_the_missing_variable() -> None:
    settings = load_settings()
    with pytest.raises(ConfigError, match="RECVAULT_INFOBIP_API_KEY is not set"):
        settings.require("infobip_api_key")


def test_api_key_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECVAULT_INFOBIP_API_KEY", "super-secret-key-123")
    settings = load_settings()
    assert "super-secret-key-123" not in repr(settings)
    assert "super-secret-key-123" not in str(settings.model_dump())


def test_every_setting_is_documented_in_readme() -> None:
    readme = README.read_text()
    missing = [
        f"RECVAULT_{name.upper()}"
        for name in Settings.model_fields
        if f"RECVAULT_{name.upper()}" not in readme
    ]
    assert not missing, f"README lacks {missing}"


def test_source_profile_defaults_are_the_documented_behaviour() -> None:
    settings = load_settings()
    assert settings.video_readiness == "account" and settings.source_deletion == "off"
    assert settings.infobip_preparation_path is None and settings.infobip_delete_path is None
    assert settings.source_profile["download"] == (
        "/ccaas/voice/2/recording/download/{recording_id}"
    )


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"RECVAULT_VIDEO_READINESS": "endpoint"}, "needs RECVAULT_INFOBIP_PREPARATION_PATH"),
        ({"RECVAULT_SOURCE_DELETION": "ccaas"}, "needs RECVAULT_INFOBIP_DELETE_PATH"),
        ({"RECVAULT_SOURCE_DELETION": "always"}, "RECVAULT_SOURCE_DELETION is invalid"),
        ({"RECVAULT_INFOBIP_DELETE_PATH": "/x/{id}"}, "RECVAULT_INFOBIP_DELETE_PATH is invalid"),
        (
            {"RECVAULT_INFOBIP_METADATA_PATH": "https://x/y"},
            "RECVAULT_INFOBIP_METADATA_PATH is invalid",
        ),
    ],
)
def test_an_incomplete_profile_is_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], fragment: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_a_configured_hypothesis_profile_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECVAULT_VIDEO_READINESS", "endpoint")
    monkeypatch.setenv(
        "RECVAULT_INFOBIP_PREPARATION_PATH",
        "/ccaas/voice/2/recording/{recording_id}/download-preparation",
    )
    monkeypatch.setenv("RECVAULT_SOURCE_DELETION", "calls-files")
    settings = load_settings()
    assert settings.video_readiness == "endpoint" and settings.source_deletion == "calls-files"
