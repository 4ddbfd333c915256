"""Upload mechanics: hashing, part windows, and the exact requests put_file sends."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from models.errors import ObjectStoreError
from storage.s3.client import make_client
from storage.s3.store import ObjectStore
from storage.s3.transfer import (
    FileSlice,
    etag_parts,
    hash_file,
    part_size_for,
    split_composite,
)

MiB = 1024 * 1024


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_hash_file_parts_and_composite(tmp_path: Path) -> None:
    data = bytes(range(256)) * (11 * MiB // 256) + b"tail"
    path = tmp_path / "f"
    path.write_bytes(data)

    digest = hash_file(path, 5 * MiB)

    chunks = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    assert digest.sha256_hex == hashlib.sha256(data).hexdigest()
    assert digest.size_bytes == len(data)
    assert [(p.number, p.offset, p.length) for p in digest.parts] == [
        (1, 0, 5 * MiB),
        (2, 5 * MiB, 5 * MiB),
        (3, 10 * MiB, len(data) - 10 * MiB),
    ]
    assert [p.sha256_b64 for p in digest.parts] == [b64(hashlib.sha256(c).digest()) for c in chunks]
    assert [p.md5_b64 for p in digest.parts] == [
        b64(hashlib.md5(c, usedforsecurity=False).digest()) for c in chunks
    ]
    joined = b"".join(hashlib.sha256(c).digest() for c in chunks)
    assert digest.composite_b64 == f"{b64(hashlib.sha256(joined).digest())}-3"


def test_hash_file_exact_multiple_and_single(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * (10 * MiB))
    assert len(hash_file(path, 5 * MiB).parts) == 2
    single = hash_file(path, None)
    assert single.parts == []
    assert single.md5_b64 == b64(hashlib.md5(b"a" * (10 * MiB), usedforsecurity=False).digest())


def test_file_slice_is_a_seekable_window(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    with FileSlice(path, 3, 4) as window:
        assert len(window) == 4
        assert window.read(2) == b"34"
        assert window.read() == b"56"
        assert window.read() == b""
        assert window.seek(0, io.SEEK_END) == 4
        window.seek(1)
        assert window.tell() == 1
        assert window.read(100) == b"456"
        with pytest.raises(OSError, match="fileno"):
            window.fileno()


def test_part_size_grows_only_past_ten_thousand_parts() -> None:
    assert part_size_for(1000 * MiB, 16 * MiB) == 16 * MiB
    assert part_size_for(200_000 * MiB, 16 * MiB) == 20 * MiB


def test_composite_and_etag_parsing() -> None:
    assert split_composite("abc=-3") == ("abc=", 3)
    assert split_composite("abc=") == ("abc=", None)
    assert etag_parts('"d41d8cd98f00b204e9800998ecf8427e-12"') == 12
    assert etag_parts('"d41d8cd98f00b204e9800998ecf8427e"') is None


@pytest.fixture
def client() -> Any:
    return make_client(endpoint_url="http://127.0.0.1:9", access_key_id="k", secret_access_key="s")


@pytest.fixture
def small_file(tmp_path: Path) -> tuple[Path, str, str]:
    path = tmp_path / "a.wav"
    path.write_bytes(b"voice" * 100)
    data = path.read_bytes()
    return path, hashlib.sha256(data).hexdigest(), b64(hashlib.md5(data).digest())  # noqa: S324


def put_params(**extra: Any) -> dict[str, Any]:
    return {"Bucket": "archive", "Key": "k", "Body": ANY, "ContentLength": 500, **extra}


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_single_put_sends_md5_sha256_sse_and_metadata(
    client: Any, stub: Stubber, small_file: tuple[Path, str, str]
) -> None:
    path, sha, md5 = small_file
    store = ObjectStore("archive", endpoint_url="http://s3.local", client=client, checksum="sha256")
    stub.add_response(
        "put_object",
        {"VersionId": "v1", "ChecksumSHA256": b64(bytes.fromhex(sha))},
        put_params(
            ContentMD5=md5,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=b64(bytes.fromhex(sha)),
            ServerSideEncryption="AES256",
            ContentType="audio/wav",
            Metadata={"recording-id": "r1", "sha256": sha},
        ),
    )

    result = store.put_file(
        "k", path, sha256=sha.upper(), content_type="audio/wav", metadata={"recording-id": "r1"}
    )

    assert (result.version_id, result.parts, result.multipart) == ("v1", 1, False)


def test_sse_none_and_checksum_auto_on_a_custom_endpoint_send_neither(
    client: Any, stub: Stubber, small_file: tuple[Path, str, str]
) -> None:
    path, sha, md5 = small_file
    store = ObjectStore("archive", endpoint_url="http://s3.local", client=client, sse="none")
    stub.add_response("put_object", {}, put_params(ContentMD5=md5, Metadata={"sha256": sha}))

    assert store.put_file("k", path, sha256=sha).version_id is None


def test_kms_key_and_object_lock(
    client: Any, stub: Stubber, small_file: tuple[Path, str, str]
) -> None:
    path, sha, md5 = small_file
    until = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    store = ObjectStore("archive", client=client, sse="aws:kms", kms_key_id="alias/rec")
    assert store.checksums_enabled  # AWS itself: auto means SHA-256
    stub.add_response(
        "put_object",
        {"VersionId": "v1"},
        put_params(
            ContentMD5=md5,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=b64(bytes.fromhex(sha)),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId="alias/rec",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=until,
            Metadata={"sha256": sha},
        ),
    )
    stub.add_response(
        "head_object",
        {"ContentLength": 500, "ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until},
    )

    store.put_file("k", path, sha256=sha, retain_until=until, lock_mode="COMPLIANCE")


def test_retention_dropped_by_the_store_is_applied(
    client: Any, stub: Stubber, small_file: tuple[Path, str, str]
) -> None:
    path, sha, _ = small_file
    until = datetime.now(UTC) + timedelta(days=1)
    store = ObjectStore("archive", endpoint_url="http://s3.local", client=client)
    stub.add_response("put_object", {"VersionId": "v1"})
    stub.add_response("head_object", {"ContentLength": 500})
    stub.add_response(
        "put_object_retention",
        {},
        {
            "Bucket": "archive",
            "Key": "k",
            "VersionId": "v1",
            "Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": until},
        },
    )
    stub.add_response(
        "head_object",
        {"ContentLength": 500, "ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until},
    )

    store.put_file("k", path, sha256=sha, retain_until=until, lock_mode="GOVERNANCE")


def test_lock_arguments_go_together(client: Any, small_file: tuple[Path, str, str]) -> None:
    path, sha, _ = small_file
    store = ObjectStore("archive", client=client)
    with pytest.raises(ValueError, match="together"):
        store.put_file("k", path, sha256=sha, retain_until=datetime.now(UTC))
    with pytest.raises(ValueError, match="timezone"):
        store.put_file(
            "k",
            path,
            sha256=sha,
            retain_until=datetime(2030, 1, 1),
            lock_mode="GOVERNANCE",
        )


def test_failed_part_aborts_the_upload(client: Any, stub: Stubber, tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"z" * (11 * MiB))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    store = ObjectStore(
        "archive",
        endpoint_url="http://s3.local",
        client=client,
        multipart_threshold_bytes=5 * MiB,
        part_size_bytes=5 * MiB,
        max_concurrency=1,
    )
    stub.add_response("create_multipart_upload", {"UploadId": "u1"})
    stub.add_response("upload_part", {"ETag": '"e1"'})
    stub.add_client_error("upload_part", "InternalError", "try again", 500)
    stub.add_response(
        "abort_multipart_upload", {}, {"Bucket": "archive", "Key": "k", "UploadId": "u1"}
    )

    with pytest.raises(ObjectStoreError, match="InternalError"):
        store.put_file("k", path, sha256=sha)
