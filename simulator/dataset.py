"""Seeded generation of recording metadata: conversations of 1-3 participant legs.

All names, identities and phone numbers are fake (reserved fictional number ranges, example.com).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from simulator.scenario import Scenario

MediaFormat = Literal["wav", "mp3", "mp4"]
TONE_VARIANTS = 8

_FIRST = [
    "Ada",
    "Bram",
    "Chloe",
    "Dmitri",
    "Elif",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kaia",
    "Luca",
    "Mira",
    "Nils",
    "Olga",
]
_LAST = [
    "Abbott",
    "Berg",
    "Costa",
    "Dahl",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Horvat",
    "Jansen",
    "Kovac",
    "Lind",
    "Moreau",
    "Novak",
]
_QUEUES = ["Support", "Billing", "Sales", "Escalations", "Retention"]


@dataclass
class SimRecording:
    """One metadata element (participant leg) and how its media is made."""

    index: int
    element: dict[str, Any]
    media_format: MediaFormat
    tone: int
    size_bytes: int | None = None
    appeared_at: float = 0.0  # clock time it became visible (inserted recordings arrive later)

    @property
    def recording_id(self) -> str:
        return str(self.element["recordingId"])

    @property
    def is_video(self) -> bool:
        return bool(self.element["mediaType"] == "AUDIO_AND_VIDEO")

    @property
    def started_at_ms(self) -> int:
        return int(self.element["startedAt"])


@dataclass
class _Participant:
    participant_id: str
    identity: str
    name: str
    kind: Literal["CUSTOMER", "AGENT"]


class DataSetBuilder:
    """Makes conversations; ``stream`` separates the initial set from later arrivals."""

    def __init__(self, scenario: Scenario, *, stream: str = "initial") -> None:
        self.scenario = scenario
        self.rng = random.Random(f"{scenario.seed}:{stream}")
        self.next_index = 0
        self.next_id = 1

    def initial(self) -> list[SimRecording]:
        recordings: list[SimRecording] = []
        start_ms = _epoch_ms(self.scenario.start_at)
        spacing_ms = int(self.scenario.spacing_s * 1000)
        conversation = 0
        while len(recordings) < self.scenario.count:
            jitter = self.rng.randint(0, spacing_ms // 3)
            started = start_ms + conversation * spacing_ms + jitter
            remaining = self.scenario.count - len(recordings)
            recordings.extend(self.conversation(started, max_legs=remaining))
            conversation += 1
        return recordings

    def conversation(self, started_at_ms: int, *, max_legs: int = 3) -> list[SimRecording]:
        rng = self.rng
        sc = self.scenario
        legs = rng.choices([1, 2, 3], weights=sc.legs_weights)[0]
        legs = max(1, min(legs, max_legs))
        composed = legs > 1 and rng.random() < sc.composed_ratio
        video = rng.random() < sc.video_ratio
        fmt: MediaFormat = "mp4" if video else ("mp3" if rng.random() < sc.mp3_ratio else "wav")
        conversation_id = self._uuid()
        conference_id = self._uuid()
        direction = rng.choice(["INBOUND", "INBOUND", "OUTBOUND"])
        total_s = rng.randint(sc.duration_min_s, max(sc.duration_min_s, sc.duration_max_s))
        people = [self._customer()] + [self._agent() for _ in range(legs - 1)]
        queues = rng.sample(_QUEUES, 2)

        # Leg timing: agents join a little after the customer; a third leg is a transfer.
        offsets_s = [0] + [rng.randint(2, 30) for _ in range(legs - 1)]
        if legs == 3:
            offsets_s[2] = offsets_s[1] + max(1, (total_s - offsets_s[1]) // 2)
        ends_s = [total_s, offsets_s[2] if legs == 3 else total_s, total_s][:legs]

        shown = [people[0]] if composed else people
        out: list[SimRecording] = []
        for leg, person in enumerate(shown):
            duration = max(1, ends_s[leg] - offsets_s[leg]) if not composed else total_s
            element = self._element(
                person=person,
                conversation_id=conversation_id,
                conference_id=conference_id,
                direction=direction,
                composed=composed,
                duration_s=duration,
                started_at_ms=started_at_ms + offsets_s[leg] * 1000,
                media_type="AUDIO_AND_VIDEO" if video else "AUDIO",
                ext=fmt,
            )
            if legs == 3 and not composed and leg in (1, 2):
                element["transferredFromQueue"] = queues[0] if leg == 2 else None
                element["transferredToQueue"] = queues[1] if leg == 1 else None
                element["transferredFrom"] = people[1].participant_id if leg == 2 else None
                element["transferredTo"] = people[2].participant_id if leg == 1 else None
            index = self.next_index
            self.next_index += 1
            out.append(
                SimRecording(
                    index=index,
                    element=element,
                    media_format=fmt,
                    tone=rng.randrange(TONE_VARIANTS),
                    size_bytes=sc.size_bytes.get(index),
                )
            )
        return out

    def _element(
        self,
        *,
        person: _Participant,
        conversation_id: str,
        conference_id: str,
        direction: str,
        composed: bool,
        duration_s: int,
        started_at_ms: int,
        media_type: str,
        ext: str,
    ) -> dict[str, Any]:
        recording_id = self._uuid()
        stamp = datetime.fromtimestamp(started_at_ms / 1000, tz=UTC).strftime("%Y%m%d%H%M%S")
        element: dict[str, Any] = {
            "id": self.next_id,
            "recordingId": recording_id,
            "conversationId": conversation_id,
            "conferenceId": conference_id,
            "callId": self._uuid(),
            "direction": direction,
            "recordingStatus": "SUCCESSFUL",
            "composed": composed,
            "filename": f"{conversation_id}_{person.identity}_{stamp}-{recording_id}.{ext}",
            "duration": duration_s,
            "participantId": person.participant_id,
            "participantIdentity": person.identity,
            "participantName": person.name,
            "participantType": person.kind,
            "mediaType": media_type,
            "startedAt": started_at_ms,
            "deletedAt": None,
            "deletedBy": None,
            "sftpPath": None,
            "transferredFrom": None,
            "transferredTo": None,
            "transferredFromQueue": None,
            "transferredToQueue": None,
        }
        self.next_id += 1
        return element

    def _customer(self) -> _Participant:
        rng = self.rng
        # Fictional ranges: UK 07700 900xxx and US 555-01xx.
        phone = rng.choice(
            [f"447700900{rng.randrange(1000):03d}", f"1202555{rng.randrange(100, 200)}"]
        )
        return _Participant(self._uuid(), phone, self._name(), "CUSTOMER")

    def _agent(self) -> _Participant:
        name = self._name()
        identity = name.lower().replace(" ", ".") + "@agents.example.com"
        return _Participant(self._uuid(), identity, name, "AGENT")

    def _name(self) -> str:
        return f"{self.rng.choice(_FIRST)} {self.rng.choice(_LAST)}"

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
