"""The raw copy limit: each recording streamed from the source to a file and uploaded as is,
``RECVAULT_CONCURRENCY`` at a time. No hash, no probe, no catalog, no verification, no
Prefect: what moving the bytes alone costs on this machine. Same variables and arguments as
``bench.naive``; prints one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import httpx

from bench.naive import FINAL, download, list_recordings


def copy_one(http: httpx.Client, s3: Any, bucket: str, work: Path, element: dict[str, Any]) -> str:
    if element.get("recordingStatus", "SUCCESSFUL") not in FINAL:
        return "skipped"
    rid = element["recordingId"]
    dest = work / rid
    try:
        if download(http, element, dest, hashing=False) is None:
            return "skipped"
        s3.upload_file(str(dest), bucket, f"raw/{rid}")
        return "copied"
    finally:
        dest.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--since", required=True)
    parser.add_argument("--until", required=True)
    args = parser.parse_args()
    env = os.environ
    workers = int(env.get("RECVAULT_CONCURRENCY", "4"))
    http = httpx.Client(
        base_url=env["RECVAULT_INFOBIP_BASE_URL"],
        headers={"Authorization": f"App {env['RECVAULT_INFOBIP_API_KEY']}"},
        timeout=30,
        limits=httpx.Limits(max_connections=workers * 2),
    )
    s3 = boto3.client("s3", endpoint_url=env.get("RECVAULT_S3_ENDPOINT_URL"))
    bucket = env["RECVAULT_S3_BUCKET"]
    since, until = datetime.fromisoformat(args.since), datetime.fromisoformat(args.until)
    elements = list_recordings(http, since, until)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda e: copy_one(http, s3, bucket, Path(tmp), e), elements))
    outcomes = {name: results.count(name) for name in ("copied", "skipped")}
    sys.stdout.write(json.dumps(outcomes) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
