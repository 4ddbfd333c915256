"""``recvault retention``, ``recvault hold`` and ``recvault erase``: the retention commands.

Errors reach ``recvault.cli.app._main`` as ``RecvaultError`` and end as one line and an exit code.
A run that could not carry out every planned deletion exits ``EXIT_INCOMPLETE``; refusals
(holds, statutory retention) are outcomes the policy asks for, not errors.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from models.settings import Settings, load_settings

if TYPE_CHECKING:
    from flows.retention.steps import ItemResult, PlanItem
    from flows.retention.transcripts import TranscriptResult
    from recvault.wiring import ServicesFactory

EXIT_INCOMPLETE = 9
EXIT_NOTHING_FOUND = 10

retention_app = typer.Typer(help="Apply and explain the retention policy.", no_args_is_help=True)
hold_app = typer.Typer(help="Legal holds: place, release, list.", no_args_is_help=True)

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DryRunFlag = Annotated[bool, typer.Option("--dry-run", help="Only print the plan; change nothing.")]


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _factory(settings: Settings, *, source: bool) -> ServicesFactory:
    from recvault.wiring import ServicesFactory

    return ServicesFactory(settings, archive=False, sources=source)


def has_source(settings: Settings) -> bool:
    return settings.infobip_base_url is not None and settings.infobip_api_key is not None


def _short(value: str) -> str:
    return value if len(value) <= 13 else value[:12] + "…"


def _plan_table(title: str, items: list[PlanItem], results: list[ItemResult]) -> Table:
    outcome = {(r.recording_id, r.action): r for r in results}
    table = Table(title=title)
    for column in ("recording", "action", "decision", "reason", "outcome"):
        table.add_column(column, overflow="fold")
    for item in items:
        result = outcome.get((item.recording_id, item.action))
        done = "" if result is None else result.outcome
        if result is not None and result.outcome != "done" and result.detail != item.reason:
            done += f": {result.detail}"
        table.add_row(_short(item.recording_id), item.action, item.decision, item.reason, done)
    return table


WAITING_SHOWN = 50


def _print_transcripts(results: list[TranscriptResult]) -> None:
    for result in results:
        out.print(
            f"transcript of conversation {result.conversation_id}: {result.outcome}: "
            f"{result.detail}",
            markup=False,
            highlight=False,
        )


def _waiting_table(items: list[PlanItem]) -> Table:
    """Deletions not due yet, soonest first, each with its reason (--json lists them all)."""
    soonest = sorted(items, key=lambda i: (i.due_at is None, i.due_at or 0, i.recording_id))
    more = len(items) - WAITING_SHOWN
    title = f"waiting: {len(items)} deletion(s) not due yet"
    if more > 0:
        title += f" (the {WAITING_SHOWN} soonest; --json lists all)"
    table = Table(title=title)
    for column in ("recording", "action", "due", "reason"):
        table.add_column(column, overflow="fold")
    for item in soonest[:WAITING_SHOWN]:
        due = f"{item.due_at:%Y-%m-%d %H:%M}Z" if item.due_at else ""
        table.add_row(_short(item.recording_id), item.action, due, item.reason)
    return table


@retention_app.command("apply")
def retention_apply(dry_run: DryRunFlag = False, as_json: JsonFlag = False) -> None:
    """Apply the retention policy (--dry-run: print the plan, change nothing)."""
    from models.policy.rules import Policy

    settings = load_settings()
    settings.require("s3_bucket")
    Policy.load(settings.policy_file)  # a bad policy file fails here, before Prefect starts
    from recvault.cli.runner import run_retention_cli

    run = run_retention_cli(_factory(settings, source=has_source(settings)), dry_run=dry_run)
    if as_json:
        _print_json(run.as_dict())
    else:
        plan = run.plan
        title = f"retention {'dry run' if dry_run else 'run'}: {len(plan.items)} item(s)"
        out.print(_plan_table(title, plan.items, run.results))
        if plan.waiting_items:
            out.print(_waiting_table(plan.waiting_items))
        for note in plan.notes:
            out.print(f"note: {note}", markup=False, highlight=False)
        _print_transcripts(run.transcripts)
        if dry_run:
            # New recordings under a hold, or a hold switched OFF in S3 outside recvault.
            for job in plan.holds_to_apply:
                out.print(
                    f"S3 legal hold to put ON: {job.recording_id} (legal hold #{job.hold_id})",
                    markup=False,
                    highlight=False,
                )
        for failed in (r for r in run.results if r.action == "apply_hold"):
            out.print(
                f"failed: {failed.recording_id}: {failed.detail}", markup=False, highlight=False
            )
        out.print(
            f"considered {plan.considered}, waiting {plan.waiting}, "
            f"holds to apply {len(plan.holds_to_apply)}"
            + ("; dry run: nothing was changed" if dry_run else "")
            + (
                ""
                if dry_run
                else f"; done {run.count('done')}, refused {run.count('refused')}, "
                f"failed {run.count('failed')}"
            )
            + (f"; due but not deleted here {len(plan.due)} (see the reasons)" if plan.due else "")
        )
    if not run.ok:
        raise typer.Exit(EXIT_INCOMPLETE)


@retention_app.command("explain")
def retention_explain(
    recording_id: Annotated[str, typer.Argument(help="The recording id.")],
    as_json: JsonFlag = False,
) -> None:
    """Show which rule applies to a recording and why, its holds and what is due."""
    from flows.retention.explain import explain_recording
    from flows.services import utc_now
    from models.policy.rules import Policy
    from recvault.wiring import open_reader

    settings = load_settings()
    policy = Policy.load(settings.policy_file)
    with open_reader(settings) as catalog:
        report = explain_recording(catalog, policy, recording_id, now=utc_now())
    if as_json:
        _print_json(report)
        return
    out.print(f"recording {recording_id}: {report['state']}", markup=False, highlight=False)
    for line in report["lines"]:
        out.print(f"  {line}", markup=False, highlight=False)


@hold_app.command("place")
def hold_place(
    reason: Annotated[str, typer.Option("--reason", help="Why (shown to auditors).")],
    case: Annotated[str, typer.Option("--case", help="Case or matter reference.")],
    conversation_id: Annotated[
        str | None, typer.Option("--conversation-id", help="Hold one conversation.")
    ] = None,
    call_id: Annotated[str | None, typer.Option("--call-id", help="Hold one call leg.")] = None,
    participant: Annotated[
        str | None,
        typer.Option(
            "--participant",
            help="Hold every conversation of a participant (identity or participant id).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Place a legal hold: S3 legal hold on every object version, no deletion of any kind."""
    scopes = [
        (kind, value)
        for kind, value in (
            ("conversation", conversation_id),
            ("call", call_id),
            ("participant", participant),
        )
        if value is not None
    ]
    if len(scopes) != 1:
        raise typer.BadParameter(
            "give exactly one of --conversation-id, --call-id or --participant",
            param_hint="scope",
        )
    ((kind, value),) = scopes
    from flows.retention.holds import place_hold

    with _factory(load_settings(), source=False).open() as services:
        report = place_hold(
            services, scope_kind=kind, scope_value=value, reason=reason, case_ref=case
        )
    if as_json:
        _print_json(report.as_dict())
        if report.recordings == 0:
            raise typer.Exit(EXIT_NOTHING_FOUND)
        return
    out.print(
        f"legal hold #{report.hold.id} placed (case {report.hold.case_ref}): covers "
        f"{report.recordings} recording(s) now; {report.versions} object version(s) under "
        "S3 legal hold",
        markup=False,
        highlight=False,
    )
    if report.deleted_while_placing:
        out.print(
            f"{len(report.deleted_while_placing)} covered recording(s) were already being "
            "deleted (checked before this hold existed); the hold waited for them: "
            + ", ".join(report.deleted_while_placing),
            markup=False,
            highlight=False,
        )
    if report.unfinished_deletions:
        err.print(
            "warning: a deletion of "
            + ", ".join(report.unfinished_deletions)
            + " started before this hold and did not finish (its process may have died); "
            "the hold now refuses it",
            markup=False,
            highlight=False,
        )
    if report.s3_legal_hold != "ON":
        err.print(f"warning: S3 legal hold {report.s3_legal_hold}", markup=False, highlight=False)
    if report.recordings == 0:
        err.print(
            f"warning: legal hold #{report.hold.id} covers no recording in the catalog: check "
            f"the {kind} (a mistyped one matches nothing); it is placed and covers recordings "
            "archived later",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(EXIT_NOTHING_FOUND)


@hold_app.command("release")
def hold_release(
    hold: Annotated[str, typer.Argument(metavar="HOLD_ID_OR_CASE", help="Hold id or case.")],
    as_json: JsonFlag = False,
) -> None:
    """Release a hold by id, or every active hold of a case."""
    from flows.retention.holds import release_holds

    with _factory(load_settings(), source=False).open() as services:
        reports = release_holds(services, hold)
    if as_json:
        _print_json([{**r.as_dict(), "kept": r.kept} for r in reports])
        return
    for r in reports:
        out.print(
            f"legal hold #{r.hold.id} released (case {r.hold.case_ref}): S3 legal hold removed "
            f"from {r.versions} object version(s); {r.kept} recording(s) stay held by other holds",
            markup=False,
            highlight=False,
        )


@hold_app.command("list")
def hold_list(
    as_json: JsonFlag = False,
    include_released: Annotated[
        bool, typer.Option("--all", help="Include released holds.")
    ] = False,
) -> None:
    """List legal holds (active ones unless --all)."""
    from flows.retention.holds import list_holds
    from recvault.wiring import open_reader

    with open_reader(load_settings()) as catalog:
        rows = list_holds(catalog, include_released=include_released)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"{len(rows)} legal hold(s)")
    for column in ("id", "scope", "case", "reason", "placed", "released", "recordings"):
        table.add_column(column, overflow="fold")
    for h in rows:
        table.add_row(
            str(h["id"]),
            f"{h['scope_kind']} {h['scope_value']}",
            h["case"],
            h["reason"],
            f"{h['placed_at']} by {h['placed_by']}",
            h["released_at"] or "",
            str(h["recordings"]),
        )
    out.print(table)


def erase_command(
    participant_identity: Annotated[
        str,
        typer.Option("--participant-identity", help="The person's identity (phone, e-mail)."),
    ],
    dry_run: DryRunFlag = False,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Your request or ticket reference.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Erase a person's recordings (GDPR art. 17), except where the law or a hold keeps them."""
    from flows.retention.erasure import run_erasure

    settings = load_settings()
    if not dry_run:
        settings.require("infobip_base_url", "infobip_api_key")
    # Sources are built for a dry run too (no request is sent until a deletion), so the plan
    # already says where source deletion is off.
    with _factory(settings, source=not dry_run or has_source(settings)).open() as services:
        run = run_erasure(services, participant_identity, dry_run=dry_run, reference=reference)
    if as_json:
        _print_json(run.as_dict())
    else:
        title = f"erasure {'dry run' if dry_run else 'request'} {run.plan.request_id}"
        out.print(_plan_table(title, run.plan.items, run.results))
        _print_transcripts(run.transcripts)
        if dry_run:
            out.print("dry run: nothing was changed")
        if run.hold_scopes_erased:
            ids = ", ".join(f"#{i}" for i in run.hold_scopes_erased)
            out.print(f"released legal hold(s) {ids}: the identity was removed from their scope")
        if run.hold_scopes_kept:
            ids = ", ".join(f"#{i}" for i in run.hold_scopes_kept)
            out.print(
                f"active legal hold(s) {ids} keep this identity (they still hold the person's "
                "recordings): release them, then erase again",
                markup=False,
                highlight=False,
            )
    if not run.plan.items:
        err.print(
            "warning: no recording of this participant identity in the catalog (compared in "
            "its normal form: E.164 for phone numbers, case-insensitive otherwise); nothing was "
            "erased",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(EXIT_NOTHING_FOUND)
    if not run.ok:
        raise typer.Exit(EXIT_INCOMPLETE)
