"""The ``recvault`` command line. Every error a user can cause ends as one line and an exit code.

Exit codes (also in the README): 0 done; 1 unexpected; 2 usage or configuration; 3 Infobip
refused the credentials; 4 Infobip unreachable or failing; 5 storage (S3, work dir);
6 catalog; 7 policy; 8 verification found problems; 9 deletions incomplete; 10 nothing matched
what was named (erase, hold place); 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

# Before Prefect is imported anywhere: no telemetry from a compliance tool's machines.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import typer
from rich.console import Console
from typer.exceptions import TyperException

from models.errors import RecvaultError
from models.settings import Settings, load_settings
from recvault.cli.audit import audit_app
from recvault.cli.auditor import auditor_app
from recvault.cli.catalog import catalog_app
from recvault.cli.dates import check_window, parse_chunk, parse_when
from recvault.cli.export import export_command
from recvault.cli.report import report_app
from recvault.cli.retention import erase_command, hold_app, retention_app

EXIT_VERIFY_PROBLEMS = 8

app = typer.Typer(
    name="recvault",
    help="Archive Infobip call recordings into S3 with a catalog auditors can trust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
simulator_app = typer.Typer(help="The local Infobip simulator.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(simulator_app, name="simulator")
db_app = typer.Typer(help="The catalog database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# Piped output (files, CI logs) gets room for the whole table instead of rich's 80 columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, however long

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Start (ISO 8601, UTC if no zone), inclusive.")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="End (ISO 8601, UTC if no zone), exclusive.")
]


def _settings() -> Settings:
    return load_settings()


@app.command()
def archive(since: SinceOpt = None, until: UntilOpt = None, as_json: JsonFlag = False) -> None:
    """Run the archive flow once: list new recordings and archive them."""
    start, end = parse_when(since, option="--since"), parse_when(until, option="--until")
    check_window(start, end)
    settings = _settings()
    settings.require("infobip_base_url", "infobip_api_key", "s3_bucket")
    # Imported only now: the flows take seconds to import, bad input should not wait for them.
    from recvault.cli.runner import run_archive_cli
    from recvault.wiring import ServicesFactory

    summary = run_archive_cli(
        ServicesFactory(settings), start, end, progress=not as_json and err.is_terminal
    )
    if as_json:
        out.print_json(json.dumps(summary.as_dict()))
    else:
        from recvault.cli.render import print_summary

        print_summary(out, summary)


@app.command()
def backfill(
    since: Annotated[str, typer.Option("--since", help="Start (ISO 8601, UTC if no zone).")],
    until: Annotated[str, typer.Option("--until", help="End (ISO 8601), exclusive.")],
    chunk: Annotated[
        str, typer.Option("--chunk", help="Chunk length: 1d, 6h, 30m (default 1d).")
    ] = "1d",
    as_json: JsonFlag = False,
) -> None:
    """Archive a past period chunk by chunk; run it again to resume where it stopped."""
    start, end = parse_when(since, option="--since"), parse_when(until, option="--until")
    assert start is not None and end is not None  # noqa: S101 - required options
    check_window(start, end)
    step = parse_chunk(chunk)
    settings = _settings()
    settings.require("infobip_base_url", "infobip_api_key", "s3_bucket")
    from recvault.cli.runner import run_backfill_cli
    from recvault.wiring import ServicesFactory

    report = run_backfill_cli(
        ServicesFactory(settings),
        start,
        end,
        chunk=step,
        progress=not as_json and err.is_terminal,
    )
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
        return
    from recvault.cli.render import print_summary

    out.print(
        f"backfill #{report.backfill_id}: {report.chunks_done}/{report.chunks_total} chunks, "
        f"{report.listed} recordings listed",
        markup=False,
    )
    print_summary(out, report.summary)


@app.command()
def reconcile(
    since: Annotated[
        str | None, typer.Option("--since", help="Start (ISO 8601); default 7 days back.")
    ] = None,
    until: UntilOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Compare what Infobip lists, the catalog holds and the bucket holds, per day."""
    start, end = parse_when(since, option="--since"), parse_when(until, option="--until")
    check_window(start, end)
    settings = _settings()
    settings.require("infobip_base_url", "infobip_api_key", "s3_bucket")
    from recvault.cli.runner import run_reconcile_cli
    from recvault.wiring import ServicesFactory

    report = run_reconcile_cli(ServicesFactory(settings, archive=False), start, end)
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        out.print(report.to_markdown(), markup=False, highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_VERIFY_PROBLEMS)


@app.command()
def verify(
    as_json: JsonFlag = False,
    deep: Annotated[
        bool, typer.Option("--deep", help="Also check the audit chain and look for orphans.")
    ] = False,
) -> None:
    """Re-read every archived object and compare size and SHA-256 with the catalog."""
    from recvault.cli.verify import run_verify

    settings = _settings()
    settings.require("s3_bucket")
    report = run_verify(settings, progress=not as_json and err.is_terminal, deep=deep)
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        from recvault.cli.render import print_verify_report

        print_verify_report(out, report)
        for note in report.unadopted:
            out.print(f"note: {note.key}: {note.problem}", markup=False, highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_VERIFY_PROBLEMS)


@app.command()
def retry(
    recording_id: Annotated[
        list[str] | None,
        typer.Option("--recording-id", help="A FAILED or QUARANTINED recording (repeatable)."),
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Every recording in FAILED or QUARANTINED.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-queue FAILED or QUARANTINED recordings: the next archive run starts them afresh."""
    if bool(recording_id) == (status is not None):
        raise typer.BadParameter(
            "give --recording-id (one or more) or --status FAILED|QUARANTINED", param_hint="scope"
        )
    if status is not None and status.strip().upper() not in ("FAILED", "QUARANTINED"):
        raise typer.BadParameter(
            f"{status!r}: only FAILED or QUARANTINED recordings can be retried",
            param_hint="--status",
        )
    from flows.services import default_actor, utc_now
    from recvault.wiring import open_writer

    with open_writer(_settings()) as catalog:
        requeued = catalog.requeue(
            recording_ids=recording_id or [], status=status, actor=default_actor(), at=utc_now()
        )
    if as_json:
        rows = [{"recording_id": rid, "from_state": was} for rid, was in requeued]
        sys.stdout.write(json.dumps({"requeued": rows, "count": len(rows)}, indent=2) + "\n")
        return
    if not requeued:
        out.print(f"nothing to retry: no {status.strip().upper() if status else ''} recordings")
        return
    out.print(
        f"re-queued {len(requeued)} recording(s) for the next archive run: "
        + ", ".join(f"{rid} (was {was})" for rid, was in requeued),
        markup=False,
        highlight=False,
    )


@app.command()
def doctor(as_json: JsonFlag = False) -> None:
    """Check the bucket, Infobip, the catalog and ffmpeg, on one screen."""
    from recvault.cli.doctor import run_doctor

    settings = _settings()
    ok = run_doctor(settings, out, as_json=as_json)
    if not ok:
        raise typer.Exit(5)


@app.command()
def demo(
    count: Annotated[int, typer.Option(min=1, max=5000, help="Recordings to simulate.")] = 40,
    keep: Annotated[bool, typer.Option(help="Keep the demo's data folder.")] = False,
) -> None:
    """Archive a simulated Infobip account into a local S3, then show the catalog."""
    from recvault.cli.demo import run_demo

    run_demo(out, count=count, keep=keep)


@simulator_app.command("serve")
def simulator_serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8099,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    scenario: Annotated[
        str, typer.Option(help="Preset (demo, clean, faulty) or a scenario JSON file.")
    ] = "demo",
    count: Annotated[int | None, typer.Option(min=1, help="Override the recording count.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the seed.")] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Only the routes Infobip publishes; videos through the account switch (on).",
        ),
    ] = False,
) -> None:
    """Serve the Infobip simulator over HTTP until interrupted."""
    # The simulator is imported by recvault.cli.demo only, after checking the demo extra.
    from recvault.cli.demo import serve_simulator

    serve_simulator(scenario, host=host, port=port, count=count, seed=seed, strict=strict)


@app.command()
def serve(
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many runs at once.")
    ] = None,
) -> None:
    """Serve the archive, backfill and retention deployments from this process."""
    from recvault.cli.serve import serve_all

    serve_all(limit=limit)


@app.command("serve-api")
def serve_api(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8300,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the read-only auditor API and web page (search, play, export; holds for officers)."""
    from recvault.cli.auditor import serve_api as run_api

    run_api(host=host, port=port)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the catalog or migrate it to this recvault's schema."""
    from storage.catalog.store import Catalog

    settings = _settings()
    with Catalog.open(settings.resolved_database_url) as catalog:
        out.print(f"catalog {catalog.url_for_display} is up to date", markup=False)


app.add_typer(retention_app, name="retention")
app.add_typer(audit_app, name="audit")
app.add_typer(hold_app, name="hold")
app.add_typer(auditor_app, name="auditor")
app.command("erase")(erase_command)
app.command("export")(export_command)
app.add_typer(report_app, name="report")


def main(argv: list[str] | None = None) -> None:
    code = _main(argv)
    sys.exit(code)


def _main(argv: list[str] | None) -> int:
    try:
        result: Any = app(args=argv, standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err.print("recvault: interrupted")
        return 130
    except TyperException as exc:  # usage errors: unknown flag, bad value, missing argument
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "recvault"
        err.print(f"recvault: error: {exc.format_message()} (see {where} --help)", markup=False)
        return exc.exit_code
    except RecvaultError as exc:
        err.print(f"recvault: error: {exc}", markup=False, highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("recvault: interrupted")
        return 130
    except Exception as exc:
        if os.environ.get("RECVAULT_DEBUG"):
            raise
        err.print(
            f"recvault: unexpected error: {type(exc).__name__}: {str(exc)[:300]} "
            "(set RECVAULT_DEBUG=1 to see the traceback)",
            markup=False,
            highlight=False,
        )
        return 1
    return result if isinstance(result, int) else 0
