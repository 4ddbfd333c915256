"""The boto3 S3 client recvault uses, and the one place botocore errors become ours.

The client is built for the lowest common denominator of S3 implementations: boto3's default
CRC checksums are off (``when_required``; since boto3 1.36 they break several S3-compatible
stores), path-style addressing when an endpoint URL is set, standard retries. Stores that
predate flexible checksums still want Content-MD5 on a few operations, so it is added there.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from models.errors import BucketNotFound, BucketPolicyError, ObjectStoreError, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

RETRYABLE_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "BadDigest",  # bytes damaged in flight; the retry hashes the file again first
        "XAmzContentSHA256Mismatch",
        "IncompleteBody",
    }
)
CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
)
MISSING_KEY_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NotFound", "404"})
# botocore sends CRC32 on operations that require a checksum; stores predating flexible
# checksums (older MinIO, Ceph RGW) insist on Content-MD5 for these.
_MD5_REQUIRED_OPERATIONS = ("PutObjectLegalHold", "PutObjectRetention", "DeleteObjects")


def _add_content_md5(request: Any, **_: Any) -> None:
    body = request.body
    if isinstance(body, bytes) and "Content-MD5" not in request.headers:
        digest = hashlib.md5(body, usedforsecurity=False).digest()
        request.headers["Content-MD5"] = base64.b64encode(digest).decode("ascii")


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    max_attempts: int = 5,
    max_pool_connections: int = 16,
) -> S3Client:
    """An S3 client for AWS or an S3-compatible store.

    Credentials default to boto3's chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
    a profile, an instance role).
    """
    config_kwargs: dict[str, Any] = {
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "retries": {"mode": "standard", "max_attempts": max_attempts},
        "connect_timeout": 10,
        "read_timeout": 60,
        "max_pool_connections": max_pool_connections,
        # Requests are SigV4 already; presigned links would otherwise fall back to the legacy
        # SigV2 query form, which AWS refuses in newer regions and caps in no useful way.
        "signature_version": "s3v4",
    }
    if endpoint_url:
        # Virtual-hosted buckets need wildcard DNS, which local and on-premise stores lack.
        config_kwargs["s3"] = {"addressing_style": "path"}
    # A session per client: boto3's default session is not safe to share across threads.
    session = boto3.session.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        region_name=region,
    )
    if endpoint_url and not session.region_name:
        region = "us-east-1"  # signing needs some region; custom stores ignore it
    client = session.client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=Config(**config_kwargs)
    )
    for operation in _MD5_REQUIRED_OPERATIONS:
        client.meta.events.register(f"before-sign.s3.{operation}", _add_content_md5)
    return client


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def translate_error(
    exc: Exception, *, op: str, bucket: str, endpoint: str, key: str | None = None
) -> StorageError:
    """One line that says what went wrong and what to do; never a secret or a signed URL."""
    target = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StorageError(
            f"no usable AWS credentials for {endpoint}: "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, BotoConnectionError | HTTPClientError | IncompleteReadError):
        return ObjectStoreError(
            f"cannot reach S3 at {endpoint} during {op} ({type(exc).__name__}): "
            "check RECVAULT_S3_ENDPOINT_URL and the network"
        )
    if not isinstance(exc, ClientError):
        return StorageError(f"S3 {op} on {target} failed: {one_line(exc)}")
    code, status = error_code(exc), http_status(exc)
    message = one_line(exc.response.get("Error", {}).get("Message", "")) or code
    if code == "NoSuchBucket" or (op == "HeadBucket" and status == 404):
        return BucketNotFound(
            f"bucket {bucket!r} does not exist at {endpoint}: create it or fix RECVAULT_S3_BUCKET"
        )
    if code in CREDENTIAL_CODES:
        return StorageError(
            f"{endpoint} rejected the credentials ({code}): "
            "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if code == "RequestTimeTooSkewed":
        return StorageError(f"{endpoint} refused the request: this machine's clock is off")
    if code == "NotImplemented" or status == 501:
        return StorageError(
            f"{endpoint} does not support {op} as sent ({message}): for S3-compatible stores "
            "try RECVAULT_S3_CHECKSUM=off and RECVAULT_S3_SSE=none"
        )
    if code in RETRYABLE_CODES or status >= 500 or status == 429:
        return ObjectStoreError(f"S3 {op} on {target} failed for now ({code}): retry later")
    if "ObjectLockConfiguration" in message or code == "InvalidBucketObjectLockConfiguration":
        return BucketPolicyError(
            f"bucket {bucket!r} has no Object Lock ({op}): use an Object Lock bucket "
            "or a retention policy without a lock"
        )
    if code == "AccessDenied" or status == 403:
        return StorageError(
            f"access denied for {op} on {target} at {endpoint}: "
            "grant these credentials that permission in the bucket or IAM policy"
        )
    if code in MISSING_KEY_CODES or status == 404:
        return StorageError(f"{target} not found at {endpoint} ({op})")
    return StorageError(f"S3 {op} on {target} failed: {code}: {message}")


@contextmanager
def translated(op: str, *, bucket: str, endpoint: str, key: str | None = None) -> Iterator[None]:
    """Re-raise botocore failures inside the block as ``models.errors``."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, op=op, bucket=bucket, endpoint=endpoint, key=key) from exc
