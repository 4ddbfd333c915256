"""The auditor API over httpx against the ASGI app the composition root builds, on a real
archive (simulator, moto server, ffmpeg, SQLite and PostgreSQL): authorisation, search, detail,
playback and export links that really serve the archived bytes, holds for officers, and an
audit event for every access."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.fixtures.auditor import URL_TTL_S, AppClient, AuditorArchive

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("auditor")]

CONTRACT = {
    "recording_id",
    "conversation_id",
    "call_id",
    "media_type",
    "started_at",
    "duration_seconds",
    "status",
    "source_sha256",
    "objects",
}
OBJECT_FIELDS = {"bucket", "key", "version_id", "sha256", "size", "kind"}


def bearer(archive: AuditorArchive, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {archive.tokens[role]}"}


def audit_events(archive: AuditorArchive, recording_id: str | None = None) -> list[Any]:
    with archive.open_catalog() as catalog:
        return catalog.audit_events(recording_id)


def sha256_of(url: str) -> tuple[str, int]:
    """Streams the link's body (a recording is never held in memory whole)."""
    digest, size = hashlib.sha256(), 0
    with httpx.stream("GET", url, timeout=30) as response:
        assert response.status_code == 200, response.status_code
        for chunk in response.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def test_openapi_document_describes_the_api_and_its_bearer_auth(api: AppClient) -> None:
    doc = api.get("/api/openapi.json").json()
    assert {
        "/api/v1/recordings",
        "/api/v1/recordings/{recording_id}",
        "/api/v1/recordings/{recording_id}/playback",
        "/api/v1/recordings/{recording_id}/export",
        "/api/v1/holds",
        "/api/v1/holds/{ref}/release",
    } <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert not any(path.startswith(("/search", "/sign-in")) for path in doc["paths"])
    assert CONTRACT - {"objects"} <= set(doc["components"]["schemas"]["RecordingOut"]["required"])


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "sign in: send Authorization: Bearer <token>"),
        ({"Authorization": "Bearer rva_not-a-real-token"}, 401, "unknown token"),
        ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, 401, "sign in"),
        ("expired", 401, "token expired at"),
    ],
)
def test_requests_without_a_valid_token_are_refused_and_leave_no_trace(
    api: AppClient,
    auditor_archive: AuditorArchive,
    headers: dict[str, str] | str,
    status: int,
    message: str,
) -> None:
    if headers == "expired":
        headers = bearer(auditor_archive, "expired")
    assert isinstance(headers, dict)
    before = len(audit_events(auditor_archive))
    for path in ("/api/v1/recordings", f"/api/v1/recordings/{_first(auditor_archive)}/playback"):
        response = api.get(path, headers=headers)
        assert response.status_code == status
        assert response.headers["www-authenticate"] == "Bearer"
        body = response.json()
        assert set(body) == {"error"} and message in body["error"]
        assert "\n" not in body["error"]
    assert len(audit_events(auditor_archive)) == before


def _first(archive: AuditorArchive) -> str:
    return str(archive.recordings[0]["recordingId"])


def test_the_auditor_role_cannot_place_or_release_holds(
    api: AppClient, auditor_archive: AuditorArchive
) -> None:
    conv = auditor_archive.recordings[0]["conversationId"]
    body = {"scope_kind": "conversation", "scope_value": conv, "reason": "r", "case": "C-1"}
    placed = api.post("/api/v1/holds", json=body, headers=bearer(auditor_archive, "auditor"))
    assert placed.status_code == 403
    assert "only a compliance officer" in placed.json()["error"]
    released = api.post("/api/v1/holds/C-1/release", headers=bearer(auditor_archive, "auditor"))
    assert released.status_code == 403
    with auditor_archive.open_catalog() as catalog:
        assert not [h for h in catalog.list_holds(include_released=True) if h.case_ref == "C-1"]


def test_search_answers_the_cli_contract_and_is_audited(
    api: AppClient, auditor_archive: AuditorArchive
) -> None:
    wanted = auditor_archive.recordings[0]
    response = api.get(
        "/api/v1/recordings",
        params={"conversation_id": wanted["conversationId"], "status": "archived"},
        headers=bearer(auditor_archive, "auditor"),
    )
    assert response.status_code == 200, response.text
    rows = response.json()
    legs = [
        e for e in auditor_archive.recordings if e["conversationId"] == wanted["conversationId"]
    ]
    assert sorted(r["recording_id"] for r in rows) == sorted(e["recordingId"] for e in legs)
    for row in rows:
        assert set(row) >= CONTRACT
        assert row["status"] == "ARCHIVED" and row["started_at"].endswith("Z")
        assert {o["kind"] for o in row["objects"]} == {"original", "transcoded"}
        assert all(set(o) >= OBJECT_FIELDS for o in row["objects"])
        original = next(o for o in row["objects"] if o["kind"] == "original")
        assert original["sha256"] == row["source_sha256"]

    everything = api.get(
        "/api/v1/recordings", params={"limit": 2}, headers=bearer(auditor_archive, "auditor")
    ).json()
    assert len(everything) == 2
    # A person named in a filter is not written into the audit trail; that they were is.
    agent = next(e for e in auditor_archive.recordings if e["participantType"] == "AGENT")
    by_agent = api.get(
        "/api/v1/recordings",
        params={"agent": agent["participantIdentity"]},
        headers=bearer(auditor_archive, "auditor"),
    ).json()
    assert agent["conversationId"] in {r["conversation_id"] for r in by_agent}

    searches = [e for e in audit_events(auditor_archive) if e.event == "auditor_search"]
    assert searches[-3].actor == "auditor-api:alice"
    assert searches[-3].detail["filters"] == {
        "conversation_id": wanted["conversationId"],
        "status": "ARCHIVED",
    }
    assert searches[-3].detail["results"] == len(legs)
    assert searches[-1].detail["filters"] == {"agent": "(given)"}
    assert agent["participantIdentity"] not in str(searches[-1].detail)

    # The short ids a table shows find the same rows, as in ``recvault catalog search``.
    short = api.get(
        "/api/v1/recordings",
        params={"conversation_id": wanted["conversationId"][:8] + "*"},
        headers=bearer(auditor_archive, "auditor"),
    )
    assert short.status_code == 200, short.text
    assert sorted(r["recording_id"] for r in short.json()) == sorted(e["recordingId"] for e in legs)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, "since must be an ISO 8601 date"),
        ({"status": "DONE"}, "status 'DONE' is not one of"),
        ({"limit": "0"}, "limit must be between 1 and 1000"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "since must be before until"),
    ],
)
def test_bad_filters_get_one_line_400(
    api: AppClient, auditor_archive: AuditorArchive, params: dict[str, str], message: str
) -> None:
    response = api.get(
        "/api/v1/recordings", params=params, headers=bearer(auditor_archive, "auditor")
    )
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_detail_shows_objects_hashes_history_and_unknown_ids_are_404(
    api: AppClient, auditor_archive: AuditorArchive
) -> None:
    recording_id = _first(auditor_archive)
    response = api.get(
        f"/api/v1/recordings/{recording_id}", headers=bearer(auditor_archive, "auditor")
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["recording"]["recording_id"] == recording_id
    history = found["history"]
    events = [e["event"] for e in history]
    assert events[0] == "discovered" and "archived" in " ".join(events)
    assert history[-1]["event"] == "auditor_view" and history[-1]["actor"] == "auditor-api:alice"
    assert all(len(e["hash"]) == 64 for e in history)
    assert found["holds"] == []

    missing = api.get("/api/v1/recordings/no-such-id", headers=bearer(auditor_archive, "auditor"))
    assert missing.status_code == 404
    assert missing.json() == {"error": "recording no-such-id is not in the catalog"}


def test_playback_link_is_short_lived_and_serves_the_derivative(
    api: AppClient, auditor_archive: AuditorArchive
) -> None:
    recording_id = _first(auditor_archive)
    asked_at = datetime.now(UTC)
    response = api.get(
        f"/api/v1/recordings/{recording_id}/playback", headers=bearer(auditor_archive, "auditor")
    )
    assert response.status_code == 200, response.text
    link = response.json()["link"]
    assert link["kind"] == "transcoded" and link["content_type"]
    url = urlsplit(link["url"])
    assert link["url"].startswith(auditor_archive.moto.endpoint_url)
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == [str(URL_TTL_S)]
    assert query["versionId"] == [link["version_id"]]
    expires_at = datetime.fromisoformat(link["expires_at"])
    assert abs(expires_at - (asked_at + timedelta(seconds=URL_TTL_S))) < timedelta(seconds=30)

    sha, size = sha256_of(link["url"])
    assert (sha, size) == (link["sha256"], link["size"])  # the archived derivative, unaltered

    event = audit_events(auditor_archive, recording_id)[-1]
    assert event.event == "auditor_playback" and event.actor == "auditor-api:alice"
    assert event.detail["kind"] == "transcoded"
    assert event.detail["version_id"] == link["version_id"]
    assert "X-Amz-Signature" not in str(event.detail)  # the link itself is a credential


def test_export_links_download_every_version_with_its_recorded_hash(
    api: AppClient, auditor_archive: AuditorArchive
) -> None:
    recording_id = _first(auditor_archive)
    response = api.get(
        f"/api/v1/recordings/{recording_id}/export", headers=bearer(auditor_archive, "auditor")
    )
    assert response.status_code == 200, response.text
    package = response.json()
    assert package["generated_for"] == "auditor-api:alice"
    assert package["history"][-1]["event"] == "auditor_export"
    downloads = {d["kind"]: d for d in package["downloads"]}
    assert set(downloads) == {"original", "transcoded"}
    for link in downloads.values():
        assert sha256_of(link["url"]) == (link["sha256"], link["size"])
    assert downloads["original"]["sha256"] == package["recording"]["source_sha256"]
    assert (
        "attachment"
        in parse_qs(urlsplit(downloads["original"]["url"]).query)["response-content-disposition"][0]
    )


def test_officer_places_and_releases_a_hold_like_the_cli(
    api: AppClient, auditor_archive: AuditorArchive
) -> None:
    conv = auditor_archive.recordings[-1]["conversationId"]
    legs = [e["recordingId"] for e in auditor_archive.recordings if e["conversationId"] == conv]
    officer = bearer(auditor_archive, "officer")
    body = {"scope_kind": "conversation", "scope_value": conv, "reason": "court", "case": "K-9"}
    placed = api.post("/api/v1/holds", json=body, headers=officer)
    assert placed.status_code == 201, placed.text
    result = placed.json()
    assert result["recordings"] == len(legs)
    assert result["versions"] == 2 * len(legs)  # original and derivative of each leg
    assert result["s3_legal_hold"] == "ON"
    assert result["hold"]["placed_by"] == "auditor-api:bob"

    s3 = auditor_archive.moto.shared
    for recording_id in legs:
        detail = api.get(f"/api/v1/recordings/{recording_id}", headers=officer).json()
        assert [h["case"] for h in detail["holds"]] == ["K-9"]
        for obj in detail["recording"]["objects"]:
            status = s3.get_object_legal_hold(
                Bucket=obj["bucket"], Key=obj["key"], VersionId=obj["version_id"]
            )["LegalHold"]["Status"]
            assert status == "ON"
    listed = api.get("/api/v1/holds", headers=bearer(auditor_archive, "auditor")).json()
    assert [h["case"] for h in listed] == ["K-9"]

    released = api.post("/api/v1/holds/K-9/release", headers=officer)
    assert released.status_code == 200, released.text
    assert released.json()[0]["versions"] == 2 * len(legs)
    obj = detail["recording"]["objects"][0]
    status = s3.get_object_legal_hold(
        Bucket=obj["bucket"], Key=obj["key"], VersionId=obj["version_id"]
    )["LegalHold"]["Status"]
    assert status == "OFF"
    again = api.post("/api/v1/holds/K-9/release", headers=officer)
    assert again.status_code == 400 and "no active legal hold" in again.json()["error"]
    with auditor_archive.open_catalog() as catalog:
        hold = catalog.list_holds(include_released=True)[-1]
        assert (hold.placed_by, hold.released_by) == ("auditor-api:bob", "auditor-api:bob")
        assert catalog.verify_audit_chain() == []
