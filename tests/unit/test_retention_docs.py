"""The README's retention section: its policy examples load, and match the shipped examples."""

from __future__ import annotations

import re
from pathlib import Path

from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the catalog's tables)
from models.policy.rules import Policy

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Retention policy")
    return readme[start : readme.index("\n## ", start + 1)]


def test_readme_policy_examples_are_valid_and_match_the_example_files() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", _section(), flags=re.S)
    assert len(blocks) == 2
    for block, example in zip(
        blocks, ("policy-mifid2.toml", "policy-gdpr-support.toml"), strict=True
    ):
        shown = Policy.loads(block, source="README.md")
        shipped = Policy.load(ROOT / "examples" / example)
        # Descriptions and comments may differ; everything that decides must not.
        assert [r.model_dump(exclude={"description"}) for r in shown.rules] == [
            r.model_dump(exclude={"description"}) for r in shipped.rules
        ], example


def test_readme_documents_every_retention_command() -> None:
    readme = (ROOT / "README.md").read_text()
    for command in (
        "recvault retention apply [--dry-run] [--json]",
        "recvault retention explain",
        "recvault hold place",
        "recvault hold release",
        "recvault hold list",
        "recvault erase --participant-identity",
    ):
        assert command in readme, command
    assert "models/policy/default_policy.toml" in _section()


def test_the_documented_app_role_may_write_every_table_but_the_audit_log() -> None:
    """docs/trust.md's grants name every table of the catalog: a table added without its
    grant fails recvault under the documented role (as recording_totals once did)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "trust.md").read_text()
    (granted,) = re.findall(
        r"GRANT SELECT, INSERT, UPDATE, DELETE ON\s+(.*?)\s+TO recvault_app", doc, flags=re.S
    )
    names = {name.strip() for name in granted.split(",")}
    assert names == set(SQLModel.metadata.tables) - {"audit_events"}
