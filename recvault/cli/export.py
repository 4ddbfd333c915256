"""``recvault export``: the recordings a search finds, as one zip of verifiable evidence."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from models.settings import load_settings
from recvault.cli.catalog import (
    AgentOpt,
    CallOpt,
    ConversationOpt,
    DirectionOpt,
    MediaOpt,
    ParticipantOpt,
    QueueOpt,
    RecordingOpt,
    SinceOpt,
    SourceOpt,
    StatusOpt,
    UntilOpt,
    build_query,
)

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


@contextmanager
def _progress(
    *, enabled: bool
) -> Iterator[tuple[Callable[[int], None] | None, Callable[[int], None] | None]]:
    """A bytes bar on a terminal: a large export takes a while and should say how far it is."""
    if not enabled:
        yield None, None
        return
    with Progress(
        TextColumn("exporting"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task_id = bar.add_task("export", total=None)
        yield (
            lambda total: bar.update(task_id, total=total),
            lambda done: bar.advance(task_id, done),
        )


def export_command(
    out_path: Annotated[
        Path, typer.Option("--out", help="The zip to write, e.g. bundle.zip.", dir_okay=False)
    ],
    conversation_id: ConversationOpt = None,
    call_id: CallOpt = None,
    agent: AgentOpt = None,
    participant: ParticipantOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    status: StatusOpt = None,
    recording_id: RecordingOpt = None,
    direction: DirectionOpt = None,
    queue: QueueOpt = None,
    media: MediaOpt = None,
    source: SourceOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace --out if it exists.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Export recordings, their catalog records and audit events as a verifiable zip."""
    query = build_query(
        conversation_id=conversation_id,
        call_id=call_id,
        agent=agent,
        participant=participant,
        since=since,
        until=until,
        status=status,
        recording_id=recording_id,
        direction=direction,
        queue=queue,
        media=media,
        source=source,
    )
    if not query.describe():
        raise typer.BadParameter(
            "name what to export (e.g. --conversation-id X, or --since and --until)",
            param_hint="filters",
        )
    settings = load_settings()
    settings.require("s3_bucket")
    from flows.export.bundle import export_evidence
    from recvault.wiring import ServicesFactory

    with (
        ServicesFactory(settings, archive=False, sources=False).open() as services,
        _progress(enabled=not as_json and err.is_terminal) as (on_start, on_progress),
    ):
        report = export_evidence(
            services,
            query,
            out_path,
            overwrite=overwrite,
            on_start=on_start,
            on_progress=on_progress,
        )
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
        return
    out.print(
        f"exported {report.recordings} recording(s), {report.files} file(s), "
        f"{report.bytes:,} bytes and {report.events} audit event(s) to {report.path}",
        markup=False,
        highlight=False,
    )
    out.print(
        f"manifest SHA-256 {report.manifest_sha256}; audit event id {report.event_id}; "
        f"covering anchor {report.anchor_key or 'none yet'}",
        markup=False,
        highlight=False,
    )
    for key in report.skipped:
        out.print(f"note: {key} was deleted (expired): not in the bundle", markup=False)
    out.print("verify: unzip it and run sha256sum -c SHA256SUMS (see README.txt inside)")
