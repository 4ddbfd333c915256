"""One real-browser test: ``recvault serve-api`` started as users start it, Debian's chromium
driven by Playwright signs in with a token, searches, opens a recording and plays it: the
player loads the Opus derivative straight from the object store (moto's S3 server) through the
presigned link.

Playwright's own browser downloads are never used: the test drives ``/usr/bin/chromium``
(``scripts/setup`` installs it) and skips, saying why, where it cannot be had.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.auditor import AuditorArchive
from tests.fixtures.s3 import AWS_TEST_ENV

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("auditor")]

CHROMIUM = Path("/usr/bin/chromium")
START_TIMEOUT_S = 120  # importing the app on a loaded 2-core machine takes a while


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served_api(auditor_archive: AuditorArchive, tmp_path: Path) -> Iterator[str]:
    """``recvault serve-api`` in a child process over the shared archive; its base URL."""
    settings = auditor_archive.settings
    port = _free_port()
    env = {
        **os.environ,
        **AWS_TEST_ENV,
        "RECVAULT_S3_BUCKET": auditor_archive.bucket,
        "RECVAULT_S3_ENDPOINT_URL": auditor_archive.moto.endpoint_url,
        "RECVAULT_DATABASE_URL": auditor_archive.catalog_url,
        "RECVAULT_DATA_DIR": str(settings.data_dir),
        "RECVAULT_AUDITOR_TOKENS": str(settings.resolved_auditor_tokens),
        "RECVAULT_AUDITOR_URL_TTL_S": str(settings.auditor_url_ttl_s),
    }
    log = (tmp_path / "serve-api.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "recvault", "serve-api", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, (tmp_path / "serve-api.log").read_text()
            try:
                if httpx.get(f"{base}/api/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "recvault serve-api did not start in time"
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize("auditor_archive", ["sqlite"], indirect=True)
def test_browser_signs_in_searches_and_plays_from_the_presigned_link(
    auditor_archive: AuditorArchive, served_api: str, report: Callable[[str], None]
) -> None:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip("no /usr/bin/chromium: scripts/setup installs it (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    wanted = auditor_archive.recordings[0]
    store = auditor_archive.moto.endpoint_url
    media: list[tuple[str, int]] = []

    with sync_api.sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on(
                "response",
                lambda r: media.append((r.url, r.status)) if r.url.startswith(store) else None,
            )
            page.goto(served_api + "/")
            assert page.url == served_api + "/sign-in"
            page.fill("#token", auditor_archive.tokens["auditor"])
            page.click("button[type=submit]")
            page.wait_for_url(served_api + "/search")

            page.fill("input[name=conversation_id]", str(wanted["conversationId"]))
            page.click("#search button[type=submit]")
            page.wait_for_selector("#results")
            found = page.inner_text("#result-count")
            page.click(f"#results a:text-is('{wanted['recordingId']}')")
            page.wait_for_url(f"**/recordings/{wanted['recordingId']}")

            page.wait_for_function(
                "document.getElementById('media').readyState >= 1", timeout=60_000
            )
            player = page.evaluate(
                """() => { const m = document.getElementById('media');
                    return {src: m.currentSrc, duration: m.duration, ready: m.readyState,
                            error: m.error ? m.error.code : null, tag: m.tagName}; }"""
            )
            sha_cells = page.locator("#objects td.hash").all_inner_texts()
        finally:
            browser.close()

    assert found.endswith("recording(s)") and int(found.split()[0]) >= 1
    assert player["tag"] == "AUDIO" and player["error"] is None and player["ready"] >= 1
    assert player["src"].startswith(store) and "X-Amz-Signature=" in player["src"]
    assert player["duration"] > 0
    loaded = [(url, status) for url, status in media if "X-Amz-Signature=" in url]
    assert loaded and all(status in (200, 206) for _, status in loaded), media
    with auditor_archive.open_catalog() as catalog:
        objects = {o.kind: o for o in catalog.objects(str(wanted["recordingId"]))}
        events = [e.event for e in catalog.audit_events(str(wanted["recordingId"]))]
    assert objects["transcoded"].key in player["src"]
    assert {o.sha256 for o in objects.values()} <= set(sha_cells)
    assert events[-2:] == ["auditor_view", "auditor_playback"]
    report(
        f"browser: chromium signed in, search found {found}, opened {wanted['recordingId']}; "
        f"<audio> loaded the transcoded object from the store: readyState={player['ready']}, "
        f"duration={player['duration']:.2f}s, {len(loaded)} media response(s) with status "
        f"{sorted({s for _, s in loaded})}"
    )
