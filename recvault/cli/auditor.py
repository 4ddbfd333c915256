"""``recvault serve-api`` and ``recvault auditor token ...``: the auditor API and its tokens.

A new token is printed once, on standard output, and only its SHA-256 is stored; nothing here
logs a token.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from models.errors import ConfigError
from models.settings import load_settings

auditor_app = typer.Typer(help="The auditor API's access tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Create, list and revoke auditor API tokens.", no_args_is_help=True)
auditor_app.add_typer(token_app, name="token")

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)

_UNITS = {"m": 60, "h": 3600, "d": 86400}
MAX_TTL = timedelta(days=366)


def parse_ttl(value: str) -> timedelta:
    """``30m``, ``8h``, ``90d``: how long a token is valid."""
    text = value.strip().lower()
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) == 0:
        raise ConfigError(f"--ttl: {value!r} is not a duration; use e.g. 30m, 8h or 90d")
    ttl = timedelta(seconds=int(number) * _UNITS[unit])
    if ttl > MAX_TTL:
        raise ConfigError(f"--ttl: {value!r} is longer than a year; use at most 366d")
    return ttl


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option("--role", help="auditor or officer (compliance officer).")],
    name: Annotated[
        str, typer.Option("--name", help="Who gets it; the audit trail names them so.")
    ],
    ttl: Annotated[str, typer.Option("--ttl", help="Valid for: 30m, 8h, 90d.")] = "8h",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Create a token: printed once, only its hash is kept."""
    from auditor.tokens import TokenBook

    lifetime = parse_ttl(ttl)
    settings = load_settings()
    book = TokenBook(settings.resolved_auditor_tokens)
    token, entry = book.create(role=role, name=name, ttl=lifetime, now=datetime.now(UTC))
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "token": token,
                    "name": entry.name,
                    "role": entry.role,
                    "expires_at": entry.expires_at.isoformat(),
                }
            )
            + "\n"
        )
        return
    sys.stdout.write(token + "\n")
    err.print(
        f"token for {entry.name} ({entry.role}) valid until {entry.expires_at:%Y-%m-%d %H:%M} "
        f"UTC; stored as a hash in {book.path}: copy it now, it is not shown again",
        markup=False,
        highlight=False,
    )


@token_app.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List tokens by name, role and expiry (never the tokens)."""
    from auditor.tokens import TokenBook

    now = datetime.now(UTC)
    entries = TokenBook(load_settings().resolved_auditor_tokens).entries()
    rows = [
        {
            "name": e.name,
            "role": e.role,
            "created_at": e.created_at.isoformat(),
            "expires_at": e.expires_at.isoformat(),
            "expired": e.expired(now),
        }
        for e in entries
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title=f"{len(rows)} auditor token(s)")
    for column in ("name", "role", "created", "expires", "expired"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.name,
            e.role,
            f"{e.created_at:%Y-%m-%d %H:%M}",
            f"{e.expires_at:%Y-%m-%d %H:%M}",
            "yes" if e.expired(now) else "",
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Option("--name", help="Revoke every token of this name.")],
) -> None:
    """Revoke every token of a name (takes effect on the next request)."""
    from auditor.tokens import TokenBook

    removed = TokenBook(load_settings().resolved_auditor_tokens).revoke(name)
    if not removed:
        raise ConfigError(f"no token named {name!r}: see recvault auditor token list")
    out.print(f"revoked {removed} token(s) of {name}", markup=False, highlight=False)


def serve_api(*, host: str, port: int) -> None:
    """Serve the auditor API and page until interrupted."""
    import uvicorn

    from recvault.wiring import build_auditor_app

    settings = load_settings()
    app = build_auditor_app(settings)
    err.print(
        f"recvault auditor API on http://{host}:{port}/ (OpenAPI: /api/openapi.json); "
        f"tokens from {settings.resolved_auditor_tokens}",
        markup=False,
        highlight=False,
    )
    # No access log: uvicorn's would print query strings, which may name a person; the app
    # logs method, path and status of every request itself.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
