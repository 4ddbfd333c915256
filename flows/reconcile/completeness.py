"""The completeness report: the reconciliation's figures for a period, per day, written for a
regulator rather than an operator.

Each day says how many recordings Infobip lists, how many the archive holds (archived, with
or without the source copy), how many expired on schedule, how many are still pending, failed
or quarantined, and how many are missing (listed, never catalogued) or lost (catalogued, object
gone from the bucket). The header ties the report to the audit trail: the chain head at the
time of writing, so a later ``recvault audit verify`` can confirm nothing changed since.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flows.reconcile.run import DayFigures, ReconcileReport

# (column title, DayFigures attribute or a function of the day's figures)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("listed by Infobip", "listed"),
    ("in catalog", "in_catalog"),
    ("archived", "held"),
    ("expired", "expired"),
    ("pending", "pending"),
    ("failed", "failed"),
    ("quarantined", "quarantined"),
    ("missing", "missing"),
    ("lost objects", "lost_objects"),
)


def _value(day: DayFigures, name: str) -> int:
    if name == "held":  # a verified copy in the archive, whether or not the source kept its own
        return day.archived + day.source_deleted
    return int(getattr(day, name))


@dataclass(frozen=True)
class CompletenessReport:
    reconcile: ReconcileReport
    generated_at: datetime
    generated_by: str
    catalog: str
    bucket: str
    chain_head: tuple[int, str] | None  # (last event id, its hash)

    @property
    def complete(self) -> bool:
        return self.reconcile.ok

    def conclusion(self) -> str:
        totals = self.reconcile.totals()
        if self.complete:
            return (
                f"Complete: every recording Infobip lists for the period is in the catalog "
                f"({totals.listed} listed), and no archived object is missing from the bucket."
            )
        return (
            f"Incomplete: {totals.missing} recording(s) listed by Infobip are not in the "
            f"catalog and {totals.lost_objects} archived object(s) are missing from the bucket."
        )

    def rows(self) -> list[tuple[str, list[int]]]:
        days = [(f"{d.day}", d) for d in self.reconcile.days]
        return [
            (label, [_value(d, name) for _, name in COLUMNS])
            for label, d in [*days, ("total", self.reconcile.totals())]
        ]

    def as_dict(self) -> dict[str, Any]:
        names = [name for _, name in COLUMNS]
        return {
            "since": self.reconcile.since.isoformat(),
            "until": self.reconcile.until.isoformat(),
            "complete": self.complete,
            "conclusion": self.conclusion(),
            "generated_at": self.generated_at.isoformat(),
            "generated_by": self.generated_by,
            "catalog": self.catalog,
            "bucket": self.bucket,
            "audit_chain_head": None
            if self.chain_head is None
            else {"id": self.chain_head[0], "hash": self.chain_head[1]},
            "days": [
                {"day": label, **dict(zip(names, values, strict=True))}
                for label, values in self.rows()
                if label != "total"
            ],
            "totals": dict(zip(names, self.rows()[-1][1], strict=True)),
            "missing_ids": self.reconcile.missing_ids,
            "lost_objects": self.reconcile.lost_keys,
        }

    def _header(self) -> list[tuple[str, str]]:
        r = self.reconcile
        head = (
            f"event {self.chain_head[0]}, hash {self.chain_head[1]}"
            if self.chain_head
            else "no audit events"
        )
        return [
            ("Period (UTC)", f"{r.since:%Y-%m-%d %H:%M} to {r.until:%Y-%m-%d %H:%M} (exclusive)"),
            ("Generated", f"{self.generated_at:%Y-%m-%d %H:%M:%S} UTC by {self.generated_by}"),
            ("Catalog", self.catalog),
            ("Archive bucket", self.bucket),
            ("Audit chain head", head),
        ]

    def to_markdown(self) -> str:
        titles = [t for t, _ in COLUMNS]
        lines = ["# Recording archive completeness report", ""]
        lines += [f"- **{k}**: {v}" for k, v in self._header()]
        lines += ["", f"**{self.conclusion()}**", ""]
        lines += ["| day | " + " | ".join(titles) + " |", "|---" * (len(titles) + 1) + "|"]
        for label, values in self.rows():
            lines.append(f"| {label} | " + " | ".join(str(v) for v in values) + " |")
        lines += ["", *_NOTES]
        for title, ids in (
            ("Missing recordings", self.reconcile.missing_ids),
            ("Lost objects", self.reconcile.lost_keys),
        ):
            if ids:
                lines += ["", f"{title} (at most 50 shown):", *(f"- `{i}`" for i in ids)]
        return "\n".join(lines) + "\n"

    def to_html(self) -> str:
        esc = html.escape
        head = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in self._header())
        titles = "".join(f"<th>{esc(t)}</th>" for t, _ in COLUMNS)
        body = "".join(
            f"<tr><td>{esc(label)}</td>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>"
            for label, values in self.rows()
        )
        notes = "".join(f"<li>{esc(n.removeprefix('- '))}</li>" for n in _NOTES)
        lists = ""
        for title, ids in (
            ("Missing recordings", self.reconcile.missing_ids),
            ("Lost objects", self.reconcile.lost_keys),
        ):
            if ids:
                items = "".join(f"<li><code>{esc(i)}</code></li>" for i in ids)
                lists += f"<h2>{esc(title)} (at most 50 shown)</h2><ul>{items}</ul>"
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            "<title>Recording archive completeness report</title><style>"
            "body{font-family:sans-serif;font-size:11pt;margin:2em}"
            "table{border-collapse:collapse;margin:1em 0}"
            "th,td{border:1px solid #999;padding:.2em .5em;text-align:right}"
            "table.meta th,table.meta td{text-align:left}"
            "tr:last-child td{font-weight:bold}"
            "@media print{body{margin:0}}"
            "</style></head><body>"
            "<h1>Recording archive completeness report</h1>"
            f"<table class='meta'>{head}</table>"
            f"<p><strong>{esc(self.conclusion())}</strong></p>"
            f"<table><tr><th>day</th>{titles}</tr>{body}</table>"
            f"<ul>{notes}</ul>{lists}</body></html>\n"
        )


_NOTES = (
    "- Days are days of the recording's start, in UTC.",
    "- *listed by Infobip*: what Infobip lists now; a recording whose source copy recvault "
    "deleted after archiving it is no longer listed, so *in catalog* can exceed it.",
    "- *archived*: a verified copy is in the archive bucket (the source copy may be deleted).",
    "- *expired*: the archived copy was deleted when its retention ended; the catalog keeps a "
    "tombstone and the audit trail its deletion certificate.",
    "- *pending*: being archived; *failed* and *quarantined*: stopped, with the reason in "
    "`recvault catalog show`.",
    "- *missing*: listed by Infobip, never catalogued; *lost objects*: catalogued, but the "
    "archived object version is no longer in the bucket.",
)
