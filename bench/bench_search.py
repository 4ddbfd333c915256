"""Search latency over a catalog of synthetic recordings, on SQLite and on PostgreSQL.

    uv run python bench/bench_search.py [--rows 100000] [--repeat 40] [--plans]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test] [--no-pg] [--no-sqlite]
        [--keep-db NAME] [--only TEXT]

Fills a migrated catalog with synthetic rows by bulk insert (two legs per conversation, an
agent and a customer; a year of start times; most archived with one object; an audit event
per recording; the words of each name; the recording total), vacuums and analyzes it, then
times each kind of search ``recvault catalog search`` offers, through ``Catalog.find`` as the
CLI calls it (the page, the total count when paged, and the objects), with fresh random
values each repetition, and prints p50 and p95 in milliseconds, the rows returned and how
many matched in all (medians). SQLite uses a temporary file; PostgreSQL a fresh database that
is dropped afterwards, or with ``--keep-db`` the named database, filled only if it has no
recordings yet and kept (filling a million rows takes minutes; quote figures from a fresh
fill). ``--only`` times the searches whose name contains the text. ``--plans`` prints each
search's query plan (EXPLAIN QUERY PLAN / EXPLAIN).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from models.search import AuditQuery, IdMatch, RecordingQuery, name_words
from models.tables import ArchivedObject, AuditEvent, ParticipantWord, Recording
from storage.catalog.search import audit_statement, recordings_statement
from storage.catalog.store import Catalog

FIRST = ["Hugo", "Ana", "Zoé", "Liam", "Maya", "Omar", "Ines", "Noah", "Lea", "Yuki", "Ravi", "Ida"]
LAST = ["Martin", "Silva", "Ng", "Novak", "Rossi", "Khan", "Berg", "Costa", "Meyer", "Tanaka"]
QUEUES = [f"queue-{n}" for n in range(20)]
STATES = ["ARCHIVED"] * 17 + ["FAILED", "DISCOVERED", "SOURCE_DELETED"]
T0 = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 5000

Search = Callable[[random.Random], RecordingQuery | AuditQuery]


def synthetic_rows(count: int, seed: int = 7) -> Iterator[tuple[dict[str, object], ...]]:
    """(recording, object or None, audit event) per recording, two legs per conversation."""
    rnd = random.Random(seed)
    agents = [(f"agent-{n}", f"{rnd.choice(FIRST)} {rnd.choice(LAST)}") for n in range(300)]
    for n in range(count):
        if n % 2 == 0:  # a new conversation: its agent leg, then its customer leg
            last_conversation = uuid.UUID(int=rnd.getrandbits(128)).hex
            started = T0 + timedelta(seconds=rnd.randrange(365 * 86400))
            direction = rnd.choice(["INBOUND", "OUTBOUND"])
            queue = rnd.choice(QUEUES) if rnd.random() < 0.3 else None
            video = rnd.random() < 0.1
        agent = n % 2 == 0
        agent_id, agent_name = rnd.choice(agents)
        state = rnd.choice(STATES)
        rid = uuid.UUID(int=rnd.getrandbits(128)).hex
        phone = f"44770{rnd.randrange(10**7):07d}"
        rec: dict[str, object] = {
            "recording_id": rid,
            "source": "conversations",
            "conversation_id": last_conversation,
            "call_id": uuid.UUID(int=rnd.getrandbits(128)).hex,
            "direction": direction,
            "composed": False,
            "duration_s": rnd.randrange(5, 3600),
            "participant_id": agent_id if agent else None,
            "participant_identity": f"{agent_id}@example.com" if agent else phone,
            "participant_name": agent_name if agent else f"{rnd.choice(FIRST)} {rnd.choice(LAST)}",
            "participant_type": "AGENT" if agent else "CUSTOMER",
            "media_type": "AUDIO_AND_VIDEO" if video else "AUDIO",
            "started_at": started + timedelta(seconds=n % 2),
            "transferred_from_queue": queue,
            "state": state,
            "attempts": 1,
            "last_error": "source answered 404" if state == "FAILED" else None,
            "source_sha256": f"{rnd.getrandbits(256):064x}",
            "discovered_at": started,
            "updated_at": started,
            "archived_at": started if state in ("ARCHIVED", "SOURCE_DELETED") else None,
        }
        obj = None
        if rec["archived_at"] is not None:
            obj = {
                "recording_id": rid,
                "kind": "original",
                "bucket": "archive",
                "key": f"recordings/{started:%Y/%m/%d}/{last_conversation}/{rid}/original.wav",
                "version_id": uuid.uuid4().hex,
                "size_bytes": rnd.randrange(10**5, 10**7),
                "sha256": rec["source_sha256"],
                "created_at": started,
            }
        event = {
            "at": started,
            "recording_id": rid,
            "event": "failed" if state == "FAILED" else "discovered",
            "actor": "bench",
            "detail": {},
            "hash": f"{rnd.getrandbits(256):064x}",
        }
        yield rec, obj, event  # type: ignore[misc]


def copy_rows(conn: sa.Connection, table: str, rows: list[dict[str, object]]) -> None:
    """PostgreSQL's COPY: several times faster than a multi-row INSERT for a million rows."""
    names = list(rows[0])
    columns = ", ".join(f'"{name}"' for name in names)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in row.values()])


def fill(catalog: Catalog, count: int) -> None:
    engine = catalog._engine  # bulk insert below the catalog's one-row-at-a-time API
    tables = (
        Recording.__table__,  # type: ignore[attr-defined]
        ArchivedObject.__table__,  # type: ignore[attr-defined]
        AuditEvent.__table__,  # type: ignore[attr-defined]
        ParticipantWord.__table__,  # type: ignore[attr-defined]
    )
    batches: list[list[dict[str, object]]] = [[], [], [], []]

    def flush() -> None:
        with engine.begin() as conn:
            for table, rows in zip(tables, batches, strict=True):
                if rows and conn.dialect.name == "postgresql":
                    copy_rows(conn, table.name, rows)
                elif rows:
                    conn.execute(sa.insert(table), rows)
                rows.clear()

    for rec, obj, event in synthetic_rows(count):
        batches[0].append(rec)
        if obj is not None:
            batches[1].append(obj)
        batches[2].append(event)
        for word in name_words(str(rec["participant_name"])):
            batches[3].append({"word": word, "recording_id": rec["recording_id"]})
        if len(batches[0]) >= BATCH:
            flush()
    flush()
    with engine.begin() as conn:
        # What upsert_discovered keeps, for the rows inserted below it.
        conn.execute(sa.text("UPDATE recording_totals SET recordings = :n"), {"n": count})
    # Statistics, and on PostgreSQL the visibility map autovacuum would have set on a catalog
    # in use (index-only scans depend on it). VACUUM cannot run in a transaction; SQLite's
    # ANALYZE must commit in one (the catalog's engine begins them itself).
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def samples(engine: sa.Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:

        def pick(sql: str) -> list[str]:
            return [str(v) for v in conn.execute(sa.text(sql)).scalars() if v]

        return {
            "conversation": pick("SELECT conversation_id FROM recordings LIMIT 2000"),
            "recording": pick("SELECT recording_id FROM recordings LIMIT 2000"),
            "call": pick("SELECT call_id FROM recordings LIMIT 2000"),
            "phone": pick(
                "SELECT participant_identity FROM recordings "
                "WHERE participant_type = 'CUSTOMER' LIMIT 2000"
            ),
        }


def searches(ids: dict[str, list[str]]) -> dict[str, Search]:
    def day(r: random.Random) -> datetime:
        return T0 + timedelta(days=r.randrange(360))

    def spaced(phone: str) -> str:
        return f"+{phone[:2]} {phone[2:6]} {phone[6:]}"

    return {
        "conversation id": lambda r: RecordingQuery(
            conversation_id=IdMatch(r.choice(ids["conversation"]))
        ),
        "conversation prefix (8)": lambda r: RecordingQuery(
            conversation_id=IdMatch(r.choice(ids["conversation"])[:8], prefix=True)
        ),
        "recording prefix (8)": lambda r: RecordingQuery(
            recording_id=IdMatch(r.choice(ids["recording"])[:8], prefix=True)
        ),
        "call id": lambda r: RecordingQuery(call_id=IdMatch(r.choice(ids["call"]))),
        "participant phone": lambda r: RecordingQuery(participant=spaced(r.choice(ids["phone"]))),
        "agent first name, 1 month": lambda r: RecordingQuery(
            agent=r.choice(FIRST).lower(),
            since=(d := day(r)),
            until=d + timedelta(days=30),
            limit=50,
        ),
        "agent surname, page of 50": lambda r: RecordingQuery(agent=r.choice(LAST), limit=50),
        "agent id": lambda r: RecordingQuery(agent=f"agent-{r.randrange(300)}", limit=50),
        "one day": lambda r: RecordingQuery(since=(d := day(r)), until=d + timedelta(days=1)),
        "status FAILED, 1 month": lambda r: RecordingQuery(
            status="FAILED", since=(d := day(r)), until=d + timedelta(days=30)
        ),
        "queue + video, page of 50": lambda r: RecordingQuery(
            queue=r.choice(QUEUES), media_type="AUDIO_AND_VIDEO", limit=50
        ),
        "newest first, page of 50": lambda r: RecordingQuery(
            sort="started", descending=True, limit=50, offset=r.randrange(10) * 50
        ),
        "audit log of a recording": lambda r: AuditQuery(
            recording_id=IdMatch(r.choice(ids["recording"]))
        ),
        "audit log: failed, 1 week": lambda r: AuditQuery(
            event="failed", since=(d := day(r)), until=d + timedelta(days=7)
        ),
    }


def run_search(catalog: Catalog, query: RecordingQuery | AuditQuery) -> tuple[int, int]:
    """(rows returned, rows matching in all)."""
    if isinstance(query, AuditQuery):
        found = len(catalog.audit_log(query))
        return found, found
    result = catalog.find(query, widen=False)
    return len(result.rows), result.total


def plan(engine: sa.Engine, query: RecordingQuery | AuditQuery) -> list[str]:
    dialect = engine.dialect.name
    if isinstance(query, AuditQuery):
        stmt = audit_statement(query, dialect)
    else:
        stmt = recordings_statement(query, dialect)
    sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if dialect == "sqlite":
            return [str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
        return [str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + sql)]


def bench(
    label: str, url: str, rows: int, repeat: int, show_plans: bool, only: str | None = None
) -> None:
    catalog = Catalog.open(url)
    try:
        with catalog._engine.connect() as conn:
            present = conn.scalar(sa.text("SELECT count(*) FROM recordings")) or 0
        if present:
            print(f"\n{label}: reusing {present:,} rows")
        else:
            started = time.perf_counter()
            fill(catalog, rows)
            print(f"\n{label}: {rows:,} rows inserted in {time.perf_counter() - started:.1f} s")
        kinds = searches(samples(catalog._engine))
        print(f"{'search':<28} {'p50 ms':>8} {'p95 ms':>8} {'rows':>6} {'matched':>8}")
        for name, make in kinds.items():
            if only and only not in name:
                continue
            rnd = random.Random(name)
            times: list[float] = []
            found: list[int] = []
            matched: list[int] = []
            run_search(catalog, make(rnd))  # warm the cache and the statement cache
            for _ in range(repeat):
                query = make(rnd)
                t = time.perf_counter()
                rows, total = run_search(catalog, query)
                found.append(rows)
                matched.append(total)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            median_rows = int(statistics.median(found))
            median_matched = int(statistics.median(matched))
            print(
                f"{name:<28} {statistics.median(times):>8.1f} {p95:>8.1f} {median_rows:>6} "
                f"{median_matched:>8}"
            )
            if show_plans:
                for line in plan(catalog._engine, make(rnd)):
                    print(f"    {line}")
    finally:
        catalog.close()


@contextmanager
def fresh_pg(server: str) -> Iterator[str]:
    url = sa.make_url(server)
    name = f"recvault_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def kept_pg(server: str, name: str) -> str:
    """The database ``name`` on the server, created if missing and never dropped."""
    url = sa.make_url(server)
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        found = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not found:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--plans", action="store_true")
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--only", metavar="TEXT", help="only the searches whose name has TEXT")
    parser.add_argument("--keep-db", metavar="NAME", help="PostgreSQL: reuse and keep this DB")
    args = parser.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            bench("SQLite", url, args.rows, args.repeat, args.plans, args.only)
    if not args.no_pg and args.keep_db:
        url = kept_pg(args.pg, args.keep_db)
        bench("PostgreSQL", url, args.rows, args.repeat, args.plans, args.only)
    elif not args.no_pg:
        with fresh_pg(args.pg) as url:
            bench("PostgreSQL", url, args.rows, args.repeat, args.plans, args.only)


if __name__ == "__main__":
    main()
