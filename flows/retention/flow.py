"""Prefect flow ``apply-retention``: plan what the policy says is due, then (unless a dry run)
carry out exactly that plan.

Thin on purpose: the work is in ``flows.retention.steps``; this module adds Prefect's task runs,
retries on catalog outages, and the run summary artifact.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.archive.deps import InUse
from flows.retention.deps import RetentionDeps, build_retention_deps
from flows.retention.steps import RetentionPlan, RetentionRun, apply_plan, plan_retention
from flows.retries import retry_on_catalog_outage
from models.settings import Settings, load_settings

_retention_deps: InUse[RetentionDeps] = InUse("RetentionDeps")
use_retention_deps = _retention_deps.use
current_retention_deps = _retention_deps.get


@task(
    name="plan-retention",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_on_catalog_outage,
)
def plan_task() -> RetentionPlan:
    return plan_retention(current_retention_deps())


# No retries: a half-applied plan is finished by the next run's fresh plan, not by replaying.
@task(name="apply-retention-plan", cache_policy=NO_CACHE)
def apply_task(plan: RetentionPlan) -> RetentionRun:
    return apply_plan(current_retention_deps(), plan)


def run_retention_flow_body(deps: RetentionDeps, *, dry_run: bool) -> RetentionRun:
    """The flow's body with prepared deps (tests, the CLI)."""
    logger = get_run_logger()
    with use_retention_deps(deps):
        plan = plan_task()
        logger.info(
            "planned considered=%d deletions=%d refusals=%d",
            plan.considered,
            len(plan.deletions),
            len(plan.items) - len(plan.deletions),
        )
        run = RetentionRun(plan=plan, dry_run=True) if dry_run else apply_task(plan)
    logger.info(
        "done=%d refused=%d failed=%d", run.count("done"), run.count("refused"), run.count("failed")
    )
    return run


def has_source(settings: Settings) -> bool:
    return settings.infobip_base_url is not None and settings.infobip_api_key is not None


@flow(name="apply-retention", log_prints=False)
def apply_retention(dry_run: bool = False) -> RetentionRun:
    """Apply the retention policy once; ``dry_run`` only plans and changes nothing."""
    settings = load_settings()
    deps = build_retention_deps(settings, source=has_source(settings))
    try:
        run = run_retention_flow_body(deps, dry_run=dry_run)
    finally:
        deps.close()
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
        f"refusals: {len(plan.items) - len(plan.deletions)}",
        f"- done: {run.count('done')}, refused: {run.count('refused')}, "
        f"failed: {run.count('failed')}",
        "",
        "| recording | action | decision | reason |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {i.recording_id} | {i.action} | {i.decision} | {i.reason} |" for i in plan.items[:200]
    ]
    return "\n".join(lines) + "\n"
