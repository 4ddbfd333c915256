"""The simulator's data set: deterministic, shaped like Infobip's metadata, exact fault picks."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.source import MetadataPage, RecordingMetadata
from simulator.dataset import DataSetBuilder
from simulator.faults import pick_ids
from simulator.scenario import PRESETS, RecordingPick, Scenario, load_scenario
from simulator.state import SimulatorState


def test_same_seed_same_data_and_other_seed_other_data() -> None:
    first = [r.element for r in DataSetBuilder(Scenario(seed=3, count=30)).initial()]
    again = [r.element for r in DataSetBuilder(Scenario(seed=3, count=30)).initial()]
    other = [r.element for r in DataSetBuilder(Scenario(seed=4, count=30)).initial()]
    assert first == again
    assert {e["recordingId"] for e in first}.isdisjoint({e["recordingId"] for e in other})


@pytest.mark.parametrize("count", [0, 1, 2, 7, 50])
def test_count_is_the_number_of_metadata_elements(count: int) -> None:
    recordings = DataSetBuilder(Scenario(count=count)).initial()
    assert len(recordings) == count
    assert [r.index for r in recordings] == list(range(count))
    assert [r.element["id"] for r in recordings] == list(range(1, count + 1))
    assert len({r.recording_id for r in recordings}) == count


def test_elements_validate_as_the_clients_model() -> None:
    for rec in DataSetBuilder(Scenario(count=40)).initial():
        parsed = RecordingMetadata.model_validate(rec.element)
        assert parsed.recording_id == rec.recording_id
        assert parsed.extension == rec.media_format
        assert parsed.is_video == (rec.media_format == "mp4")


def test_conversations_have_customer_and_agent_legs_sharing_ids() -> None:
    recordings = DataSetBuilder(Scenario(seed=11, count=200)).initial()
    by_conversation: dict[str, list[dict[str, object]]] = defaultdict(list)
    for rec in recordings:
        by_conversation[str(rec.element["conversationId"])].append(rec.element)
    sizes = {len(legs) for legs in by_conversation.values()}
    assert sizes <= {1, 2, 3} and len(sizes) >= 2
    composed = [legs for legs in by_conversation.values() if legs[0]["composed"]]
    assert composed, "some conversations are recorded as one merged file"
    assert all(len(legs) == 1 for legs in composed)
    for legs in by_conversation.values():
        assert len({leg["conferenceId"] for leg in legs}) == 1
        assert len({leg["mediaType"] for leg in legs}) == 1
        assert legs[0]["participantType"] == "CUSTOMER"
        assert all(leg["participantType"] == "AGENT" for leg in legs[1:])
        assert len({leg["callId"] for leg in legs}) == len(legs)
        if len(legs) == 3:
            assert legs[1]["transferredTo"] == legs[2]["participantId"]
            assert legs[2]["transferredFrom"] == legs[1]["participantId"]
            assert legs[2]["transferredFromQueue"] and legs[1]["transferredToQueue"]


def test_ratios_shape_the_media_mix() -> None:
    recordings = DataSetBuilder(Scenario(count=400, video_ratio=0.5, mp3_ratio=0.5)).initial()
    formats = {fmt: sum(r.media_format == fmt for r in recordings) for fmt in ("wav", "mp3", "mp4")}
    assert all(count > 40 for count in formats.values()), formats
    audio_only = DataSetBuilder(Scenario(count=50, video_ratio=0.0, mp3_ratio=0.0)).initial()
    assert {r.media_format for r in audio_only} == {"wav"}


def test_start_and_spacing_place_conversations_in_time() -> None:
    sc = Scenario(count=30, spacing_s=600)
    recordings = DataSetBuilder(sc).initial()
    start_ms = int(sc.start_at.timestamp() * 1000)
    starts = [r.started_at_ms for r in recordings]
    assert min(starts) >= start_ms
    assert max(starts) < start_ms + 30 * 600_000 + 600_000
    assert sc.start == sc.start_at


def test_identities_are_fictional() -> None:
    for rec in DataSetBuilder(Scenario(count=100)).initial():
        identity = str(rec.element["participantIdentity"])
        if rec.element["participantType"] == "CUSTOMER":
            assert identity.startswith(("447700900", "1202555")), identity
        else:
            assert identity.endswith("@agents.example.com")


def test_size_override_applies_to_the_indexed_recording() -> None:
    recordings = DataSetBuilder(Scenario(count=5, size_bytes={3: 10_000_000})).initial()
    assert [r.size_bytes for r in recordings] == [None, None, None, 10_000_000, None]


def test_pick_takes_indices_then_an_exact_count() -> None:
    recordings = DataSetBuilder(Scenario(count=30)).initial()
    pick = RecordingPick(indices=(0, 5), count=4)
    chosen = pick_ids(pick, recordings, seed=1, name="x")
    assert len(chosen) == 6
    assert {recordings[0].recording_id, recordings[5].recording_id} <= chosen
    assert chosen == pick_ids(pick, recordings, seed=1, name="x")
    assert chosen != pick_ids(pick, recordings, seed=1, name="y")
    assert pick_ids(RecordingPick(count=99), recordings, seed=1, name="x") == {
        r.recording_id for r in recordings
    }
    assert pick_ids(RecordingPick(ratio=1.0), recordings, seed=1, name="x") == {
        r.recording_id for r in recordings
    }
    assert not pick_ids(RecordingPick(), recordings, seed=1, name="x")


def test_preparation_failures_are_picked_among_videos_only() -> None:
    sc = Scenario(count=40, video_ratio=0.3, prep_failures=RecordingPick(count=3))
    state = SimulatorState(sc)
    videos = {e["recordingId"] for e in state.recordings() if e["mediaType"] == "AUDIO_AND_VIDEO"}
    assert len(state.picks["prep_failures"]) == 3
    assert state.picks["prep_failures"] <= videos


def test_presets_and_json_files_load(tmp_path: Path) -> None:
    assert set(PRESETS) == {"demo", "clean", "faulty"}
    assert load_scenario("faulty", count=5).count == 5
    assert load_scenario("clean", seed=None).seed == PRESETS["clean"].seed
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"seed": 9, "count": 3, "size_bytes": {"1": 5000}}))
    loaded = load_scenario(str(path))
    assert (loaded.seed, loaded.count, loaded.size_bytes) == (9, 3, {1: 5000})
    page = MetadataPage.model_validate({"elements": SimulatorState(loaded).recordings()})
    assert len(page.elements) == 3


def test_bad_scenarios_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        load_scenario("nope")
    with pytest.raises(ValidationError):
        Scenario(video_ratio=1.5)
    with pytest.raises(ValidationError):
        Scenario.model_validate({"count": 3, "not_a_field": 1})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"rate_limit": {"first_n": -1}}))
    with pytest.raises(ValidationError):
        load_scenario(str(path))
