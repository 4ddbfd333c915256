"""``recvault doctor``: every dependency of a run checked, on one screen."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from rich.console import Console
from rich.table import Table

from models.errors import RecvaultError
from models.policy.rules import Policy
from models.settings import Settings

Row = tuple[str, str, str]  # (check, value, "ok" | "warn" | "fail")


def _ffmpeg_rows() -> list[Row]:
    rows: list[Row] = []
    for binary in ("ffmpeg", "ffprobe"):
        path = shutil.which(binary)
        if path is None:
            rows.append((binary, "not found on PATH: apt-get install ffmpeg", "fail"))
            continue
        version = subprocess.run(
            [path, "-version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.split("\n", 1)[0]
        rows.append((binary, version[:60], "ok"))
    return rows


def _guard(name: str, check: Any) -> list[Row]:
    try:
        result: list[Row] = check()
    except RecvaultError as exc:
        return [(name, str(exc), "fail")]
    return result


def run_doctor(settings: Settings, console: Console, *, as_json: bool) -> bool:
    from storage.catalog.store import Catalog
    from storage.infobip.client import InfobipClient
    from storage.s3.store import ObjectStore

    def policy_rows() -> list[Row]:
        policy = Policy.load(settings.policy_file)
        source = str(settings.policy_file or "built-in default")
        return [("policy", f"{source}: {len(policy.rules)} rule(s)", "ok")]

    def bucket_rows() -> list[Row]:
        policy = Policy.load(settings.policy_file)
        store = ObjectStore.from_settings(settings)
        report = store.check_bucket(
            require_object_lock=policy.requires_object_lock, require_versioning=True
        )
        return [(f"s3 {check}", value, state) for check, value, state in report.rows()]

    def infobip_rows() -> list[Row]:
        with InfobipClient.from_settings(settings) as client:
            config = client.get_account_recording_config()
        return [
            (
                "infobip",
                f"{settings.base_url}: recording enabled={config.enabled} "
                f"media={config.media_type}",
                "ok",
            )
        ]

    def catalog_rows() -> list[Row]:
        catalog = Catalog.open(settings.resolved_database_url)
        try:
            counts = catalog.counts_by_state()
        finally:
            catalog.close()
        total = sum(counts.values())
        return [("catalog", f"{catalog.url_for_display}: {total} recording(s)", "ok")]

    def workdir_rows() -> list[Row]:
        from storage.workdir import WorkDir

        WorkDir(settings.resolved_work_dir, max_bytes=settings.work_dir_max_bytes).prepare()
        return [("work dir", str(settings.resolved_work_dir), "ok")]

    rows = (
        _guard("policy", policy_rows)
        + _guard("s3", bucket_rows)
        + _guard("infobip", infobip_rows)
        + _guard("catalog", catalog_rows)
        + _guard("work dir", workdir_rows)
        + _ffmpeg_rows()
    )
    ok = all(state != "fail" for _, _, state in rows)
    if as_json:
        payload = {"ok": ok, "checks": [{"check": c, "value": v, "state": s} for c, v, s in rows]}
        console.print_json(json.dumps(payload))
        return ok
    table = Table(title="recvault doctor")
    for column in ("check", "value", "state"):
        table.add_column(column)
    colour = {"ok": "green", "warn": "yellow", "fail": "red"}
    for check, value, state in rows:
        table.add_row(check, value, f"[{colour[state]}]{state}[/]")
    console.print(table)
    return ok
