"""Bucket self-check on stores that lack features, and the one-screen report."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.stub import ANY, Stubber

from models.errors import BucketPolicyError, StorageError
from storage.s3.check import PROBE_KEY, PROBE_SHA256_B64, BucketReport
from storage.s3.client import make_client
from storage.s3.store import ObjectStore


def new_store(checksum: str = "sha256") -> tuple[ObjectStore, Stubber]:
    client = make_client(endpoint_url="http://s3.local", access_key_id="k", secret_access_key="s")
    store = ObjectStore(
        "archive",
        endpoint_url="http://s3.local",
        client=client,
        checksum=checksum,  # type: ignore[arg-type]
    )
    return store, Stubber(client)


@pytest.fixture
def minimal() -> Iterator[tuple[ObjectStore, Stubber]]:
    store, stub = new_store()
    with stub:
        yield store, stub
        stub.assert_no_pending_responses()


def test_minimal_store_features_count_as_absent(minimal: tuple[ObjectStore, Stubber]) -> None:
    store, stub = minimal
    stub.add_response("head_bucket", {})
    stub.add_response("get_bucket_versioning", {})
    stub.add_client_error("get_object_lock_configuration", "NotImplemented", "no", 501)
    stub.add_client_error("get_bucket_encryption", "NotImplemented", "no", 501)
    stub.add_client_error("put_object", "NotImplemented", "x-amz-checksum-sha256", 501)

    report = store.check_bucket(require_object_lock=False, require_versioning=False)

    assert (report.versioning, report.object_lock, report.encryption) == (None, False, None)
    assert report.sha256_checksums is False
    assert report.checksum_probe == "rejected by the store (NotImplemented)"
    # RECVAULT_S3_CHECKSUM=sha256 on a store without it is a problem, with the fix in it.
    assert len(report.problems) == 1
    assert "RECVAULT_S3_CHECKSUM=auto or off" in report.problems[0]
    assert any("GetObjectLockConfiguration is not supported" in n for n in report.notes)


def test_store_that_ignores_the_checksum(minimal: tuple[ObjectStore, Stubber]) -> None:
    store, stub = minimal
    stub.add_response("head_bucket", {})
    stub.add_response("get_bucket_versioning", {"Status": "Enabled"})
    stub.add_client_error(
        "get_object_lock_configuration", "ObjectLockConfigurationNotFoundError", "none", 404
    )
    stub.add_client_error(
        "get_bucket_encryption", "ServerSideEncryptionConfigurationNotFoundError", "none", 404
    )
    stub.add_response(
        "put_object",
        {"VersionId": "p1"},
        {
            "Bucket": "archive",
            "Key": PROBE_KEY,
            "Body": ANY,
            "ContentMD5": ANY,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": PROBE_SHA256_B64,
            "ServerSideEncryption": "AES256",
        },
    )
    stub.add_response("head_object", {"ContentLength": 31, "VersionId": "p1"})
    stub.add_response(
        "delete_object", {}, {"Bucket": "archive", "Key": PROBE_KEY, "VersionId": "p1"}
    )

    with pytest.raises(BucketPolicyError) as raised:
        store.ensure_usable(require_object_lock=True, require_versioning=True)

    message = str(raised.value)
    assert "Object Lock is not enabled" in message
    assert "not returned for the probe object" in message
    assert "versioning is" not in message  # versioning is on: not a problem


def test_denied_configuration_reads_are_notes_not_crashes(
    minimal: tuple[ObjectStore, Stubber],
) -> None:
    store, stub = minimal
    stub.add_response("head_bucket", {})
    stub.add_client_error("get_bucket_versioning", "AccessDenied", "denied", 403)
    stub.add_response(
        "get_object_lock_configuration",
        {
            "ObjectLockConfiguration": {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 7}},
            }
        },
    )
    stub.add_response(
        "get_bucket_encryption",
        {
            "ServerSideEncryptionConfiguration": {
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": "alias/archive",
                        }
                    }
                ]
            }
        },
    )
    # Default retention: an earlier probe is reused, nothing new is written.
    stub.add_response(
        "head_object", {"ContentLength": 31, "VersionId": "p0", "ChecksumSHA256": PROBE_SHA256_B64}
    )

    report = store.check_bucket()

    assert report.default_retention == "COMPLIANCE 7 years"
    assert report.encryption == "aws:kms (alias/archive)"
    assert report.sha256_checksums is True
    assert report.checksum_probe == "supported"
    assert any("GetBucketVersioning was denied" in n for n in report.notes)


def test_missing_bucket_forbidden_bucket() -> None:
    store, stub = new_store()
    with stub:
        stub.add_client_error("head_bucket", "403", "Forbidden", 403)
        with pytest.raises(StorageError, match="access denied for HeadBucket"):
            store.check_bucket()


def report(**changes: object) -> BucketReport:
    base: dict[str, object] = {
        "bucket": "archive",
        "endpoint": "AWS S3",
        "exists": True,
        "versioning": "Enabled",
        "object_lock": True,
        "default_retention": None,
        "encryption": "AES256",
        "sha256_checksums": True,
        "checksums_used": True,
        "checksum_probe": "supported",
    }
    return BucketReport(**{**base, **changes})  # type: ignore[arg-type]


def states(r: BucketReport) -> dict[str, str]:
    return {check: state for check, _, state in r.rows()}


def test_rows_all_ok() -> None:
    assert set(states(report()).values()) == {"ok"}
    assert [check for check, _, _ in report().rows()] == [
        "bucket",
        "versioning",
        "object lock",
        "default retention",
        "encryption",
        "sha256 checksums",
    ]


def test_rows_required_missing_fail_optional_missing_warn() -> None:
    missing = {"versioning": "Suspended", "object_lock": False}
    assert states(report(**missing, require_versioning=True, require_object_lock=True)) == {
        **states(report()),
        "versioning": "fail",
        "object lock": "fail",
    }
    relaxed = states(report(**missing))
    assert (relaxed["versioning"], relaxed["object lock"]) == ("warn", "warn")


def test_rows_checksums_and_encryption() -> None:
    assert states(report(sha256_checksums=False, checksum_mode="sha256"))["sha256 checksums"] == (
        "fail"
    )
    assert states(report(sha256_checksums=False, checksum_mode="off"))["sha256 checksums"] == "warn"
    assert states(report(checksums_used=False))["sha256 checksums"] == "warn"
    assert states(report(encryption=None, upload_sse="none"))["encryption"] == "warn"
    assert states(report(encryption=None))["encryption"] == "ok"  # uploads send AES256
