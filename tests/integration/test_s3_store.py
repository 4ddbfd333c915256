"""ObjectStore against moto's S3 server over real HTTP."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import EndpointConnectionError

from models.errors import (
    BucketPolicyError,
    ChecksumMismatch,
    LegalHoldActive,
    ObjectStoreError,
    RetentionNotExpired,
)
from storage.s3.store import PARTS_META, SHA256_META
from tests.fixtures.s3 import MakeBucket, MakeStore, MotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
SMALL = {"multipart_threshold_bytes": 5 * MiB, "part_size_bytes": 5 * MiB}


def write_file(path: Path, size: int, seed: int = 1) -> str:
    """A file of ``size`` pseudo-random bytes; returns its SHA-256."""
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def versions_of(client: S3Client, bucket: str, key: str) -> list[Any]:
    resp = client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in resp.get("Versions", []) if v["Key"] == key]


@pytest.mark.parametrize(("checksum", "method"), [("sha256", "checksum"), ("off", "reread")])
def test_single_part_put_and_verify(
    tmp_path: Path, s3_bucket: str, make_store: MakeStore, checksum: str, method: str
) -> None:
    store = make_store(s3_bucket, checksum=checksum, **SMALL)
    path = tmp_path / "call.wav"
    sha = write_file(path, 300_000)

    put = store.put_file(
        "rec/a/original.wav",
        path,
        sha256=sha,
        content_type="audio/wav",
        metadata={"recording-id": "a"},
    )

    assert (put.multipart, put.parts, put.size_bytes) == (False, 1, 300_000)
    assert put.version_id
    info = store.head("rec/a/original.wav")
    assert info is not None
    assert info.version_id == put.version_id
    assert info.metadata[SHA256_META] == sha
    assert info.metadata["recording-id"] == "a"
    assert info.sha256 == sha
    if checksum == "sha256":
        assert info.checksum_sha256 == base64.b64encode(bytes.fromhex(sha)).decode()
    else:
        assert info.checksum_sha256 is None
    result = store.verify(
        "rec/a/original.wav", version_id=put.version_id, sha256=sha, size_bytes=300_000
    )
    assert (result.method, result.sha256, result.size_bytes) == (method, sha, 300_000)


@pytest.mark.parametrize(("checksum", "method"), [("sha256", "checksum"), ("off", "reread")])
def test_multipart_put_and_verify(
    tmp_path: Path,
    s3_bucket: str,
    make_store: MakeStore,
    s3_client: S3Client,
    checksum: str,
    method: str,
) -> None:
    store = make_store(s3_bucket, checksum=checksum, **SMALL)
    path = tmp_path / "video.mp4"
    size = 12 * MiB + 123
    sha = write_file(path, size, seed=2)

    put = store.put_file("rec/b/original.mp4", path, sha256=sha)

    assert (put.multipart, put.parts, put.size_bytes) == (True, 3, size)
    info = store.head("rec/b/original.mp4", version_id=put.version_id)
    assert info is not None and info.multipart
    assert info.metadata[SHA256_META] == sha
    # The recorded composite is the hash of the part hashes, as S3 computes it.
    data = path.read_bytes()
    part_digests = b"".join(
        hashlib.sha256(data[i : i + 5 * MiB]).digest() for i in range(0, size, 5 * MiB)
    )
    expected = base64.b64encode(hashlib.sha256(part_digests).digest()).decode()
    assert info.metadata[PARTS_META] == f"{expected}-3"
    result = store.verify(
        "rec/b/original.mp4", version_id=put.version_id, sha256=sha, size_bytes=size
    )
    assert result.method == method
    assert store.reread_sha256("rec/b/original.mp4", version_id=put.version_id) == (sha, size)
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


@pytest.mark.parametrize("checksum", ["sha256", "off"])
def test_verify_catches_overwritten_bytes(
    tmp_path: Path, s3_bucket: str, make_store: MakeStore, s3_client: S3Client, checksum: str
) -> None:
    store = make_store(s3_bucket, checksum=checksum, **SMALL)
    path = tmp_path / "a.wav"
    sha = write_file(path, 40_000)
    store.put_file("k/a.wav", path, sha256=sha)
    # Someone replaces the latest version with other bytes of the same size.
    s3_client.put_object(Bucket=s3_bucket, Key="k/a.wav", Body=b"\0" * 40_000)

    with pytest.raises(ChecksumMismatch, match=r"k/a\.wav"):
        store.verify("k/a.wav", version_id=None, sha256=sha, size_bytes=40_000)


def test_verify_rejects_wrong_hash_wrong_size_and_missing(
    tmp_path: Path, s3_bucket: str, make_store: MakeStore
) -> None:
    path = tmp_path / "a.wav"
    sha = write_file(path, 10_000)
    for checksum in ("sha256", "off"):
        store = make_store(s3_bucket, checksum=checksum)
        put = store.put_file(f"{checksum}/a.wav", path, sha256=sha)
        wrong = hashlib.sha256(b"other").hexdigest()
        with pytest.raises(ChecksumMismatch, match=wrong):
            store.verify(
                f"{checksum}/a.wav", version_id=put.version_id, sha256=wrong, size_bytes=10_000
            )
        with pytest.raises(ChecksumMismatch, match="10000 bytes, expected 9999"):
            store.verify(
                f"{checksum}/a.wav", version_id=put.version_id, sha256=sha, size_bytes=9_999
            )
        with pytest.raises(ObjectStoreError, match="missing"):
            store.verify(f"{checksum}/none.wav", version_id=None, sha256=sha, size_bytes=1)


def test_put_refuses_a_file_that_changed_since_download(
    tmp_path: Path, s3_bucket: str, make_store: MakeStore, s3_client: S3Client
) -> None:
    store = make_store(s3_bucket)
    path = tmp_path / "a.wav"
    sha = write_file(path, 1000)
    path.write_bytes(b"x" * 1000)

    with pytest.raises(ChecksumMismatch, match="download it again"):
        store.put_file("k/changed.wav", path, sha256=sha)
    assert versions_of(s3_client, s3_bucket, "k/changed.wav") == []


def test_find_verified_copy_reuses_the_upload(
    tmp_path: Path, s3_bucket: str, make_store: MakeStore, s3_client: S3Client
) -> None:
    store = make_store(s3_bucket, **SMALL)
    path = tmp_path / "a.wav"
    sha = write_file(path, 6 * MiB)
    key = "rec/c/original.wav"
    assert store.find_verified_copy(key, sha256=sha, size_bytes=6 * MiB) is None

    put = store.put_file(key, path, sha256=sha)
    # A crash before the catalog commit: the next run finds the copy instead of uploading.
    found = store.find_verified_copy(key, sha256=sha, size_bytes=6 * MiB)

    assert found is not None and found.version_id == put.version_id
    assert len(versions_of(s3_client, s3_bucket, key)) == 1
    assert store.find_verified_copy(key, sha256=sha, size_bytes=6 * MiB - 1) is None
    other = hashlib.sha256(b"different").hexdigest()
    assert store.find_verified_copy(key, sha256=other, size_bytes=6 * MiB) is None
    # A newer foreign version on top does not hide our copy.
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=b"foreign")
    again = store.find_verified_copy(key, sha256=sha, size_bytes=6 * MiB)
    assert again is not None and again.version_id == put.version_id


def test_retention_and_lock_mode_read_back(
    tmp_path: Path, s3_bucket: str, make_store: MakeStore
) -> None:
    store = make_store(s3_bucket, **SMALL)
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    small, large = tmp_path / "small.wav", tmp_path / "large.mp4"
    small_sha, large_sha = write_file(small, 2000), write_file(large, 11 * MiB)

    for key, path, sha in (("lock/s.wav", small, small_sha), ("lock/l.mp4", large, large_sha)):
        put = store.put_file(key, path, sha256=sha, retain_until=until, lock_mode="COMPLIANCE")
        info = store.head(key, version_id=put.version_id)
        assert info is not None
        assert info.lock_mode == "COMPLIANCE"
        assert info.retain_until == until
        assert info.retain_until.tzinfo is not None


def test_legal_hold_on_and_off(tmp_path: Path, s3_bucket: str, make_store: MakeStore) -> None:
    store = make_store(s3_bucket)
    path = tmp_path / "a.wav"
    put = store.put_file("hold/a.wav", path, sha256=write_file(path, 100))

    store.set_legal_hold("hold/a.wav", version_id=put.version_id, on=True)
    held = store.head("hold/a.wav", version_id=put.version_id)
    assert held is not None and held.legal_hold is True
    with pytest.raises(LegalHoldActive):
        store.delete_version("hold/a.wav", version_id=put.version_id)

    store.set_legal_hold("hold/a.wav", version_id=put.version_id, on=False)
    released = store.head("hold/a.wav", version_id=put.version_id)
    assert released is not None and released.legal_hold is False
    store.delete_version("hold/a.wav", version_id=put.version_id)
    assert store.head("hold/a.wav", version_id=put.version_id) is None


def test_delete_refused_under_compliance_and_governance(
    tmp_path: Path, s3_bucket: str, make_store: MakeStore
) -> None:
    store = make_store(s3_bucket)
    path = tmp_path / "a.wav"
    sha = write_file(path, 100)
    until = datetime.now(UTC) + timedelta(days=1)
    compliance = store.put_file(
        "ret/c.wav", path, sha256=sha, retain_until=until, lock_mode="COMPLIANCE"
    )
    governance = store.put_file(
        "ret/g.wav", path, sha256=sha, retain_until=until, lock_mode="GOVERNANCE"
    )

    with pytest.raises(RetentionNotExpired, match="COMPLIANCE"):
        store.delete_version("ret/c.wav", version_id=compliance.version_id)
    with pytest.raises(RetentionNotExpired):
        store.delete_version("ret/c.wav", version_id=compliance.version_id, bypass_governance=True)
    assert store.head("ret/c.wav", version_id=compliance.version_id) is not None
    with pytest.raises(RetentionNotExpired, match="GOVERNANCE"):
        store.delete_version("ret/g.wav", version_id=governance.version_id)
    store.delete_version("ret/g.wav", version_id=governance.version_id, bypass_governance=True)
    assert store.head("ret/g.wav", version_id=governance.version_id) is None


def test_lock_on_a_bucket_without_object_lock(
    tmp_path: Path, make_bucket: MakeBucket, make_store: MakeStore
) -> None:
    store = make_store(make_bucket(object_lock=False))
    path = tmp_path / "a.wav"
    put = store.put_file("a.wav", path, sha256=write_file(path, 100))

    with pytest.raises(BucketPolicyError, match="Object Lock"):
        store.set_legal_hold("a.wav", version_id=put.version_id, on=True)


def test_listing_objects_and_versions(
    tmp_path: Path, s3_bucket: str, make_store: MakeStore
) -> None:
    store = make_store(s3_bucket)
    one, two = tmp_path / "1", tmp_path / "2"
    sha1, sha2 = write_file(one, 10, seed=1), write_file(two, 20, seed=2)
    first = store.put_file("list/x", one, sha256=sha1)
    second = store.put_file("list/x", two, sha256=sha2)
    store.put_file("list/y", one, sha256=sha1)
    store.put_file("other/z", one, sha256=sha1)

    latest = {(o.key, o.size_bytes, o.is_latest) for o in store.iter_objects("list/")}
    assert latest == {("list/x", 20, True), ("list/y", 10, True)}
    versions = [(v.key, v.version_id, v.is_latest) for v in store.iter_versions("list/x")]
    assert versions == [("list/x", second.version_id, True), ("list/x", first.version_id, False)]


def test_failed_multipart_upload_is_aborted(
    tmp_path: Path, s3_bucket: str, moto_server: MotoServer, make_store: MakeStore
) -> None:
    client = moto_server.client(max_attempts=1)
    sent: list[int] = []

    def fail_third_part(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["PartNumber"])
        if params["PartNumber"] == 3:
            raise EndpointConnectionError(endpoint_url=moto_server.endpoint_url)

    client.meta.events.register("before-parameter-build.s3.UploadPart", fail_third_part)
    store = make_store(s3_bucket, client=client, max_concurrency=1, **SMALL)
    path = tmp_path / "big.mp4"
    sha = write_file(path, 16 * MiB)

    with pytest.raises(ObjectStoreError, match="cannot reach S3"):
        store.put_file("abort/big.mp4", path, sha256=sha)

    assert sent == [1, 2, 3]
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert store.head("abort/big.mp4") is None


@pytest.mark.parametrize(
    ("checksum", "checksum_headers"), [("off", []), ("sha256", ["x-amz-checksum-sha256"])]
)
def test_requests_stay_within_what_every_store_understands(
    tmp_path: Path,
    s3_bucket: str,
    moto_server: MotoServer,
    make_store: MakeStore,
    checksum: str,
    checksum_headers: list[str],
) -> None:
    """boto3 >= 1.36 adds CRC checksums and aws-chunked bodies by default; several
    S3-compatible stores reject them. Uploads carry Content-MD5, no default CRC."""
    client = moto_server.client()
    seen: dict[str, list[dict[str, str]]] = {}

    def record(request: Any, event_name: str, **_: Any) -> None:
        op = event_name.rsplit(".", 1)[-1]
        headers = {k.lower(): str(v) for k, v in request.headers.items()}
        seen.setdefault(op, []).append(headers)

    client.meta.events.register("before-send.s3", record)
    store = make_store(s3_bucket, client=client, checksum=checksum, **SMALL)
    small, large = tmp_path / "s", tmp_path / "l"
    put = store.put_file("hdr/s", small, sha256=write_file(small, 100))
    store.put_file("hdr/l", large, sha256=write_file(large, 6 * MiB))
    store.set_legal_hold("hdr/s", version_id=put.version_id, on=True)
    store.set_legal_hold("hdr/s", version_id=put.version_id, on=False)

    for op in ("PutObject", "UploadPart"):
        for headers in seen[op]:
            assert "content-md5" in headers
            assert [h for h in headers if h.startswith("x-amz-checksum-")] == checksum_headers
            assert "aws-chunked" not in headers.get("content-encoding", "")
            assert "x-amz-trailer" not in headers
    assert all("content-md5" in h for h in seen["PutObjectLegalHold"])


def test_a_first_upload_lists_no_versions(
    make_bucket: MakeBucket, make_store: MakeStore, moto_server: MotoServer, tmp_path: Path
) -> None:
    bucket = make_bucket(object_lock=True)
    client = moto_server.client()
    calls: list[str] = []
    client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    store = make_store(bucket, client=client)
    path = tmp_path / "a.wav"
    sha = write_file(path, 4096)
    assert store.find_verified_copy("recordings/x/a.wav", sha256=sha, size_bytes=4096) is None
    store.put_file("recordings/x/a.wav", path, sha256=sha, content_type="audio/wav", metadata={})
    assert "ListObjectVersions" not in calls
    assert calls.count("HeadObject") == 1
    # A second attempt finds the copy the first one left, by the same single HEAD.
    calls.clear()
    found = store.find_verified_copy("recordings/x/a.wav", sha256=sha, size_bytes=4096)
    assert found is not None and calls == ["HeadObject"]
