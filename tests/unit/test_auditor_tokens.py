"""The auditor API's token file: only hashes stored, roles and expiry enforced, changes seen
without a restart, a damaged file reported in one line."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.tokens import TokenBook, TokenRejected
from models.errors import ConfigError

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_a_created_token_is_stored_only_as_its_hash(tmp_path: Path) -> None:
    book = TokenBook(tmp_path / "t" / "tokens.json")
    token, entry = book.create(role="officer", name="bob", ttl=timedelta(hours=8), now=NOW)
    assert token.startswith("rva_") and len(token) > 40
    text = book.path.read_text()
    assert token not in text
    assert json.loads(text)["tokens"][0]["sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert book.path.stat().st_mode & 0o777 == 0o600
    who = book.authenticate(token, now=NOW + timedelta(hours=1))
    assert (who.name, who.role, who.is_officer, who.actor) == (
        "bob",
        "officer",
        True,
        "auditor-api:bob",
    )
    assert who.expires_at == entry.expires_at == NOW + timedelta(hours=8)


def test_unknown_missing_and_expired_tokens_are_rejected(tmp_path: Path) -> None:
    book = TokenBook(tmp_path / "tokens.json")
    with pytest.raises(TokenRejected, match="unknown token"):
        book.authenticate("rva_x", now=NOW)  # no file yet: nobody can sign in
    token, _ = book.create(role="auditor", name="alice", ttl=timedelta(minutes=30), now=NOW)
    with pytest.raises(TokenRejected, match="sign in"):
        book.authenticate(None, now=NOW)
    with pytest.raises(TokenRejected, match="unknown token"):
        book.authenticate(token + "x", now=NOW)
    assert book.authenticate(token, now=NOW + timedelta(minutes=29)).role == "auditor"
    with pytest.raises(TokenRejected, match="token expired at 2026-03-01T09:30:00"):
        book.authenticate(token, now=NOW + timedelta(minutes=30))


def test_tokens_created_or_revoked_elsewhere_take_effect_at_once(tmp_path: Path) -> None:
    serving = TokenBook(tmp_path / "tokens.json")  # the running API's copy
    admin = TokenBook(tmp_path / "tokens.json")  # the CLI's
    assert serving.entries() == []
    token, _ = admin.create(role="auditor", name="carol", ttl=timedelta(days=1), now=NOW)
    assert serving.authenticate(token, now=NOW).name == "carol"
    assert admin.revoke("carol") == 1
    with pytest.raises(TokenRejected, match="unknown token"):
        serving.authenticate(token, now=NOW)


@pytest.mark.parametrize(
    ("role", "name", "ttl", "message"),
    [
        ("admin", "dave", timedelta(hours=1), "--role must be one of auditor, officer"),
        ("auditor", "two words", timedelta(hours=1), "--name must be 1-64 characters"),
        ("auditor", "dave", timedelta(0), "--ttl must be positive"),
    ],
)
def test_bad_token_requests_are_one_line_config_errors(
    tmp_path: Path, role: str, name: str, ttl: timedelta, message: str
) -> None:
    book = TokenBook(tmp_path / "tokens.json")
    with pytest.raises(ConfigError, match=message):
        book.create(role=role, name=name, ttl=ttl, now=NOW)
    assert not book.path.exists()


def test_a_damaged_token_file_is_named_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text('{"tokens": [{"sha256": "ab", "role": "root"}]}')
    with pytest.raises(
        ConfigError, match=r"is not a recvault token file .*recvault auditor token create"
    ):
        TokenBook(path).authenticate("rva_x", now=NOW)
