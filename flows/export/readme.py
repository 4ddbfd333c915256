"""The README inside an evidence bundle: how to check it by hand, without recvault."""

from __future__ import annotations

README_TEMPLATE = """\
recvault evidence bundle
========================

Exported {exported_at} by {actor}.
Recordings: {recordings}. Files: {files}. Recording bytes: {bytes:,}.
Audit events: {events}, ids {first_event} to {last_event}.
Covering anchor: {anchor_line}

What is in here
---------------
recordings/<recording id>/   the archived objects, byte for byte as they are in the bucket
                             (original = what Infobip served; transcoded = a derivative)
catalog/recordings.json      the catalog's record of each recording: metadata, objects with
                             bucket, key, version id, size and SHA-256, and the legal holds
audit/events.jsonl           every audit event about these recordings (and their holds), one
                             JSON object per line, with prev_hash and hash
audit/anchor.json            the audit anchor that covers those events, as stored in the bucket
                             under Object Lock (audit/anchor-source.json says where)
export.json                  who exported what, when, and with which filters
SHA256SUMS                   the SHA-256 of every file above

1. The files are the ones exported
----------------------------------
Unzip the bundle and, in the folder it made, run

    sha256sum -c SHA256SUMS

Every line must end in "OK". (On macOS: shasum -a 256 -c SHA256SUMS.)

2. The recordings are the ones archived
---------------------------------------
For each recording, catalog/recordings.json gives the SHA-256 recvault computed while
downloading it from Infobip ("source_sha256") and the SHA-256 of each archived object. The
line for recordings/<id>/original.* in SHA256SUMS must show the same value as
"source_sha256" and as the original object's "sha256": the bytes in this bundle are the
bytes Infobip served. The export itself re-hashed every object while copying it and stopped
if any differed from the catalog.

3. The audit events are the ones recorded
-----------------------------------------
Each event's "hash" is SHA-256 of its "prev_hash" (empty for the first event) followed by
the canonical JSON of these fields: at, recording_id, event, from_state, to_state, actor,
detail; keys sorted, no spaces (separators "," and ":"), non-ASCII characters as they are.
This recomputes every hash in audit/events.jsonl (Python 3):

    import hashlib, json
    for line in open("audit/events.jsonl", encoding="utf-8"):
        e = json.loads(line)
        body = {{k: e[k] for k in ("at", "recording_id", "event", "from_state",
                                   "to_state", "actor", "detail")}}
        body["at"] = e["at"].replace("Z", "+00:00")
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        ok = hashlib.sha256(((e["prev_hash"] or "") + text).encode()).hexdigest() == e["hash"]
        print(e["id"], "OK" if ok else "MISMATCH")

The events here are a selection of the whole chain, so the links between them
("prev_hash") point at events of other recordings that are not included. The anchor
(audit/anchor.json: "sequence" is the id of the last event it covers, "hash" that event's
hash) was written to the bucket under Object Lock, where whoever can change the database
cannot change it. `recvault audit verify`, run against the archive, walks the whole chain and
checks it against every anchor, this one included.

4. The export is on the record
------------------------------
The export itself is an audit event ("evidence_exported") whose detail holds the SHA-256 of
this bundle's SHA256SUMS file:

    sha256sum SHA256SUMS

must print the "manifest_sha256" of that event (recvault audit log --event evidence_exported).
"""
