"""Prefect flow ``apply-retention``: plan what the policy says is due, then (unless a dry run)
carry out exactly that plan.

Thin on purpose: the work is in ``flows.retention.steps``; this module adds Prefect's task runs,
retries on catalog outages, and the run summary artifact.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.retention.steps import RetentionPlan, RetentionRun, apply_plan, plan_retention
from flows.retries import retry_on_catalog_outage
from flows.services import ServicesFactory, factory_from_environment


@task(
    name="plan-retention",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_on_catalog_outage,
)
def plan_task(factory: Any) -> RetentionPlan:
    with factory.open() as services:
        return plan_retention(services)


# No retries: a half-applied plan is finished by the next run's fresh plan, not by replaying.
@task(name="apply-retention-plan", cache_policy=NO_CACHE)
def apply_task(factory: Any, plan: RetentionPlan) -> RetentionRun:
    with factory.open() as services:
        return apply_plan(services, plan)


# ``factory`` is typed Any for Prefect's parameter model (see flows.archive.flow).
@flow(name="apply-retention", log_prints=False)
def apply_retention(dry_run: bool = False, factory: Any = None) -> RetentionRun:
    """Apply the retention policy once; ``dry_run`` only plans and changes nothing."""
    chosen: ServicesFactory = factory or factory_from_environment()
    logger = get_run_logger()
    with chosen.open():  # one set of services for both tasks
        plan = plan_task(chosen)
        logger.info(
            "planned considered=%d deletions=%d refusals=%d",
            plan.considered,
            len(plan.deletions),
            len(plan.items) - len(plan.deletions),
        )
        run = RetentionRun(plan=plan, dry_run=True) if dry_run else apply_task(chosen, plan)
    logger.info(
        "done=%d refused=%d failed=%d due=%d",
        run.count("done"),
        run.count("refused"),
        run.count("failed"),
        run.count("due"),
    )
    create_markdown_artifact(
        to_markdown(run), key="retention-run", description="recvault retention run"
    )
    return run


def to_markdown(run: RetentionRun) -> str:
    plan = run.plan
    lines = [
        f"# retention {'dry run' if run.dry_run else 'run'} at {plan.at:%Y-%m-%d %H:%M}Z",
        "",
        f"- recordings considered: {plan.considered}, waiting: {plan.waiting}",
        f"- planned deletions: {len(plan.deletions)}, "
        f"refusals: {len(plan.items) - len(plan.deletions) - len(plan.due)}, "
        f"due but not deleted here: {len(plan.due)}",
        f"- done: {run.count('done')}, refused: {run.count('refused')}, "
        f"failed: {run.count('failed')}, due: {run.count('due')}",
        "",
        "| recording | action | decision | reason |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {i.recording_id} | {i.action} | {i.decision} | {i.reason} |" for i in plan.items[:200]
    ]
    lines += [
        f"| {i.recording_id} | {i.action} | wait | {i.reason} |" for i in plan.waiting_items[:200]
    ]
    return "\n".join(lines) + "\n"
