"""``recvault catalog search`` and ``recvault catalog show``: the catalog as an auditor reads it.

Both only read (``open_reader`` never migrates). Search options turn into one
``models.search.RecordingQuery`` and go through ``CatalogReader.find``, which the auditor API
can call with the same value.
"""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from models.search import IdMatch, RecordingQuery, media_type
from models.settings import load_settings
from recvault.cli.dates import check_window, parse_when

if TYPE_CHECKING:
    from models.search import SearchResult

catalog_app = typer.Typer(help="Search the catalog and show one recording.", no_args_is_help=True)
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)

TABLE_PAGE = 100
STATUSES = ("ARCHIVED", "PENDING", "FAILED", "QUARANTINED", "SOURCE_DELETED", "EXPIRED")
CSV_COLUMNS = (
    "recording_id",
    "conversation_id",
    "call_id",
    "source",
    "media_type",
    "started_at",
    "duration_seconds",
    "status",
    "state",
    "direction",
    "participant_type",
    "participant_id",
    "participant_identity",
    "participant_name",
    "source_sha256",
    "source_size_bytes",
    "archived_at",
    "last_error",
    "original_key",
    "original_version_id",
    "original_sha256",
    "original_size",
)


def _id(value: str | None, option: str) -> IdMatch | None:
    return None if value is None else IdMatch.parse(value, option=option)


def _check_status(status: str | None) -> str | None:
    if status is None:
        return None
    if status.strip().upper() not in STATUSES:
        raise typer.BadParameter(
            f"{status!r} is not one of {', '.join(sorted(STATUSES))}", param_hint="--status"
        )
    return status.strip().upper()


ConversationOpt = Annotated[
    str | None, typer.Option(help="Conversation id (end with * for a prefix).")
]
CallOpt = Annotated[str | None, typer.Option(help="Call id (end with * for a prefix).")]
AgentOpt = Annotated[
    str | None,
    typer.Option(help="Agent id, identity, name or a word of it (whole conversations)."),
]
ParticipantOpt = Annotated[
    str | None,
    typer.Option(
        help="Any participant's id, identity (phone, SIP, e-mail) or name (whole conversations)."
    ),
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Start (ISO 8601, UTC if no zone), inclusive.")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="End (ISO 8601, UTC if no zone), exclusive.")
]
StatusOpt = Annotated[
    str | None,
    typer.Option(help="ARCHIVED, PENDING, FAILED, QUARANTINED, SOURCE_DELETED or EXPIRED."),
]
RecordingOpt = Annotated[str | None, typer.Option(help="Recording id (end with * for a prefix).")]
DirectionOpt = Annotated[str | None, typer.Option(help="INBOUND or OUTBOUND.")]
QueueOpt = Annotated[str | None, typer.Option(help="Transferred from or to this queue.")]
MediaOpt = Annotated[
    str | None, typer.Option("--media-type", help="audio or video (AUDIO_AND_VIDEO).")
]
SourceOpt = Annotated[str | None, typer.Option(help="conversations or calls.")]


def build_query(
    *,
    conversation_id: str | None = None,
    call_id: str | None = None,
    agent: str | None = None,
    participant: str | None = None,
    since: str | None = None,
    until: str | None = None,
    status: str | None = None,
    recording_id: str | None = None,
    direction: str | None = None,
    queue: str | None = None,
    media: str | None = None,
    source: str | None = None,
    sort: str = "started",
    desc: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> RecordingQuery:
    """The options of ``catalog search`` (and ``export``) as one query, checked."""
    start, end = parse_when(since, option="--since"), parse_when(until, option="--until")
    check_window(start, end)
    return RecordingQuery(
        recording_id=_id(recording_id, "--recording-id"),
        conversation_id=_id(conversation_id, "--conversation-id"),
        call_id=_id(call_id, "--call-id"),
        agent=agent,
        participant=participant,
        direction=direction,
        queue=queue,
        media_type=media_type(media) if media is not None else None,
        status=_check_status(status),
        source=source,
        since=start,
        until=end,
        sort=sort,  # type: ignore[arg-type]  # RecordingQuery checks it against SortKey
        descending=desc,
        limit=limit,
        offset=offset,
    )


@catalog_app.command("search")
def catalog_search(
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
    sort: Annotated[
        str, typer.Option(help="started, duration, recording, conversation or status.")
    ] = "started",
    desc: Annotated[bool, typer.Option("--desc", help="Newest (largest) first.")] = False,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help=f"At most this many rows (the table: {TABLE_PAGE} unless given)."),
    ] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many rows (paging).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
) -> None:
    """Search recordings (a table; a JSON array with --json; CSV with --csv)."""
    from recvault.cli.render import recording_json, recordings_table
    from recvault.wiring import open_reader

    if as_json and as_csv:
        raise typer.BadParameter("give --json or --csv, not both", param_hint="--csv")
    if limit is None and not (as_json or as_csv):
        limit = TABLE_PAGE  # a person reads a page; scripts get everything
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
        sort=sort,
        desc=desc,
        limit=limit,
        offset=offset,
    )
    with open_reader(load_settings()) as catalog:
        result = catalog.find(query)
        transcripts = {
            t.conversation_id: t
            for t in catalog.transcripts(r.conversation_id or "" for r, _ in result.rows)
        }
    _note_widened(result, query)
    elements = [
        recording_json(r, o, transcripts.get(r.conversation_id or "")) for r, o in result.rows
    ]
    if as_json:
        sys.stdout.write(json.dumps(elements, indent=2) + "\n")
    elif as_csv:
        _write_csv(elements)
    else:
        table = recordings_table(result.rows)
        if result.total > len(result.rows):
            first = query.offset + 1
            table.caption = (
                f"rows {first}-{query.offset + len(result.rows)} of {result.total}; "
                "--offset and --limit page through them"
            )
        out.print(table)


def _note_widened(result: SearchResult, query: RecordingQuery) -> None:
    for name in result.widened:
        given = query.id_filters[name].value
        err.print(
            f"note: no {name.replace('_', ' ')} is {given!r}; showing those that start with it",
            markup=False,
            highlight=False,
        )


def _write_csv(rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        original: dict[str, Any] = next((o for o in row["objects"] if o["kind"] == "original"), {})
        writer.writerow(
            {
                **row,
                "original_key": original.get("key"),
                "original_version_id": original.get("version_id"),
                "original_sha256": original.get("sha256"),
                "original_size": original.get("size"),
            }
        )


@catalog_app.command("show")
def catalog_show(
    recording_id: Annotated[str, typer.Argument(help="Recording id, or the start of one.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Everything about one recording: metadata, objects, history, holds, retention."""
    from flows.audit.dossier import recording_dossier
    from flows.services import utc_now
    from models.policy.rules import Policy
    from recvault.cli.show import print_dossier
    from recvault.wiring import open_reader

    settings = load_settings()
    policy = Policy.load(settings.policy_file)
    with open_reader(settings) as catalog:
        rid = catalog.resolve_recording_id(recording_id)
        dossier = recording_dossier(catalog, policy, rid, now=utc_now())
    if as_json:
        sys.stdout.write(json.dumps(dossier, indent=2, default=str) + "\n")
    else:
        print_dossier(out, dossier)
