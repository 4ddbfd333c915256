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
    from storage.infobip.client import InfobipClient, RouteCheck
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

    def profile_rows() -> list[Row]:
        profile = settings.source_profile
        routes = ", ".join(
            f"{name} {path}"
            for name, path in profile.items()
            if name not in ("video_readiness", "source_deletion") and path is not None
        )
        return [
            (
                "infobip profile",
                f"sources {','.join(settings.sources)}; video readiness "
                f"{profile['video_readiness']}; source deletion {profile['source_deletion']}; "
                f"routes: {routes}",
                "ok",
            )
        ]

    def infobip_rows() -> list[Row]:
        if "conversations" not in settings.sources:
            return []
        with InfobipClient.from_settings(settings) as client:
            rows = _guard("infobip account", lambda: account_rows(client))
            transcripts = settings.transcripts != "off"
            return rows + _guard(
                "infobip routes", lambda: route_rows(client.check_routes(messages=transcripts))
            )

    def account_rows(client: InfobipClient) -> list[Row]:
        config = client.get_account_recording_config()
        directions = [d for d in ("inbound", "outbound") if getattr(config, d)]
        rows: list[Row] = [
            (
                "infobip account",
                f"{settings.base_url}: recording enabled={config.enabled} "
                f"({', '.join(directions) or 'no direction'}), media={config.media_type}, "
                f"autoCompose={config.auto_compose}",
                "ok" if config.enabled else "warn",
            )
        ]
        try:
            videos: int | None = client.count_recordings(mediaType="AUDIO_AND_VIDEO")
        except RecvaultError:
            videos = None
        switch = config.video_download_preparation
        needs_video = config.media_type == "AUDIO_AND_VIDEO" or bool(videos)
        value = f"videoDownloadPreparation={switch}; video recordings listed: " + (
            "unknown" if videos is None else str(videos)
        )
        state = "ok"
        if switch is not True and needs_video:
            state = "warn"
            value += (
                "; videos stay streamable only: switch Video Download Preparation on in the "
                "account recording configuration"
            )
            if settings.video_readiness == "endpoint":
                value += " (or rely on the configured preparation route)"
        rows.append(("infobip video download", value, state))
        return rows

    def route_rows(checks: list[RouteCheck]) -> list[Row]:
        needed = {"metadata", "download", "account_config", "calls"}
        if settings.video_readiness == "endpoint":
            needed.add("preparation")
        if settings.source_deletion == "ccaas":
            needed.add("delete")
        rows: list[Row] = []
        for check in checks:
            state = "ok" if check.confirmed else ("fail" if check.route in needed else "warn")
            rows.append(
                (
                    f"infobip route {check.route}",
                    f"{check.method} {check.path}: {check.detail}",
                    state,
                )
            )
        return rows

    def calls_rows() -> list[Row]:
        if "calls" not in settings.sources and settings.source_deletion != "calls-files":
            return []
        from storage.infobip.calls import CallsSource

        with CallsSource.from_settings(settings) as calls:
            return route_rows(calls.check_routes())

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
        + _guard("infobip profile", profile_rows)
        + _guard("infobip", infobip_rows)
        + _guard("infobip calls", calls_rows)
        + _guard("catalog", catalog_rows)
        + _guard("work dir", workdir_rows)
        + _ffmpeg_rows()
    )
    ok = all(state != "fail" for _, _, state in rows)
    if as_json:
        payload = {
            "ok": ok,
            "profile": settings.source_profile,
            "checks": [{"check": c, "value": v, "state": s} for c, v, s in rows],
        }
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
