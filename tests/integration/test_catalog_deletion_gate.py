"""The deletion gate on SQLite and PostgreSQL: a deletion's hold check and its in-progress
marker are one transaction ordered with hold placement (issue 9, finding 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.errors import CatalogLocked
from storage.catalog.store import Catalog
from tests.fixtures.db import T0, make_meta

pytestmark = pytest.mark.integration


def test_a_deletion_and_a_hold_always_see_each_other(catalog: Catalog) -> None:
    catalog.upsert_discovered([make_meta("r1"), make_meta("r2")], at=T0, actor="t")
    gate = catalog.begin_deletion("r1", kind="source", holder="a", at=T0, lease_s=60)
    assert gate.holds == [] and gate.row.recording_id == "r1"
    with pytest.raises(CatalogLocked, match="being deleted by a"):
        catalog.begin_deletion("r1", kind="archive", holder="b", at=T0, lease_s=60)
    # The same holder may go on (the archive after the source); a lapsed lease frees it.
    catalog.begin_deletion("r1", kind="archive", holder="a", at=T0, lease_s=60)
    later = T0 + timedelta(seconds=61)
    assert (
        catalog.begin_deletion("r1", kind="archive", holder="b", at=later, lease_s=60).holds == []
    )
    catalog.end_deletion("r1", holder="b")

    catalog.begin_deletion("r1", kind="source", holder="a", at=T0, lease_s=60)
    hold = catalog.place_hold(
        scope_kind="call", scope_value="call-r1", reason="r", case_ref="K", actor="t", at=T0
    )
    (marker,) = catalog.deletions_in_progress(["r1", "r2"])
    assert (marker.recording_id, marker.holder, marker.kind) == ("r1", "a", "source")
    catalog.end_deletion("r1", holder="a")
    assert catalog.deletions_in_progress(["r1"]) == []

    refused = catalog.begin_deletion("r1", kind="source", holder="a", at=T0, lease_s=60)
    assert refused.holds == [hold.id] and catalog.deletions_in_progress(["r1"]) == []
    assert catalog.begin_deletion("r2", kind="source", holder="a", at=T0, lease_s=60).holds == []
