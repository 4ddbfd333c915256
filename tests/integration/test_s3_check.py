"""Bucket self-check against moto's S3 server over real HTTP."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from models.errors import BucketNotFound, BucketPolicyError, ObjectStoreError
from storage.s3.check import PROBE_KEY
from tests.fixtures.s3 import MakeBucket, MakeStore

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

pytestmark = pytest.mark.integration


def probe_versions(client: S3Client, bucket: str) -> list[str]:
    resp = client.list_object_versions(Bucket=bucket, Prefix=".recvault-selfcheck/")
    return [v["VersionId"] for v in resp.get("Versions", [])] + [
        m["VersionId"] for m in resp.get("DeleteMarkers", [])
    ]


def test_versioned_object_lock_bucket_passes(
    s3_bucket: str, make_store: MakeStore, s3_client: S3Client
) -> None:
    store = make_store(s3_bucket, checksum="sha256")

    report = store.ensure_usable(require_object_lock=True, require_versioning=True)

    assert report.exists
    assert report.versioning == "Enabled"
    assert report.object_lock is True
    assert report.default_retention is None
    assert report.encryption is None
    assert report.sha256_checksums is True
    assert report.problems == []
    assert {state for _, _, state in report.rows()} <= {"ok"}
    assert probe_versions(s3_client, s3_bucket) == []  # the probe cleaned up after itself


def test_plain_bucket_reports_what_is_missing(
    make_bucket: MakeBucket, make_store: MakeStore
) -> None:
    bucket = make_bucket(object_lock=False, versioning=False)
    store = make_store(bucket)

    report = store.check_bucket(require_object_lock=True, require_versioning=True)

    assert (report.versioning, report.object_lock) == (None, False)
    assert len(report.problems) == 2
    rows = {check: (value, state) for check, value, state in report.rows()}
    assert rows["versioning"] == ("never enabled", "fail")
    assert rows["object lock"] == ("disabled", "fail")
    # Not required: the same gaps are warnings, not problems.
    relaxed = store.check_bucket()
    assert relaxed.problems == []
    assert {c: s for c, _, s in relaxed.rows()}["object lock"] == "warn"
    with pytest.raises(BucketPolicyError) as raised:
        store.ensure_usable(require_object_lock=True, require_versioning=True)
    message = str(raised.value)
    assert bucket in message
    assert "versioning" in message and "put-bucket-versioning" in message
    assert "Object Lock" in message and "put-object-lock-configuration" in message
    assert "\n" not in message


def test_default_retention_and_encryption_are_reported(
    make_bucket: MakeBucket, make_store: MakeStore, s3_client: S3Client
) -> None:
    bucket = make_bucket(default_retention=("GOVERNANCE", 30))
    s3_client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    store = make_store(bucket, checksum="sha256")

    first = store.check_bucket(require_object_lock=True, require_versioning=True)
    second = store.check_bucket(require_object_lock=True, require_versioning=True)

    assert first.default_retention == "GOVERNANCE 30 days"
    assert first.encryption == "AES256"
    assert first.sha256_checksums and second.sha256_checksums
    # Default retention locks the probe; the second check reuses it instead of adding one.
    assert len(probe_versions(s3_client, bucket)) == 1
    assert any(PROBE_KEY in note for note in first.notes)


def test_checksum_off_writes_nothing(
    s3_bucket: str, make_store: MakeStore, s3_client: S3Client
) -> None:
    store = make_store(s3_bucket, checksum="off")

    report = store.check_bucket()

    assert report.sha256_checksums is False
    assert "not probed" in report.checksum_probe
    assert s3_client.list_object_versions(Bucket=s3_bucket).get("Versions", []) == []
    assert {c: s for c, _, s in report.rows()}["sha256 checksums"] == "warn"


def test_auto_mode_on_a_custom_endpoint_suggests_sha256(
    s3_bucket: str, make_store: MakeStore
) -> None:
    report = make_store(s3_bucket, checksum="auto").check_bucket()

    assert report.sha256_checksums is True
    assert report.checksums_used is False
    assert any("RECVAULT_S3_CHECKSUM=sha256" in note for note in report.notes)


def test_missing_bucket(make_store: MakeStore) -> None:
    store = make_store("rv-test-does-not-exist")

    with pytest.raises(BucketNotFound) as raised:
        store.check_bucket()
    message = str(raised.value)
    assert "rv-test-does-not-exist" in message
    assert store.where in message


def test_unreachable_endpoint(make_store: MakeStore) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    store = make_store("any-bucket", endpoint_url="http://127.0.0.1:9")

    with pytest.raises(
        ObjectStoreError, match=re.escape("cannot reach S3 at http://127.0.0.1:9")
    ) as raised:
        store.check_bucket()
    assert raised.value.retryable
