"""``recvault audit log`` (the trail, read as a person would) and ``recvault audit verify``
(the audit chain against itself, its anchors and the catalog)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from models.settings import load_settings

EXIT_PROBLEMS = 8

audit_app = typer.Typer(
    help="The audit trail: read it, and verify it against its anchors.", no_args_is_help=True
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


@audit_app.command("log")
def audit_log(
    recording_id: Annotated[
        str | None, typer.Option(help="One recording's events (end with * for a prefix).")
    ] = None,
    event: Annotated[
        str | None, typer.Option(help="Only this event type, e.g. failed, legal_hold_placed.")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only events by this actor.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From (ISO 8601, UTC if no zone), inclusive.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="To (ISO 8601, UTC if no zone), exclusive.")
    ] = None,
    after_id: Annotated[
        int, typer.Option("--after-id", min=0, help="Only events after this id (paging).")
    ] = 0,
    limit: Annotated[int, typer.Option(min=1, help="At most this many events.")] = 200,
    newest_first: Annotated[
        bool, typer.Option("--newest-first", help="The latest events first.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the events whole, with their chain hashes.")
    ] = False,
) -> None:
    """Read the audit trail: who did what to which recording, when and why."""
    from flows.audit.dossier import event_json
    from flows.audit.trail import event_summary
    from models.search import AuditQuery, IdMatch
    from recvault.cli.dates import check_window, parse_when
    from recvault.wiring import open_reader

    start, end = parse_when(since, option="--since"), parse_when(until, option="--until")
    check_window(start, end)
    query = AuditQuery(
        recording_id=None
        if recording_id is None
        else IdMatch.parse(recording_id, option="--recording-id"),
        event=event,
        actor=actor,
        since=start,
        until=end,
        after_id=after_id,
        limit=limit,
        newest_first=newest_first,
    )
    with open_reader(load_settings()) as catalog:
        events = catalog.audit_log(query)
    if as_json:
        sys.stdout.write(json.dumps([event_json(e) for e in events], indent=2) + "\n")
        return
    table = Table(title=f"{len(events)} audit event(s)")
    for column in ("id", "at (UTC)", "event", "recording", "actor", "what"):
        table.add_column(column, overflow="fold")
    for e in events:
        table.add_row(
            str(e.id),
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.event,
            e.recording_id or "",
            e.actor,
            event_summary(e),
        )
    out.print(table)
    if len(events) == limit:
        last = max(e.id or 0 for e in events)
        hint = "" if newest_first else f": --after-id {last} shows the next ones"
        out.print(f"(first {limit} shown{hint})", markup=False, highlight=False)
