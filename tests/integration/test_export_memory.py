"""An export streams: exporting a 40 MiB recording holds a few MiB at a time, never the file.

The export runs in a child process so tracemalloc sees only recvault's side; the moto server
in this process keeps its own copy of the object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from models.states import RecordingState
from models.tables import ArchivedObject
from storage.catalog.store import Catalog
from tests.fixtures.db import T0, make_meta, sqlite_url
from tests.fixtures.s3 import MakeStore, MotoServer
from tests.integration.test_s3_store import write_file

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
FILE_BYTES = 40 * MiB
ROOT = Path(__file__).resolve().parents[2]
S = RecordingState

CHILD = """
import json, sys, tracemalloc
from pathlib import Path
from flows.export.bundle import export_evidence
from flows.services import Services
from models.policy.rules import Policy
from models.search import IdMatch, RecordingQuery
from models.settings import Settings
from storage.catalog.store import Catalog
from storage.s3.client import make_client
from storage.s3.store import ObjectStore

endpoint, bucket, url, out = sys.argv[1:5]
client = make_client(endpoint_url=endpoint, region="us-east-1",
                     access_key_id="testing", secret_access_key="testing")
store = ObjectStore(bucket, endpoint_url=endpoint, client=client)
with Catalog.open(url) as catalog:
    deps = Services(settings=Settings(_env_file=None), catalog=catalog, store=store,
                    policy=Policy.load(None), actor="memory-test")
    seen = {"total": 0, "copied": 0, "calls": 0}
    def start(total):
        seen["total"] = total
    def progress(n):
        seen["copied"] += n
        seen["calls"] += 1
    tracemalloc.start()
    report = export_evidence(deps, RecordingQuery(recording_id=IdMatch("big-1")), Path(out),
                             on_start=start, on_progress=progress)
    _, peak = tracemalloc.get_traced_memory()
print(json.dumps({"peak": peak, "bytes": report.bytes, **seen}))
"""


def test_export_streams_a_large_recording(
    tmp_path: Path,
    moto_server: MotoServer,
    s3_bucket: str,
    make_store: MakeStore,
    aws_env: dict[str, str],
) -> None:
    path = tmp_path / "big.wav"
    sha = write_file(path, FILE_BYTES, seed=3)
    store = make_store(s3_bucket)
    put = store.put_file("recordings/big/original.wav", path, sha256=sha)
    path.unlink()
    url = sqlite_url(tmp_path / "catalog.db")
    with Catalog.open(url) as catalog:
        catalog.upsert_discovered([make_meta("big-1")], at=T0, actor="t")
        for to in (S.READY, S.DOWNLOADED, S.UPLOADED):
            catalog.transition("big-1", to, actor="t", event=to.lower(), at=T0)
        obj = ArchivedObject(
            recording_id="big-1",
            kind="original",
            bucket=s3_bucket,
            key="recordings/big/original.wav",
            version_id=put.version_id,
            size_bytes=FILE_BYTES,
            sha256=sha,
        )
        catalog.transition("big-1", S.ARCHIVED, actor="t", event="archived", at=T0, objects=[obj])

    out = tmp_path / "big.zip"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, moto_server.endpoint_url, s3_bucket, url, str(out)],
        cwd=ROOT,
        env={**os.environ, **aws_env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["bytes"] == FILE_BYTES
    # The progress callbacks see the whole size up front, then every chunk.
    assert report["total"] == report["copied"] == FILE_BYTES and report["calls"] >= 40
    # 1 MiB read chunks and the zip writer's buffers: a few MiB, never the 40 MiB recording.
    assert report["peak"] < 8 * MiB, report
    with zipfile.ZipFile(out) as bundle:
        assert bundle.getinfo("recordings/big-1/original.wav").file_size == FILE_BYTES
    store.delete_version("recordings/big/original.wav", version_id=put.version_id)
