"""Which rule applies to a recording, and why (``recvault retention explain``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.policy.facts import RecordingFacts
from models.policy.rules import Policy
from models.source import RecordingMetadata, datetime_to_epoch_ms
from models.tables import Recording
from storage.infobip.conversations import to_source_recording

REPO = Path(__file__).resolve().parents[2]
STARTED = datetime(2024, 2, 29, 10, 30, tzinfo=UTC)

POLICY = Policy.loads(
    """
[[rules]]
name = "video-inbound"
retention = "2y"
match = { media_type = "AUDIO_AND_VIDEO", direction = "INBOUND" }

[[rules]]
name = "fx-desk"
retention = "5y"
match = { queue = ["FX-Desk", "rates-desk"] }

[[rules]]
name = "vip"
retention = "3y"
match = { tags = ["vip"], participant_type = "customer" }

[[rules]]
name = "video"
retention = "1y"
match = { media_type = ["AUDIO_AND_VIDEO"] }

[[rules]]
name = "rest"
retention = "90d"
"""
)


def facts(**kw: Any) -> RecordingFacts:
    base: dict[str, Any] = {"media_type": "AUDIO", "started_at": STARTED}
    return RecordingFacts(**(base | kw))


@pytest.mark.parametrize(
    ("kw", "rule"),
    [
        ({}, "rest"),
        ({"media_type": "AUDIO_AND_VIDEO", "direction": "INBOUND"}, "video-inbound"),
        ({"media_type": "AUDIO_AND_VIDEO", "direction": "OUTBOUND"}, "video"),
        ({"media_type": "AUDIO_AND_VIDEO"}, "video"),  # no direction never passes a direction key
        ({"queues": frozenset({"fx-desk"})}, "fx-desk"),  # case-insensitive
        ({"queues": frozenset({"other", "rates-desk"})}, "fx-desk"),
        ({"queues": frozenset({"other"})}, "rest"),
        ({"tags": frozenset({"VIP"}), "participant_type": "CUSTOMER"}, "vip"),
        ({"tags": frozenset({"vip"}), "participant_type": "AGENT"}, "rest"),  # all keys must pass
        # First match wins: fx-desk comes before video.
        ({"media_type": "AUDIO_AND_VIDEO", "queues": frozenset({"fx-desk"})}, "fx-desk"),
    ],
)
def test_first_matching_rule_wins(kw: dict[str, Any], rule: str) -> None:
    match = POLICY.match(facts(**kw))
    assert match.rule.name == rule
    assert match.index == [r.name for r in POLICY.rules].index(rule)


def test_match_reasons_name_the_passing_keys() -> None:
    m = POLICY.match(facts(media_type="AUDIO_AND_VIDEO", direction="INBOUND"))
    assert m.reasons == [
        "media_type AUDIO_AND_VIDEO matches ['AUDIO_AND_VIDEO']",
        "direction INBOUND matches ['INBOUND']",
    ]
    m = POLICY.match(facts(queues=frozenset({"fx-desk", "x"})))
    assert m.reasons == ["queue ['fx-desk'] matches ['FX-Desk', 'rates-desk']"]
    assert POLICY.match(facts()).reasons == ["catch-all: no match keys"]


def test_explain_walks_every_rule_in_order() -> None:
    lines = POLICY.explain(facts(media_type="AUDIO_AND_VIDEO", direction="OUTBOUND"))
    assert lines == [
        "rule 1 'video-inbound': no match: media_type AUDIO_AND_VIDEO matches "
        "['AUDIO_AND_VIDEO']; direction OUTBOUND not in ['INBOUND']",
        "rule 2 'fx-desk': no match: queue [] has none of ['FX-Desk', 'rates-desk']",
        "rule 3 'vip': no match: participant_type (none) not in ['CUSTOMER']; "
        "tags [] has none of ['vip']",
        "rule 4 'video': MATCH: media_type AUDIO_AND_VIDEO matches ['AUDIO_AND_VIDEO']",
        "rule 5 'rest': not tried (rule 4 matched first)",
        "=> 'video': keep 1y; no object lock; source copy: delete never; storage STANDARD; "
        "derivative auto; retain until 2025-02-28",
    ]


def test_explain_catch_all() -> None:
    lines = POLICY.explain(facts())
    assert lines[-2] == "rule 5 'rest': MATCH: catch-all: no match keys"
    assert lines[-1].endswith("retain until 2024-05-29")


def _metadata(**extra: Any) -> RecordingMetadata:
    data: dict[str, Any] = {
        "recordingId": "rec-1",
        "conversationId": "conv-1",
        "direction": "inbound",
        "participantType": "customer",
        "mediaType": "AUDIO_AND_VIDEO",
        "startedAt": datetime_to_epoch_ms(STARTED),
        "composed": True,
        "transferredFromQueue": "fx-desk",
    }
    return RecordingMetadata.model_validate(data | extra)


def _facts(meta: RecordingMetadata) -> RecordingFacts:
    return RecordingFacts.from_source(to_source_recording(meta))


def test_facts_from_metadata() -> None:
    f = _facts(_metadata(queueId="q-42", tags=["VIP", "complaint"]))
    assert f.media_type == "AUDIO_AND_VIDEO"
    assert f.direction == "INBOUND"
    assert f.participant_type == "CUSTOMER"
    assert f.started_at == STARTED
    assert f.queues == {"fx-desk", "q-42"}
    assert f.tags == {"VIP", "complaint", "composed", "transferred"}


def test_facts_from_metadata_without_optional_fields() -> None:
    meta = RecordingMetadata.model_validate({"recordingId": "r", "startedAt": 0})
    f = _facts(meta)
    assert (f.media_type, f.direction, f.participant_type) == ("AUDIO", None, None)
    assert f.queues == frozenset() and f.tags == frozenset()


def test_facts_from_comma_separated_tag_names() -> None:
    f = _facts(_metadata(tagNames="vip, complaint,,", composed=False))
    assert f.tags == {"vip", "complaint", "transferred"}


def test_facts_from_row_match_facts_from_metadata() -> None:
    meta = _metadata(queue="q-7", tagNames=["gold"])
    row = Recording(
        recording_id="rec-1",
        direction="INBOUND",
        participant_type="CUSTOMER",
        media_type="AUDIO_AND_VIDEO",
        started_at=STARTED,
        composed=True,
        transferred_from_queue="fx-desk",
        raw=meta.model_dump(mode="json", by_alias=True),
    )
    assert RecordingFacts.from_row(row) == _facts(meta)
    assert RecordingFacts.from_row(row).queues == {"fx-desk", "q-7"}


def test_mifid_example_matches_as_intended() -> None:
    policy = Policy.load(REPO / "examples" / "policy-mifid2.toml")
    assert policy.match(facts()).rule.name == "mifid2-desk"
    assert policy.match(facts(media_type="AUDIO_AND_VIDEO")).rule.name == "mifid2-desk"
    extended = policy.match(facts(tags=frozenset({"mifid-extended"})))
    assert extended.rule.name == "mifid2-extended"
    assert (
        "retain until 2031-02-28" in policy.explain(facts(tags=frozenset({"mifid-extended"})))[-1]
    )


def test_gdpr_example_matches_as_intended() -> None:
    policy = Policy.load(REPO / "examples" / "policy-gdpr-support.toml")
    assert policy.match(facts()).rule.name == "support-calls"
    assert policy.match(facts(tags=frozenset({"Complaint"}))).rule.name == "complaints"
    meta = _metadata(tags=["complaint"])
    assert policy.match(_facts(meta)).rule.name == "complaints"
