"""botocore failures become models.errors at the S3 seam, one line each, with a fix."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from models.errors import (
    BucketNotFound,
    BucketPolicyError,
    LegalHoldActive,
    ObjectStoreError,
    RetentionNotExpired,
    StorageError,
)
from storage.s3.client import make_client, translate_error
from storage.s3.store import ObjectStore

ENDPOINT = "http://127.0.0.1:9"


def client_error(
    code: str, status: int, message: str = "boom", op: str = "PutObject"
) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, op)


def translate(exc: Exception) -> StorageError:
    op = exc.operation_name if isinstance(exc, ClientError) else "PutObject"
    return translate_error(exc, op=op, bucket="archive", endpoint=ENDPOINT, key="k/a.wav")


@pytest.mark.parametrize(
    ("exc", "kind", "retryable", "hint"),
    [
        (client_error("NoSuchBucket", 404), BucketNotFound, False, "RECVAULT_S3_BUCKET"),
        (client_error("404", 404, op="HeadBucket"), BucketNotFound, False, "create it"),
        (client_error("SlowDown", 503), ObjectStoreError, True, "retry later"),
        (client_error("InternalError", 500), ObjectStoreError, True, "retry later"),
        (client_error("Weird", 502), ObjectStoreError, True, "retry later"),
        (client_error("TooManyRequests", 429), ObjectStoreError, True, "retry later"),
        (client_error("BadDigest", 400), ObjectStoreError, True, "retry later"),
        (client_error("InvalidAccessKeyId", 403), StorageError, False, "AWS_ACCESS_KEY_ID"),
        (client_error("SignatureDoesNotMatch", 403), StorageError, False, "AWS_SECRET_ACCESS_KEY"),
        (client_error("AccessDenied", 403), StorageError, False, "permission"),
        (client_error("NotImplemented", 501), StorageError, False, "RECVAULT_S3_CHECKSUM=off"),
        (client_error("RequestTimeTooSkewed", 403), StorageError, False, "clock"),
        (
            client_error("InvalidRequest", 400, "Bucket is missing ObjectLockConfiguration"),
            BucketPolicyError,
            False,
            "Object Lock",
        ),
        (client_error("NoSuchKey", 404), StorageError, False, "not found"),
        (client_error("MalformedXML", 400), StorageError, False, "MalformedXML"),
        (EndpointConnectionError(endpoint_url=ENDPOINT), ObjectStoreError, True, "network"),
        (ConnectTimeoutError(endpoint_url=ENDPOINT), ObjectStoreError, True, "network"),
        (ReadTimeoutError(endpoint_url=ENDPOINT), ObjectStoreError, True, "network"),
        (NoCredentialsError(), StorageError, False, "set AWS_ACCESS_KEY_ID"),
        (ParamValidationError(report="bad\nparam"), StorageError, False, "bad param"),
    ],
)
def test_translation(exc: Exception, kind: type[StorageError], retryable: bool, hint: str) -> None:
    error = translate(exc)

    assert type(error) is kind
    assert error.retryable is retryable
    assert hint in str(error)
    assert "\n" not in str(error)


def test_not_implemented_is_not_retried_although_5xx() -> None:
    assert not translate(client_error("NotImplemented", 501)).retryable


@pytest.fixture
def stubbed() -> Iterator[tuple[ObjectStore, Stubber]]:
    client = make_client(
        endpoint_url=ENDPOINT, access_key_id="k", secret_access_key="s", max_attempts=1
    )
    store = ObjectStore("archive", endpoint_url=ENDPOINT, client=client, checksum="sha256")
    with Stubber(client) as stub:
        yield store, stub
        stub.assert_no_pending_responses()


def test_head_missing_is_none_and_denied_is_an_error(
    stubbed: tuple[ObjectStore, Stubber],
) -> None:
    store, stub = stubbed
    stub.add_client_error("head_object", "404", "Not Found", 404)
    stub.add_client_error("head_object", "AccessDenied", "Forbidden", 403)

    assert store.head("k") is None
    with pytest.raises(StorageError, match="access denied for HeadObject on s3://archive/k"):
        store.head("k")


def test_delete_refusal_names_the_lock(stubbed: tuple[ObjectStore, Stubber]) -> None:
    store, stub = stubbed
    until = datetime.now(UTC) + timedelta(days=2)
    stub.add_client_error("delete_object", "AccessDenied", "Access Denied", 403)
    stub.add_response(
        "head_object",
        {
            "ContentLength": 1,
            "VersionId": "v1",
            "ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": until,
        },
    )
    stub.add_client_error("delete_object", "AccessDenied", "Access Denied", 403)
    stub.add_response(
        "head_object", {"ContentLength": 1, "VersionId": "v1", "ObjectLockLegalHoldStatus": "ON"}
    )
    stub.add_client_error("delete_object", "AccessDenied", "Access Denied", 403)
    stub.add_response("head_object", {"ContentLength": 1, "VersionId": "v1"})

    with pytest.raises(RetentionNotExpired, match="COMPLIANCE"):
        store.delete_version("k", version_id="v1")
    with pytest.raises(LegalHoldActive):
        store.delete_version("k", version_id="v1")
    with pytest.raises(StorageError, match="access denied for DeleteObject"):
        store.delete_version("k", version_id="v1")


def test_missing_bucket_on_upload(stubbed: tuple[ObjectStore, Stubber], tmp_path: Path) -> None:
    store, stub = stubbed
    path = tmp_path / "a"
    path.write_bytes(b"abc")
    stub.add_client_error("put_object", "NoSuchBucket", "The specified bucket does not exist", 404)

    with pytest.raises(
        BucketNotFound, match=re.escape("'archive' does not exist at http://127.0.0.1:9")
    ):
        store.put_file(
            "k", path, sha256="ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )


def test_no_credentials_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = ObjectStore("archive", endpoint_url=ENDPOINT)

    with pytest.raises(StorageError) as raised:
        store.head("k")

    assert str(raised.value) == (
        f"no usable AWS credentials for {ENDPOINT}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
    assert not raised.value.retryable
