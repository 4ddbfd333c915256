"""verify(): which evidence is trusted, and that it never silently degrades."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from models.errors import ChecksumMismatch, ObjectStoreError
from storage.s3.client import make_client
from storage.s3.objects import ChecksumMode
from storage.s3.store import ObjectStore

DATA = b"recording bytes " * 1000
SHA = hashlib.sha256(DATA).hexdigest()
SHA_B64 = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
COMPOSITE = base64.b64encode(hashlib.sha256(b"parts").digest()).decode()


def make_store(checksum: ChecksumMode) -> tuple[ObjectStore, Stubber]:
    client = make_client(
        endpoint_url="http://127.0.0.1:9", access_key_id="k", secret_access_key="s"
    )
    return ObjectStore(
        "archive", endpoint_url="http://127.0.0.1:9", client=client, checksum=checksum
    ), Stubber(client)


@pytest.fixture
def sha_store() -> Iterator[tuple[ObjectStore, Stubber]]:
    store, stub = make_store("sha256")
    with stub:
        yield store, stub
        stub.assert_no_pending_responses()


def head(**extra: Any) -> dict[str, Any]:
    return {"ContentLength": len(DATA), "VersionId": "v1", "ETag": '"abc"', **extra}


def body(data: bytes = DATA) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentLength": len(data)}


def verify(store: ObjectStore, sha: str = SHA) -> str:
    return store.verify("k", version_id="v1", sha256=sha, size_bytes=len(DATA)).method


def test_single_part_checksum_is_enough(sha_store: tuple[ObjectStore, Stubber]) -> None:
    store, stub = sha_store
    stub.add_response(
        "head_object",
        head(ChecksumSHA256=SHA_B64),
        {"Bucket": "archive", "Key": "k", "VersionId": "v1", "ChecksumMode": "ENABLED"},
    )
    assert verify(store) == "checksum"


def test_single_part_checksum_mismatch(sha_store: tuple[ObjectStore, Stubber]) -> None:
    store, stub = sha_store
    other = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    stub.add_response("head_object", head(ChecksumSHA256=other))
    with pytest.raises(ChecksumMismatch, match=hashlib.sha256(b"x").hexdigest()):
        verify(store)


def test_no_checksum_from_the_store_means_reread(sha_store: tuple[ObjectStore, Stubber]) -> None:
    store, stub = sha_store
    stub.add_response("head_object", head())
    stub.add_response("get_object", body(), {"Bucket": "archive", "Key": "k", "VersionId": "v1"})
    assert verify(store) == "reread"


def test_reread_mismatch_is_reported(sha_store: tuple[ObjectStore, Stubber]) -> None:
    store, stub = sha_store
    stub.add_response("head_object", head())
    stub.add_response("get_object", body(DATA[:-1] + b"!"))
    with pytest.raises(ChecksumMismatch, match="reads back as"):
        verify(store)


@pytest.mark.parametrize(
    "stored",
    [f"{COMPOSITE}-3", COMPOSITE],  # AWS appends the part count; moto does not
)
def test_composite_checksum_matches_recorded_parts(
    sha_store: tuple[ObjectStore, Stubber], stored: str
) -> None:
    store, stub = sha_store
    meta = {"sha256": SHA, "sha256-parts": f"{COMPOSITE}-3"}
    stub.add_response("head_object", head(ETag='"abc-3"', ChecksumSHA256=stored, Metadata=meta))
    assert verify(store) == "checksum"


@pytest.mark.parametrize(
    "meta",
    [
        {},  # uploaded by something else: no recorded composite
        {"sha256": SHA, "sha256-parts": f"{COMPOSITE}-4"},  # part count differs
        {"sha256": "0" * 64, "sha256-parts": f"{COMPOSITE}-3"},  # recorded for other bytes
    ],
)
def test_unconfirmed_composite_falls_back_to_reread(
    sha_store: tuple[ObjectStore, Stubber], meta: dict[str, str]
) -> None:
    store, stub = sha_store
    stub.add_response(
        "head_object", head(ETag='"abc-3"', ChecksumSHA256=f"{COMPOSITE}-3", Metadata=meta)
    )
    stub.add_response("get_object", body())
    assert verify(store) == "reread"


def test_size_mismatch_needs_no_reread(sha_store: tuple[ObjectStore, Stubber]) -> None:
    store, stub = sha_store
    stub.add_response("head_object", head(ContentLength=5, ChecksumSHA256=SHA_B64))
    with pytest.raises(ChecksumMismatch, match="has 5 bytes"):
        verify(store)


def test_missing_object(sha_store: tuple[ObjectStore, Stubber]) -> None:
    store, stub = sha_store
    stub.add_client_error("head_object", "404", "Not Found", 404)
    with pytest.raises(ObjectStoreError, match="missing"):
        verify(store)


def test_checksum_off_ignores_a_returned_checksum_and_rereads() -> None:
    store, stub = make_store("off")
    with stub:
        stub.add_response(
            "head_object",
            head(ChecksumSHA256=SHA_B64),
            {"Bucket": "archive", "Key": "k", "VersionId": "v1"},  # no ChecksumMode
        )
        stub.add_response("get_object", body())
        assert verify(store) == "reread"
        stub.assert_no_pending_responses()


def test_head_reports_sha256_from_metadata_or_full_object_checksum() -> None:
    store, stub = make_store("sha256")
    with stub:
        stub.add_response("head_object", head(Metadata={"sha256": SHA.upper()}))
        stub.add_response("head_object", head(ChecksumSHA256=SHA_B64))
        stub.add_response("head_object", head(ETag='"abc-2"', ChecksumSHA256=f"{COMPOSITE}-2"))
        infos = [store.head("k") for _ in range(3)]
    assert [i.sha256 if i else None for i in infos] == [SHA, SHA, None]
    assert [i.multipart if i else None for i in infos] == [False, False, True]
