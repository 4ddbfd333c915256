"""Participant identities: one normal form for every spelling, and a keyed hash (issue 9,
findings 7 and 8)."""

from __future__ import annotations

import hashlib

import pytest

from models.identity import identity_hmac, identity_variants, normalize_identity

KEY = "k" * 32


@pytest.mark.parametrize(
    "spelling",
    [
        "+447700900825",
        "447700900825",
        "00447700900825",
        " +44 7700 900825 ",
        "tel:+447700900825",
        "(+44) 7700-900825",
        "+44.7700.900.825",
    ],
)
def test_phone_numbers_become_e164(spelling: str) -> None:
    assert normalize_identity(spelling) == "+447700900825"
    assert identity_hmac(spelling, key=KEY) == identity_hmac("447700900825", key=KEY)


def test_other_identities_ignore_case() -> None:
    assert normalize_identity("SIP:Alice@Example.com") == "sip:alice@example.com"
    assert normalize_identity(" Agent.Smith@Example.COM") == "agent.smith@example.com"
    assert normalize_identity("WebRTC-User-42") == "webrtc-user-42"
    assert normalize_identity("07700 900825") == "07700900825"  # national: no country known


def test_variants_cover_the_spellings_a_source_stores() -> None:
    assert {"+447700900825", "447700900825", "00447700900825"} <= set(
        identity_variants("+44 7700 900825")
    )
    assert "alice@example.com" in identity_variants("sip:Alice@example.com")
    assert "sip:alice@example.com" in identity_variants("ALICE@example.com")


def test_the_keyed_hash_cannot_be_recomputed_without_the_key() -> None:
    keyed = identity_hmac("+447700900825", key=KEY)
    assert keyed != hashlib.sha256(b"+447700900825").hexdigest()
    assert keyed != hashlib.sha256(b"447700900825").hexdigest()
    assert keyed != identity_hmac("+447700900825", key="another-key-of-32-characters!!!!")
    assert len(keyed) == 64
