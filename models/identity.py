"""Participant identities: one normal form for matching, and a keyed hash for the evidence.

Infobip sends a phone number as digits (``447700900825``), people type it with a plus, spaces
or an international ``00`` prefix; SIP, WebRTC and e-mail identities differ only in case. Erase
requests, participant holds and searches therefore compare *normal forms*:

- a phone number (digits with an optional ``+``, ``00`` or ``tel:`` in front, and spaces,
  dots, dashes, slashes or parentheses between) becomes E.164, ``+`` and 7 to 15 digits; a
  national number (a leading single ``0``) keeps its digits, since its country is unknown;
- anything else (``sip:``, WebRTC ids, e-mail addresses) is stripped and lower-cased.

The catalog keeps what the source sent, so a query matches any of ``identity_variants``.

The audit log is never erased, so it names a person only by ``identity_hmac``: HMAC-SHA-256 of
the normal form under ``RECVAULT_IDENTITY_KEY``, a secret that lives in the settings and never
in the catalog. A plain SHA-256 of a phone number is reversed by trying every number; the HMAC
is not, without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_PHONE = re.compile(r"(?:tel:)?[\s(]*\+?[\d\s().\-/]{6,32}", re.IGNORECASE)
_SIP = ("sip:", "sips:")


def normalize_identity(value: str) -> str:
    """The normal form of a participant identity (see the module docstring)."""
    text = value.strip()
    if _PHONE.fullmatch(text):
        digits = re.sub(r"\D", "", text)
        bare = text.lower().removeprefix("tel:").lstrip(" (")
        if bare.startswith("00") and not bare.startswith("+"):
            digits = digits[2:]
        elif not bare.startswith("+") and digits.startswith("0"):
            return digits  # national: no country to make it E.164
        if 7 <= len(digits) <= 15:
            return "+" + digits
        return digits
    return text.casefold()


def identity_variants(value: str) -> list[str]:
    """The stored spellings (lower-cased) that mean the same identity as ``value``."""
    norm = normalize_identity(value)
    found = {norm, value.strip().lower()}
    if norm.startswith("+"):
        found |= {norm[1:], "00" + norm[1:], "tel:" + norm}
    for prefix in _SIP:
        if norm.startswith(prefix):
            found.add(norm.removeprefix(prefix))
        elif "@" in norm and not norm.startswith(_SIP):
            found.add(prefix + norm)
    return sorted(found)


def identity_hmac(value: str, *, key: str) -> str:
    """The keyed hash that stands for a person in the audit log (of the normal form)."""
    return hmac.new(
        key.encode("utf-8"), normalize_identity(value).encode("utf-8"), hashlib.sha256
    ).hexdigest()
