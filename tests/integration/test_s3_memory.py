"""Uploads stream from disk: memory stays far below the file size.

The upload runs in a child process so tracemalloc sees only the client side; the moto server
in this process keeps its own copy of the object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.s3 import MakeStore, MotoServer
from tests.integration.test_s3_store import write_file

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
FILE_BYTES = 50 * MiB
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys, tracemalloc
from pathlib import Path
from storage.s3.store import ObjectStore
from storage.s3.client import make_client

endpoint, bucket, path, sha, key, threshold = sys.argv[1:7]
client = make_client(endpoint_url=endpoint, region="us-east-1",
                     access_key_id="testing", secret_access_key="testing")
store = ObjectStore(bucket, endpoint_url=endpoint, client=client, checksum="sha256",
                    multipart_threshold_bytes=int(threshold), part_size_bytes=5 * 1024 * 1024)
tracemalloc.start()
put = store.put_file(key, Path(path), sha256=sha)
_, peak = tracemalloc.get_traced_memory()
print(json.dumps({"peak": peak, "parts": put.parts, "version_id": put.version_id}))
"""


@pytest.mark.parametrize(
    ("threshold", "parts"), [(5 * MiB, 10), (64 * MiB, 1)], ids=["multipart", "single"]
)
def test_put_file_streams_from_disk(
    tmp_path: Path,
    moto_server: MotoServer,
    s3_bucket: str,
    make_store: MakeStore,
    aws_env: dict[str, str],
    threshold: int,
    parts: int,
) -> None:
    path = tmp_path / "big.bin"
    sha = write_file(path, FILE_BYTES, seed=7)
    key = f"mem/{parts}.bin"
    args = [moto_server.endpoint_url, s3_bucket, str(path), sha, key, str(threshold)]

    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        env={**os.environ, **aws_env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["parts"] == parts
    # 4 parts in flight with 1 MiB read buffers each: a few MiB, never the 50 MiB file.
    assert report["peak"] < 12 * MiB, report
    store = make_store(s3_bucket, checksum="sha256")
    assert (
        store.verify(key, version_id=report["version_id"], sha256=sha, size_bytes=FILE_BYTES).method
        == "checksum"
    )
    store.delete_version(key, version_id=report["version_id"])  # free the server's memory
