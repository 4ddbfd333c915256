"""Bearer tokens for the auditor API: a file of token hashes, roles, names and expiry dates.

Only sha256(token) is stored, so the file leaks no usable credential; a token is shown once,
when it is created. Lookups hash the presented token and compare it with every stored hash in
constant time (``hmac.compare_digest``), without stopping at the first match, so response time
says nothing about how close a guess was.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from models.errors import ConfigError, RecvaultError

Role = Literal["auditor", "officer"]
ROLES: tuple[Role, ...] = ("auditor", "officer")
TOKEN_PREFIX = "rva_"  # noqa: S105 - a prefix that marks a token, not a token
FILE_VERSION = 1


class TokenRejected(RecvaultError):
    """No token, an unknown one or an expired one (the API answers 401)."""

    exit_code = 3


class RoleRequired(RecvaultError):
    """A valid token whose role may not do this (the API answers 403)."""

    exit_code = 3


@dataclass(frozen=True)
class TokenEntry:
    sha256: str
    role: Role
    name: str
    created_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def as_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "role": self.role,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TokenEntry:
        role = value["role"]
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        return cls(
            sha256=str(value["sha256"]),
            role=cast(Role, role),
            name=str(value["name"]),
            created_at=datetime.fromisoformat(value["created_at"]).astimezone(UTC),
            expires_at=datetime.fromisoformat(value["expires_at"]).astimezone(UTC),
        )


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name and role (never the token itself)."""

    name: str
    role: Role
    expires_at: datetime

    @property
    def actor(self) -> str:
        """How the audit chain names this caller (the column holds 128 characters)."""
        return f"auditor-api:{self.name}"[:128]

    @property
    def is_officer(self) -> bool:
        return self.role == "officer"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise ConfigError(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


class TokenBook:
    """The token file. Re-read when it changes on disk, so tokens created or revoked while the
    API runs take effect without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: list[TokenEntry] = []

    def entries(self) -> list[TokenEntry]:
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._entries = None, []
                return []
            except OSError as exc:
                raise ConfigError(
                    f"RECVAULT_AUDITOR_TOKENS: cannot read {self.path}: {exc}"
                ) from exc
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._entries = _read(self.path)
                self._stamp = stamp
            return list(self._entries)

    def authenticate(self, token: str | None, *, now: datetime) -> Principal:
        if not token:
            raise TokenRejected("sign in: send Authorization: Bearer <token>")
        wanted = hash_token(token.strip())
        found: TokenEntry | None = None
        for entry in self.entries():
            # Every entry is compared, whatever matched before: no early exit to time.
            if hmac.compare_digest(entry.sha256, wanted):
                found = entry
        if found is None:
            raise TokenRejected("unknown token: ask an administrator for a new one")
        if found.expired(now):
            raise TokenRejected(
                f"token expired at {found.expires_at.isoformat()}: ask for a new one"
            )
        return Principal(name=found.name, role=found.role, expires_at=found.expires_at)

    def create(
        self, *, role: str, name: str, ttl: timedelta, now: datetime
    ) -> tuple[str, TokenEntry]:
        """A new token (returned once, never stored) and its entry (stored)."""
        checked = check_role(role)
        name = name.strip()
        if not name or len(name) > 64 or any(c.isspace() for c in name):
            raise ConfigError("--name must be 1-64 characters without spaces (e.g. alice.smith)")
        if ttl <= timedelta(0):
            raise ConfigError("--ttl must be positive (e.g. 8h, 1d)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        entry = TokenEntry(hash_token(token), checked, name, now, now + ttl)
        with self._lock:
            entries = _read(self.path) if self.path.exists() else []
            _write(self.path, [*entries, entry])
            self._stamp = None
        return token, entry

    def revoke(self, name: str) -> int:
        """Removes every token of ``name``; returns how many."""
        with self._lock:
            entries = _read(self.path) if self.path.exists() else []
            kept = [e for e in entries if e.name != name]
            if len(kept) != len(entries):
                _write(self.path, kept)
                self._stamp = None
        return len(entries) - len(kept)


def _read(path: Path) -> list[TokenEntry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [TokenEntry.from_json(item) for item in data["tokens"]]
    except OSError as exc:
        raise ConfigError(f"RECVAULT_AUDITOR_TOKENS: cannot read {path}: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"RECVAULT_AUDITOR_TOKENS: {path} is not a recvault token file ({exc}); "
            "create tokens with recvault auditor token create"
        ) from exc


def _write(path: Path, entries: list[TokenEntry]) -> None:
    """Atomically, readable by the owner only (hashes are not secrets, but the names are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"version": FILE_VERSION, "tokens": [e.as_json() for e in entries]}, indent=2)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tokens-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
