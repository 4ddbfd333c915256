"""Conversations API (ccaas v1) in the simulator: conversations and their messages.

``GET /ccaas/1/conversations/{conversationId}/messages`` and ``GET /ccaas/1/conversations``,
written from Infobip's published description: ``page`` from 0, ``limit`` (default 10, at most
999), ``orderBy`` ``field:asc|desc`` (default ``id:asc``), an answer of
``{messages|conversations: [...], pagination: {totalItems, page, limit, orderBy}}``, dates as
``2024-01-01T00:00:00.000+00:00``, and the legacy error body. An unknown conversation answers
400 ``NOT_FOUND`` ("Invalid id ... No such entity exists."), as Infobip's own example shows.

Every conversation of the recordings gets seeded messages (and ``chat_conversations`` more
conversations have messages only): chat lines whose bodies and senders hold fake personal data
(names, phone numbers), so tests can check none of it reaches a log. ``add_message`` lets a test
make a new message arrive.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.errors import ApiError

MAX_LIMIT = 999
DEFAULT_LIMIT = 10
_ORDER_FIELDS = ("id", "createdAt", "updatedAt")
_LINES = (
    "Hi, this is {name}, please call me back on {phone}.",
    "My card ending {digits} was charged twice.",
    "Thanks {name}, I can see the payment. One moment please.",
    "Could you confirm your date of birth?",
    "It's {day} March, and my address is {number} Example Street.",
    "I have refunded the second charge; it shows within three days.",
)
BUSINESS_NUMBER = "447700900000"


def infobip_date(at: datetime) -> str:
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+00:00"


def _parse_date(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "+"))
    except ValueError:
        raise _bad(f"{name}: invalid date-time {value!r}") from None
    if parsed.tzinfo is None:
        raise _bad(f"{name}: invalid date-time {value!r}")
    return parsed.astimezone(UTC)


class _Legacy(ApiError):
    """An error with an explicit legacy ``messageId`` (the 400 ``NOT_FOUND`` of an unknown id)."""

    def __init__(self, status: int, message_id: str, text: str) -> None:
        super().__init__(status, text, shape="legacy")
        self.message_id = message_id

    def body(self) -> dict[str, Any]:
        return {
            "requestError": {"serviceException": {"messageId": self.message_id, "text": self.text}}
        }

    @property
    def text(self) -> str:
        return self.message


def _bad(text: str) -> ApiError:
    return _Legacy(400, "BAD_REQUEST", text)


def _int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _bad(f"{name}: {raw!r} is not a number") from None


def _page_of(items: list[dict[str, Any]], params: Mapping[str, str], field: str) -> dict[str, Any]:
    limit = _int(params, "limit", DEFAULT_LIMIT)
    page = _int(params, "page", 0)
    if limit < 0:
        raise _bad("Page size has to be bigger or equal to zero!")
    if limit > MAX_LIMIT:
        raise _bad(f"Page size must not be greater than {MAX_LIMIT}!")
    if page < 0:
        raise _bad("Page number has to be bigger or equal to zero!")
    order = params.get("orderBy", "id:asc")
    name, _, direction = order.partition(":")
    if name not in _ORDER_FIELDS or direction.lower() not in ("", "asc", "desc"):
        raise _bad(f"Invalid orderBy {order!r}")
    ordered = sorted(items, key=lambda item: (str(item.get(name, "")), str(item["id"])))
    if direction.lower() == "desc":
        ordered.reverse()
    shown = ordered[page * limit : (page + 1) * limit] if limit else []
    return {
        field: shown,
        "pagination": {
            "totalItems": len(ordered),
            "page": page,
            "limit": limit,
            "orderBy": f"{name}:{(direction or 'asc').upper()}",
        },
    }


class MessagesState:
    """The conversations' messages; its own lock, like the Calls API's state."""

    def __init__(
        self, seed: int, recordings: Iterable[Mapping[str, Any]], *, chat_conversations: int = 0
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(f"{seed}:messages")
        self._messages: dict[str, list[dict[str, Any]]] = {}
        legs: dict[str, list[Mapping[str, Any]]] = {}
        for element in sorted(recordings, key=lambda e: (e["startedAt"], e["recordingId"])):
            legs.setdefault(str(element["conversationId"]), []).append(element)
        for conversation_id, elements in legs.items():
            start = datetime.fromtimestamp(int(elements[0]["startedAt"]) / 1000, UTC)
            self._messages[conversation_id] = self._seed(conversation_id, elements, start)
        first = min((int(e[0]["startedAt"]) for e in legs.values()), default=0)
        for index in range(chat_conversations):
            conversation_id = self._uuid()
            start = datetime.fromtimestamp(first / 1000, UTC) + timedelta(minutes=7 * index + 3)
            self._messages[conversation_id] = self._seed(conversation_id, [], start)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _seed(
        self, conversation_id: str, legs: list[Mapping[str, Any]], start: datetime
    ) -> list[dict[str, Any]]:
        rng = self._rng
        customer = next((e for e in legs if e.get("participantType") == "CUSTOMER"), None)
        agent = next((e for e in legs if e.get("participantType") == "AGENT"), None)
        name = str(customer["participantName"]) if customer else "Mira Lind"
        phone = str(customer["participantIdentity"]) if customer else "447700900417"
        channel = rng.choice(["WHATSAPP", "SMS", "LIVE_CHAT"])
        bot = self._uuid()  # who answers a conversation without an agent leg
        out: list[dict[str, Any]] = []
        at = start - timedelta(minutes=rng.randint(2, 20))
        for position in range(rng.randint(3, 6)):
            inbound = position % 2 == 0
            text = _LINES[position % len(_LINES)].format(
                name=name,
                phone=phone,
                digits=rng.randint(1000, 9999),
                day=rng.randint(1, 28),
                number=rng.randint(1, 200),
            )
            at += timedelta(seconds=rng.randint(5, 90), milliseconds=rng.randint(0, 999))
            leg = customer if inbound else agent
            out.append(
                self._message(
                    conversation_id,
                    channel=channel,
                    inbound=inbound,
                    phone=phone,
                    author=str(leg["participantId"]) if leg else bot,
                    text=text,
                    at=at,
                )
            )
        return out

    def _message(
        self,
        conversation_id: str,
        *,
        channel: str,
        inbound: bool,
        phone: str,
        author: str,
        text: str,
        at: datetime,
    ) -> dict[str, Any]:
        stamp = infobip_date(at)
        return {
            "id": self._uuid(),
            "channel": channel,
            "from": phone if inbound else BUSINESS_NUMBER,
            "to": BUSINESS_NUMBER if inbound else phone,
            "direction": "INBOUND" if inbound else "OUTBOUND",
            "conversationId": conversation_id,
            "authorId": author,
            "authorType": "CUSTOMER" if inbound else "AGENT",
            "createdAt": stamp,
            "updatedAt": stamp,
            "contentType": "TEXT",
            "content": {"text": text},
        }

    # --- what tests and the demo see ---------------------------------------------------------

    def conversation_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._messages)

    def messages_of(self, conversation_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._messages.get(conversation_id, [])]

    def add_message(self, conversation_id: str, text: str) -> dict[str, Any]:
        """A new inbound message, a minute after the conversation's last one."""
        with self._lock:
            messages = self._messages[conversation_id]
            last = max(datetime.fromisoformat(m["createdAt"]) for m in messages)
            first = messages[0]
            message = self._message(
                conversation_id,
                channel=str(first["channel"]),
                inbound=True,
                phone=str(first["from"] if first["direction"] == "INBOUND" else first["to"]),
                author=str(first["authorId"]),
                text=text,
                at=last + timedelta(minutes=1),
            )
            messages.append(message)
            return dict(message)

    # --- the routes' answers -------------------------------------------------------------------

    def list_messages(self, conversation_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            messages = self._messages.get(conversation_id)
            if messages is None:
                raise _Legacy(
                    400,
                    "NOT_FOUND",
                    f"Invalid id '{conversation_id}' given! No such entity exists.",
                )
            return _page_of([dict(m) for m in messages], params, "messages")

    def list_conversations(self, params: Mapping[str, str]) -> dict[str, Any]:
        after = params.get("updatedAfter")
        before = params.get("updatedBefore")
        since = _parse_date(after, "updatedAfter") if after else None
        until = _parse_date(before, "updatedBefore") if before else None
        with self._lock:
            found = []
            for conversation_id, messages in self._messages.items():
                times = [datetime.fromisoformat(m["createdAt"]) for m in messages]
                updated = max(times)
                if (since and updated < since) or (until and updated > until):
                    continue
                found.append(
                    {
                        "id": conversation_id,
                        "topic": "Support request",
                        "status": "CLOSED",
                        "priority": "NORMAL",
                        "createdAt": infobip_date(min(times)),
                        "updatedAt": infobip_date(updated),
                        "closedAt": infobip_date(updated),
                    }
                )
        return _page_of(found, params, "conversations")
