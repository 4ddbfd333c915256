"""``recvault audit verify``: the audit chain against itself, its anchors and the catalog."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console

from models.settings import load_settings

EXIT_PROBLEMS = 8

audit_app = typer.Typer(
    help="The audit trail: verify it against its anchors.", no_args_is_help=True
)
out = Console(width=None if sys.stdout.isatty() else 160)


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check the audit chain, every anchor, the certificates, the holds and S3 legal holds."""
    from flows.audit.check import verify_audit
    from recvault.wiring import evidence_store, open_reader
    from storage.s3.store import ObjectStore

    settings = load_settings()
    settings.require("s3_bucket")
    store = ObjectStore.from_settings(settings)
    with open_reader(settings) as catalog:
        key = settings.identity_key.get_secret_value() if settings.identity_key else None
        report = verify_audit(
            catalog, anchors=evidence_store(settings) or store, store=store, identity_key=key
        )
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        head = f"head id={report.head[0]} ({report.head[1][:16]}…)" if report.head else "no events"
        lines = [
            f"audit chain: {report.events} events, {head}; {report.anchors} anchor(s), "
            f"{report.anchors_agreeing} agreeing, last anchored id={report.last_anchor}",
            f"checked: {report.certificates_checked} deleted recording(s) for certificates, "
            f"{report.holds_checked} legal hold(s) against their events, "
            f"{report.s3_legal_holds_checked} S3 legal hold(s)",
            *(f"PROBLEM {p.line()}" for p in report.problems),
            *(f"note: {note}" for note in report.notes),
            f"audit verify: {len(report.problems)} problem(s)"
            if report.problems
            else "audit verify: no problems",
        ]
        for line in lines:
            out.print(line, markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)
