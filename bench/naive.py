"""The naive baseline: the archive's steps, one recording after another, no Prefect, no state
machine. ``python -m bench.naive --since ISO --until ISO`` with recvault's own variables
(``RECVAULT_INFOBIP_BASE_URL``, ``RECVAULT_INFOBIP_API_KEY``, ``RECVAULT_S3_BUCKET``,
``RECVAULT_S3_ENDPOINT_URL``) plus ``NAIVE_DB`` (a SQLite file) and ``NAIVE_WORK`` (a dir).

Same libraries as recvault (httpx, boto3, ffprobe, SQLite), the same steps (list, wait for a
video to be prepared, download with SHA-256, probe, upload, check the object's size, record
it), none of the care: a dropped download starts again from byte 0, a recording not final yet
is skipped until the next run, there are no claims, leases, audit events or Object Lock. It
prints one JSON line: archived, skipped, failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import httpx

PREFIX = "/ccaas/voice/2/recording"
FINAL = {"SUCCESSFUL", "PARTIALLY_FAILED"}
TRIES = 10


def list_recordings(http: httpx.Client, since: datetime, until: datetime) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    page = 0
    while True:
        params = {
            "startedAtFrom": str(int(since.timestamp() * 1000)),
            "startedAtTo": str(int(until.timestamp() * 1000)),
            "page": str(page),
            "size": "999",
            "sortBy": "startedAt",
            "sortDirection": "ASC",
        }
        body = request_json(http, f"{PREFIX}/metadata", params)
        for element in body.get("elements", []):
            found.setdefault(element["recordingId"], element)
        page += 1
        if page >= int(body.get("totalPages", 0)):
            return list(found.values())


def request_json(http: httpx.Client, path: str, params: dict[str, str]) -> Any:
    for attempt in range(TRIES):
        try:
            response = http.get(path, params=params)
        except httpx.TransportError:
            time.sleep(0.5 * (attempt + 1))
            continue
        if response.status_code == 429 or response.status_code >= 500:
            time.sleep(0.5 * (attempt + 1))
            continue
        response.raise_for_status()
        return response.json()
    raise RuntimeError(f"{path}: gave up after {TRIES} tries")


def download(
    http: httpx.Client, element: dict[str, Any], dest: Path, *, hashing: bool = True
) -> str | None:
    """SHA-256 of the downloaded file ("" without ``hashing``); None when the media is not
    there (yet)."""
    rid = element["recordingId"]
    waited = 0.0
    for attempt in range(TRIES * 10):
        digest = hashlib.sha256()
        try:
            with (
                http.stream("GET", f"{PREFIX}/download/{rid}") as response,
                dest.open("wb") as out,
            ):
                if response.status_code in (404, 409) and element["mediaType"] != "AUDIO":
                    # A video being prepared: poll until it is served, for up to a minute.
                    if waited >= 60:
                        return None
                    time.sleep(1.0)
                    waited += 1.0
                    continue
                if response.status_code == 404:
                    return None
                if response.status_code == 429 or response.status_code >= 500:
                    time.sleep(0.5 * min(attempt + 1, 4))
                    continue
                response.raise_for_status()
                expected = int(response.headers.get("Content-Length", "-1"))
                size = 0
                for chunk in response.iter_bytes(1024 * 1024):
                    out.write(chunk)
                    if hashing:
                        digest.update(chunk)
                    size += len(chunk)
                if expected >= 0 and size != expected:
                    continue  # a short body: start again
            return digest.hexdigest() if hashing else ""
        except httpx.TransportError:
            continue  # a dropped connection: start again from byte 0
    raise RuntimeError(f"download {rid}: gave up")


def probe(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    probed: dict[str, Any] = json.loads(done.stdout)
    return probed


def archive_one(
    http: httpx.Client, s3: Any, bucket: str, db: sqlite3.Connection, element: dict[str, Any]
) -> str:
    rid = element["recordingId"]
    if db.execute("SELECT 1 FROM archived WHERE recording_id = ?", (rid,)).fetchone():
        return "skipped"
    if element.get("recordingStatus", "SUCCESSFUL") not in FINAL:
        return "skipped"
    work = Path(os.environ["NAIVE_WORK"])
    work.mkdir(parents=True, exist_ok=True)
    ext = "mp4" if element["mediaType"] == "AUDIO_AND_VIDEO" else element.get("fileFormat", "wav")
    dest = work / f"{rid}.{str(ext).lower()}"
    try:
        sha = download(http, element, dest)
        if sha is None:
            return "skipped"
        probe(dest)
        key = f"recordings/{element.get('conversationId', 'none')}/{rid}/original.{ext}"
        s3.upload_file(str(dest), bucket, key, ExtraArgs={"Metadata": {"sha256": sha}})
        head = s3.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] != dest.stat().st_size:
            raise RuntimeError(f"{rid}: size mismatch in the bucket")
        db.execute(
            "INSERT INTO archived (recording_id, sha256, key, size) VALUES (?, ?, ?, ?)",
            (rid, sha, key, dest.stat().st_size),
        )
        db.commit()
        return "archived"
    finally:
        dest.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--since", required=True)
    parser.add_argument("--until", required=True)
    args = parser.parse_args()
    env = os.environ
    http = httpx.Client(
        base_url=env["RECVAULT_INFOBIP_BASE_URL"],
        headers={"Authorization": f"App {env['RECVAULT_INFOBIP_API_KEY']}"},
        timeout=30,
    )
    s3 = boto3.client("s3", endpoint_url=env.get("RECVAULT_S3_ENDPOINT_URL"))
    bucket = env["RECVAULT_S3_BUCKET"]
    db = sqlite3.connect(env["NAIVE_DB"])
    db.execute(
        "CREATE TABLE IF NOT EXISTS archived "
        "(recording_id TEXT PRIMARY KEY, sha256 TEXT, key TEXT, size INTEGER)"
    )
    outcomes = {"archived": 0, "skipped": 0, "failed": 0}
    since = datetime.fromisoformat(args.since)
    until = datetime.fromisoformat(args.until)
    for element in list_recordings(http, since, until):
        try:
            outcomes[archive_one(http, s3, bucket, db, element)] += 1
        except (RuntimeError, httpx.HTTPError, subprocess.SubprocessError) as exc:
            outcomes["failed"] += 1
            sys.stderr.write(f"naive: {exc}\n")
    sys.stdout.write(json.dumps(outcomes) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
