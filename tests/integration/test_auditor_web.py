"""The auditor web page over httpx against the ASGI app: sign-in with a token, search form and
results, a recording's page with its player, hashes, history and export, and the hold button
that only the compliance officer gets."""

from __future__ import annotations

import html
import re

import pytest

from tests.fixtures.auditor import AppClient, AuditorArchive

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("auditor")]


def sign_in(web: AppClient, token: str) -> None:
    response = web.post("/sign-in", data={"token": token})
    assert response.status_code == 303 and response.headers["location"] == "/search"


def test_pages_need_a_signed_in_token(web_app: AppClient, auditor_archive: AuditorArchive) -> None:
    response = web_app.get("/search")
    assert response.status_code == 303 and response.headers["location"] == "/sign-in"
    form = web_app.get("/sign-in")
    assert form.status_code == 200 and 'name="token"' in form.text
    for token in ("rva_wrong", auditor_archive.tokens["expired"]):
        refused = web_app.post("/sign-in", data={"token": token})
        assert refused.status_code == 401
        assert 'class="error"' in refused.text
        assert "recvault_auditor" not in web_app.cookies


def test_auditor_searches_and_opens_a_recording_with_player_hashes_and_history(
    web_app: AppClient, auditor_archive: AuditorArchive
) -> None:
    response = web_app.post("/sign-in", data={"token": auditor_archive.tokens["auditor"]})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert auditor_archive.tokens["auditor"] not in response.text

    wanted = auditor_archive.recordings[0]
    page = web_app.get("/search", params={"conversation_id": wanted["conversationId"]})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    links = re.findall(r'href="/recordings/([^"]+)"', page.text)
    legs = [
        e["recordingId"]
        for e in auditor_archive.recordings
        if e["conversationId"] == wanted["conversationId"]
    ]
    assert sorted(links) == sorted(legs)

    detail = web_app.get(f"/recordings/{wanted['recordingId']}")
    assert detail.status_code == 200
    player = re.search(r'<audio id="media" controls preload="metadata" src="([^"]+)"', detail.text)
    assert player is not None
    src = html.unescape(player.group(1))
    assert src.startswith(auditor_archive.moto.endpoint_url) and "X-Amz-Signature=" in src
    with auditor_archive.open_catalog() as catalog:
        objects = catalog.objects(wanted["recordingId"])
        events = catalog.audit_events(wanted["recordingId"])
    for obj in objects:
        assert obj.sha256 in detail.text
    # The history shows the chain up to this very view; the playback link came after it.
    assert [e.event for e in events[-2:]] == ["auditor_view", "auditor_playback"]
    assert events[-2].hash in detail.text and events[-1].hash not in detail.text
    assert 'id="hold-form"' not in detail.text  # auditors do not place holds

    export = web_app.get(f"/recordings/{wanted['recordingId']}/export")
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    assert {d["kind"] for d in export.json()["downloads"]} == {"original", "transcoded"}

    refused = web_app.post(
        f"/recordings/{wanted['recordingId']}/hold", data={"reason": "x", "case": "y"}
    )
    assert refused.status_code == 403 and "only a compliance officer" in refused.text


def test_officer_places_and_releases_a_hold_from_the_page(
    web_app: AppClient, auditor_archive: AuditorArchive
) -> None:
    sign_in(web_app, auditor_archive.tokens["officer"])
    recording_id = auditor_archive.recordings[1]["recordingId"]
    page = web_app.get(f"/recordings/{recording_id}")
    assert 'id="hold-form"' in page.text
    placed = web_app.post(
        f"/recordings/{recording_id}/hold",
        data={"scope": "call", "reason": "regulator request", "case": "REG-1"},
    )
    assert placed.status_code == 303
    after = web_app.get(placed.headers["location"])
    assert "legal hold #" in after.text and "placed (case REG-1)" in after.text
    hold_id = re.search(r'action="/holds/(\d+)/release"', after.text)
    assert hold_id is not None
    with auditor_archive.open_catalog() as catalog:
        assert catalog.holds_covering(recording_id) == [int(hold_id.group(1))]
    released = web_app.post(
        f"/holds/{hold_id.group(1)}/release", data={"recording_id": recording_id}
    )
    assert released.status_code == 303
    assert "released" in web_app.get(released.headers["location"]).text
    with auditor_archive.open_catalog() as catalog:
        assert catalog.holds_covering(recording_id) == []
        hold = catalog.list_holds(include_released=True)[-1]
        assert (hold.scope_kind, hold.placed_by) == ("call", "auditor-api:bob")


def test_bad_input_on_the_page_is_one_line_not_a_traceback(
    web_app: AppClient, auditor_archive: AuditorArchive
) -> None:
    sign_in(web_app, auditor_archive.tokens["auditor"])
    bad = web_app.get("/search", params={"since": "last tuesday"})
    assert bad.status_code == 400
    assert "since must be an ISO 8601 date" in bad.text and "Traceback" not in bad.text
    missing = web_app.get("/recordings/nope")
    assert missing.status_code == 404 and "recording nope is not in the catalog" in missing.text
