"""``recvault report completeness``: the reconciliation's figures, printable for a regulator."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from models.settings import load_settings
from recvault.cli.dates import check_window, parse_when

EXIT_INCOMPLETE = 8

report_app = typer.Typer(help="Reports for auditors and regulators.", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 160)


@report_app.command("completeness")
def completeness(
    since: Annotated[
        str | None, typer.Option("--since", help="Start (ISO 8601); default 7 days back.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="End (ISO 8601, UTC if no zone), exclusive.")
    ] = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="Also write it to this file: .html (printable) or .md."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Recordings Infobip listed vs archived vs missing vs pending, per day, for a period."""
    start, end = parse_when(since, option="--since"), parse_when(until, option="--until")
    check_window(start, end)
    if out_path is not None and out_path.suffix.lower() not in (".html", ".htm", ".md"):
        raise typer.BadParameter("name a .html or .md file", param_hint="--out")
    settings = load_settings()
    settings.require("infobip_base_url", "infobip_api_key", "s3_bucket")
    from flows.reconcile.completeness import CompletenessReport
    from recvault.cli.runner import run_reconcile_cli
    from recvault.wiring import ServicesFactory

    factory = ServicesFactory(settings, archive=False)
    reconciled = run_reconcile_cli(factory, start, end)
    with factory.open() as services:
        head = services.catalog.audit_chain_head()
        report = CompletenessReport(
            reconcile=reconciled,
            generated_at=services.clock(),
            generated_by=services.actor,
            catalog=services.catalog.url_for_display,
            bucket=services.store.bucket,
            chain_head=None if head is None else (head.sequence, head.hash),
        )
    if out_path is not None:
        text = report.to_markdown() if out_path.suffix.lower() == ".md" else report.to_html()
        out_path.write_text(text, encoding="utf-8")
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        out.print(report.to_markdown(), markup=False, highlight=False)
    if not report.complete:
        raise typer.Exit(EXIT_INCOMPLETE)
