"""``recvault auditor token`` and ``recvault serve-api`` as users run them: the real entry point
in a child process, one-line errors with exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.archive import RunEnv

pytestmark = pytest.mark.integration


def test_token_create_prints_the_token_once_and_list_never_shows_it(tmp_path: Path) -> None:
    env = RunEnv({"RECVAULT_AUDITOR_TOKENS": str(tmp_path / "tokens.json")})
    created = env.cli(
        "auditor", "token", "create", "--role", "officer", "--name", "bob", "--ttl", "2h"
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("rva_") and "\n" not in token
    assert "not shown again" in created.stderr and token not in created.stderr
    assert token not in (tmp_path / "tokens.json").read_text()

    listed = env.cli("auditor", "token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["name"], row["role"], row["expired"]) == ("bob", "officer", False)
    assert token not in listed.stdout

    revoked = env.cli("auditor", "token", "revoke", "--name", "bob")
    assert revoked.returncode == 0 and "revoked 1 token(s) of bob" in revoked.stdout
    again = env.cli("auditor", "token", "revoke", "--name", "bob")
    assert again.returncode == 2 and again.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "env", "pattern"),
    [
        (
            ["auditor", "token", "create", "--role", "root", "--name", "x"],
            {},
            "--role must be one of",
        ),
        (
            ["auditor", "token", "create", "--role", "auditor", "--name", "x", "--ttl", "soon"],
            {},
            "--ttl: 'soon' is not a duration",
        ),
        (["serve-api"], {}, "RECVAULT_S3_BUCKET is not set"),
        (
            ["serve-api"],
            {"RECVAULT_AUDITOR_URL_TTL_S": "5"},
            "RECVAULT_AUDITOR_URL_TTL_S is invalid",
        ),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(
    tmp_path: Path, args: list[str], env: dict[str, str], pattern: str
) -> None:
    result = RunEnv({"RECVAULT_DATA_DIR": str(tmp_path), **env}).cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and pattern in result.stderr
    assert "Traceback" not in result.stderr
