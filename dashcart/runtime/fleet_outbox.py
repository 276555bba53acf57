"""The fleet link's on-disk outbox: telemetry waits here until the ingest side acknowledges it.

MQTT's own QoS 1 is not enough: Mosquitto acknowledges a PUBLISH before it writes it, so a
broker killed in between loses it (93 of 8,000 in the prototype). A row leaves this outbox only
when the ingest side says it has stored it (``ack``: the highest contiguous seq of a boot).

One SQLite file, used from the link's thread only. Rows are committed in batches (``flush``),
not one fsync per event. Budgets: total payload bytes and age; when over, the oldest
non-fault rows are evicted (fault rows never are), the evictions are counted, and the evicted
seq ranges are handed to the link so it can tell the ingest side they are gone for good
(otherwise its contiguous watermark would wait for them forever).

The same file keeps the link's small state: the connection session counter and the commands
already executed (each id once).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from dashcart.errors import PermanentlyBroken

SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE telemetry (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        boot_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        created REAL NOT NULL,
        fault INTEGER NOT NULL,
        payload BLOB NOT NULL)""",
    "CREATE UNIQUE INDEX telemetry_boot_seq ON telemetry (boot_id, seq)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        op TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '')""",
)


@dataclass(frozen=True)
class Row:
    id: int
    boot_id: str
    seq: int
    payload: bytes


@dataclass(frozen=True)
class Evicted:
    """Seqs ``first``..``last`` of ``boot_id`` were dropped unsent (a budget ran out)."""

    boot_id: str
    first: int
    last: int


class FleetOutbox:
    def __init__(self, path: str | Path, *, max_bytes: int, max_age_s: float) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._db.execute("PRAGMA busy_timeout=5000")
            self._open_schema()
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL under WAL: a power cut may lose the last batch, never corrupt the file;
            # telemetry is not money (orders have their own outbox with FULL).
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise PermanentlyBroken(f"{self.path}: not a readable fleet outbox ({exc}); move it aside") from None
        self._in_batch = 0
        self._bytes = int(self._db.execute("SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM telemetry").fetchone()[0])
        self.evictions = int(self.get_meta("evictions", "0"))

    def _open_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise PermanentlyBroken(f"{self.path}: fleet outbox schema {version}, this dashcart reads {SCHEMA_VERSION}")
        self._db.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._db.execute("COMMIT")

    # -- telemetry ---------------------------------------------------------------------------

    def add(self, boot_id: str, seq: int, payload: bytes, *, created: float, fault: bool,
            row_id: int | None = None) -> None:
        """Queue one row in the open batch (sent after :meth:`flush`). ``row_id``: its place in
        the sending order, if not last (a free id, e.g. one an eviction just freed)."""
        if not self._in_batch:
            self._db.execute("BEGIN")
        self._db.execute("INSERT INTO telemetry (id, boot_id, seq, created, fault, payload) VALUES (?, ?, ?, ?, ?, ?)",
                         (row_id, boot_id, seq, created, int(fault), payload))
        self._in_batch += 1
        self._bytes += len(payload)

    @property
    def batch_size(self) -> int:
        return self._in_batch

    def flush(self) -> None:
        """Commit the open batch."""
        if self._in_batch:
            self._db.execute("COMMIT")
            self._in_batch = 0

    def after(self, row_id: int, limit: int) -> list[Row]:
        """Committed rows after ``row_id``, oldest first."""
        rows = self._db.execute("SELECT id, boot_id, seq, payload FROM telemetry WHERE id > ? ORDER BY id LIMIT ?",
                                (row_id, limit))
        return [Row(*r) for r in rows]

    def count_upto(self, row_id: int) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM telemetry WHERE id <= ?", (row_id,)).fetchone()[0])

    def depth(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM telemetry").fetchone()[0])

    def acknowledge(self, boot_id: str, seq: int) -> int:
        """Drop ``boot_id``'s rows up to ``seq`` (the ingest side has them); returns how many."""
        self.flush()
        self._db.execute("BEGIN")
        freed = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM telemetry "
                                 "WHERE boot_id = ? AND seq <= ?", (boot_id, seq)).fetchone()
        self._db.execute("DELETE FROM telemetry WHERE boot_id = ? AND seq <= ?", (boot_id, seq))
        self._db.execute("COMMIT")
        self._bytes -= int(freed[1])
        return int(freed[0])

    def enforce_budget(self, now: float) -> tuple[list[Evicted], int]:
        """Evict what is over the age or size budget, oldest non-fault rows first. Returns the
        evicted seq ranges and the highest row id evicted (0: none)."""
        self.flush()
        doomed: list[tuple[int, str, int, int]] = []
        cutoff = now - self.max_age_s
        rows = self._db.execute("SELECT id, boot_id, seq, LENGTH(payload) FROM telemetry WHERE fault = 0 AND created < ? "
                                "ORDER BY id", (cutoff,)).fetchall()
        doomed.extend(rows)
        excess = self._bytes - sum(r[3] for r in doomed) - self.max_bytes
        if excess > 0:
            last_id = doomed[-1][0] if doomed else 0
            for row in self._db.execute("SELECT id, boot_id, seq, LENGTH(payload) FROM telemetry "
                                        "WHERE fault = 0 AND id > ? ORDER BY id", (last_id,)):
                if excess <= 0:
                    break
                doomed.append(row)
                excess -= row[3]
        if not doomed:
            return [], 0
        self._db.execute("BEGIN")
        self._db.executemany("DELETE FROM telemetry WHERE id = ?", [(r[0],) for r in doomed])
        self.evictions += len(doomed)
        self._set_meta("evictions", str(self.evictions))
        self._db.execute("COMMIT")
        self._bytes -= sum(r[3] for r in doomed)
        return _ranges(doomed), max(r[0] for r in doomed)

    @property
    def bytes(self) -> int:
        return self._bytes

    # -- the link's small state ------------------------------------------------------------------

    def get_meta(self, key: str, default: str = "") -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         (key, value))

    def set_meta(self, key: str, value: str) -> None:
        """Store one value now (committed, with the open batch)."""
        self.flush()
        self._set_meta(key, value)

    def next_session(self) -> int:
        session = int(self.get_meta("session", "0")) + 1
        self.set_meta("session", str(session))
        return session

    def command(self, command_id: str) -> tuple[str, str, str] | None:
        """(op, state, detail) of a command seen before, or None."""
        row = self._db.execute("SELECT op, state, detail FROM commands WHERE id = ?", (command_id,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def set_command(self, command_id: str, op: str, state: str, detail: str = "") -> None:
        self.flush()
        self._db.execute("INSERT INTO commands (id, op, state, detail) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                         "SET state = excluded.state, detail = excluded.detail", (command_id, op, state, detail))

    def commands_in(self, state: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self._db.execute("SELECT id, op FROM commands WHERE state = ?", (state,))]

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()


def _ranges(rows: list[tuple[int, str, int, int]]) -> list[Evicted]:
    """Consecutive seqs of one boot folded into ranges."""
    out: list[Evicted] = []
    for _, boot_id, seq, _ in sorted(rows, key=lambda r: (r[1], r[2])):
        last = out[-1] if out else None
        if last is not None and last.boot_id == boot_id and last.last + 1 == seq:
            out[-1] = Evicted(boot_id, last.first, seq)
        else:
            out.append(Evicted(boot_id, seq, seq))
    return out
