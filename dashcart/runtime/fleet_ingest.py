"""The store side of the fleet link: telemetry into SQLite, deduplicated, and the acks back.

Each cart's telemetry is ``{"boot_id", "seq", ...}`` with seq from 1 per boot. A row is stored
once per (cart, boot_id, seq) (a resend is counted as a duplicate and dropped); after each
batch is committed, every cart that sent something gets a retained ``ack`` with the highest
seq up to which it has everything of that boot, so the cart may delete those rows. An
``evicted`` event (the cart ran out of budget) marks its seqs as lost, so the watermark moves
past them instead of waiting forever.

One ingest serves a whole store, and any cart's key can send it anything on that cart's
topic: a message it cannot use is counted as malformed and dropped, never raised (a raise
would stop the ingest, and with its persistent session the same message would stop it again
at every start). Lost seqs are kept as ranges, so a notice that claims a billion of them costs
one row, not a billion.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashcart.errors import Misconfigured
from dashcart.runtime.fleet import PREFIX, TLS_NAMES, Backoff, BrokerAddress, OutageWarning, make_client

log = logging.getLogger("dashcart.fleet.ingest")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS telemetry (
        cart TEXT NOT NULL, boot_id TEXT NOT NULL, seq INTEGER NOT NULL,
        received REAL NOT NULL, payload TEXT NOT NULL,
        PRIMARY KEY (cart, boot_id, seq)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS lost (
        cart TEXT NOT NULL, boot_id TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
        received REAL NOT NULL, PRIMARY KEY (cart, boot_id, first, last)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS watermark (
        cart TEXT NOT NULL, boot_id TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (cart, boot_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS duplicates (cart TEXT PRIMARY KEY, count INTEGER NOT NULL)""",
)
#: SQLite's largest integer: a seq beyond it cannot be stored (a cart counts from 1 per boot).
MAX_SEQ = 2**63 - 1
#: Longest a received message waits before its batch is committed and acknowledged.
COMMIT_EVERY_S = 0.1


@dataclass
class IngestCounters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: int = 0
    acks: int = 0
    connects: int = 0


class TelemetryStore:
    """The SQLite side, used from one thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise Misconfigured(f"{self.path}: cannot open the telemetry database: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")   # an ack is a promise: what it covers is on disk
            for statement in _SCHEMA:
                self._db.execute(statement)
        except sqlite3.Error as exc:
            self._db.close()
            raise Misconfigured(f"{self.path}: not a telemetry database this ingest can use: {exc}") from None
        self._batch = False
        self._touched: set[tuple[str, str]] = set()
        self._dups: dict[str, int] = {}

    def add(self, cart: str, boot_id: str, seq: int, payload: str, now: float) -> bool:
        """Store one message; False for a duplicate."""
        self._begin()
        cur = self._db.execute("INSERT OR IGNORE INTO telemetry (cart, boot_id, seq, received, payload) "
                               "VALUES (?, ?, ?, ?, ?)", (cart, boot_id, seq, now, payload))
        if cur.rowcount == 0:
            self._dups[cart] = self._dups.get(cart, 0) + 1
            self._touched.add((cart, boot_id))   # a resend: the cart may have missed its ack
            return False
        self._touched.add((cart, boot_id))
        return True

    def mark_lost(self, cart: str, boot_id: str, first: int, last: int, now: float) -> None:
        """Seqs ``first``..``last`` of that boot will never come (the cart evicted them)."""
        self._begin()
        self._db.execute("INSERT OR IGNORE INTO lost (cart, boot_id, first, last, received) VALUES (?, ?, ?, ?, ?)",
                         (cart, boot_id, first, last, now))
        self._touched.add((cart, boot_id))

    def _begin(self) -> None:
        if not self._batch:
            self._db.execute("BEGIN")
            self._batch = True

    @property
    def pending(self) -> bool:
        return bool(self._touched)

    def commit(self) -> list[tuple[str, str, int]]:
        """Commit the batch; (cart, boot_id, watermark) for every cart and boot it touched."""
        if not self._batch and not self._touched:
            return []
        if not self._batch:
            self._begin()
        acks = []
        for cart, boot_id in sorted(self._touched):
            acks.append((cart, boot_id, self._advance(cart, boot_id)))
        for cart, n in self._dups.items():
            self._db.execute("INSERT INTO duplicates (cart, count) VALUES (?, ?) ON CONFLICT(cart) DO UPDATE "
                             "SET count = count + excluded.count", (cart, n))
        self._db.execute("COMMIT")
        self._batch = False
        self._touched.clear()
        self._dups.clear()
        return acks

    def _advance(self, cart: str, boot_id: str) -> int:
        """The boot's watermark moved past every seq now stored or known lost."""
        row = self._db.execute("SELECT seq FROM watermark WHERE cart = ? AND boot_id = ?", (cart, boot_id)).fetchone()
        mark = row[0] if row else 0
        start = mark
        while mark < MAX_SEQ:
            skip = self._db.execute("SELECT MAX(last) FROM lost WHERE cart = ? AND boot_id = ? AND first <= ? "
                                    "AND last > ?", (cart, boot_id, mark + 1, mark)).fetchone()[0]
            if skip is not None:
                mark = skip
                continue
            seqs = [r[0] for r in self._db.execute(
                "SELECT seq FROM telemetry WHERE cart = ? AND boot_id = ? AND seq > ? ORDER BY seq LIMIT 500",
                (cart, boot_id, mark))]
            moved = False
            for seq in seqs:
                if seq != mark + 1:
                    break
                mark = seq
                moved = True
            if not moved:
                break
        if mark != start or row is None:
            self._db.execute("INSERT INTO watermark (cart, boot_id, seq) VALUES (?, ?, ?) ON CONFLICT(cart, boot_id) "
                             "DO UPDATE SET seq = excluded.seq", (cart, boot_id, mark))
        return mark

    def close(self) -> None:
        if self._batch:
            self._db.execute("COMMIT")
        self._db.close()


class FleetIngest:
    """Subscribes to every cart's telemetry (``store_id`` or all stores), stores it, acks it.

    ``run(stop)`` is the loop (the command's main thread; tests and the bench run it on a thread).
    """

    def __init__(self, address: BrokerAddress, db: str | Path, *, store_id: str = "+", client_id: str = "",
                 ca_file: str = "", cert_file: str = "", key_file: str = "", keepalive_s: int = 30,
                 reconnect_max_s: float = 4.0, clock: Callable[[], float] = time.monotonic,
                 tls_names: tuple[str, str, str] = TLS_NAMES) -> None:
        self.address = address
        self.db_path = Path(db)
        self.store_id = store_id
        self.client_id = client_id or f"dashcart-ingest-{'all' if store_id == '+' else store_id}"
        self.tls = (ca_file, cert_file, key_file)
        self.tls_names = tls_names
        self.keepalive_s = keepalive_s
        self.clock = clock
        self.counters = IngestCounters()
        self._backoff = Backoff(reconnect_max_s, random.Random())
        self._client: Any = None
        self._connected = False
        self._outage = OutageWarning()
        self._store: TelemetryStore | None = None
        self._oldest_uncommitted: float | None = None
        self.connected_event = threading.Event()

    def run(self, stop: threading.Event) -> None:
        self._store = TelemetryStore(self.db_path)
        next_attempt = 0.0
        try:
            while not stop.is_set():
                now = self.clock()
                if self._client is None:
                    if now >= next_attempt:
                        if not self._connect():
                            next_attempt = self.clock() + self._backoff.next_delay()
                    else:
                        stop.wait(min(0.1, next_attempt - now))
                    continue
                self._client.loop(timeout=0.05)
                if self._client is None:
                    next_attempt = self.clock() + self._backoff.next_delay()
                self._commit_if_due()
        finally:
            self._commit_if_due(force=True)
            if self._client is not None:
                self._client.on_disconnect = None
                self._client.disconnect()
            self._store.close()

    def _connect(self) -> bool:
        ca, cert, key = self.tls
        # A persistent session: while the ingest is away the broker keeps its subscription
        # and queues the telemetry (the carts resend anything that is lost anyway).
        client = make_client(self.client_id, clean_session=False, address=self.address, ca_file=ca,
                             cert_file=cert, key_file=key, tls_names=self.tls_names)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.max_inflight_messages_set(1000)
        try:
            client.connect(self.address.host, self.address.port, keepalive=self.keepalive_s)
        except (OSError, ValueError) as exc:
            if self._outage.failed(self.clock()) is not None:
                log.warning("ingest: cannot reach the broker %s: %s (retrying)", self.address, exc)
            else:
                log.debug("ingest: %s: %s", self.address, exc)
            return False
        self._client = client
        return True

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            log.warning("ingest: %s refused: %s", self.address, reason)
            self._drop_client()
            return
        self._connected = True
        self._backoff.reset()
        self.counters.connects += 1
        client.subscribe([(f"{PREFIX}/{self.store_id}/+/telemetry", 1)])
        self.connected_event.set()
        self._outage.reset()
        log.info("ingest: connected to %s", self.address)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if client is self._client:
            log.warning("ingest: lost %s (%s)", self.address, reason)
            self._drop_client()

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._connected = False
        self.connected_event.clear()
        if client is not None:
            client.on_disconnect = None
            sock = client.socket()
            if sock is not None:
                sock.close()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        assert self._store is not None
        self.counters.received += 1
        parts = message.topic.split("/")
        if len(parts) != 5:
            return
        cart = f"{parts[2]}/{parts[3]}"
        try:
            boot_id, seq, lost, text = parse_telemetry(message.payload)
        except ValueError as exc:
            self.counters.malformed += 1
            log.warning("ingest: dropped a message from %s: %s", cart, exc)
            return
        now = time.time()
        if self._store.add(cart, boot_id, seq, text, now):
            self.counters.stored += 1
        else:
            self.counters.duplicates += 1
        for lost_boot, first, last in lost:
            self._store.mark_lost(cart, lost_boot, first, last, now)
        if self._oldest_uncommitted is None:
            self._oldest_uncommitted = self.clock()
        self._commit_if_due()

    def _commit_if_due(self, force: bool = False) -> None:
        if self._store is None or self._oldest_uncommitted is None:
            return
        if not force and self.clock() - self._oldest_uncommitted < COMMIT_EVERY_S:
            return
        self._oldest_uncommitted = None
        acks = self._store.commit()
        if self._client is None or not self._connected:
            return   # the carts resend; their next messages bring the acks
        for cart, boot_id, seq in acks:
            if seq > 0:
                self._client.publish(f"{PREFIX}/{cart}/ack", json.dumps({"boot_id": boot_id, "seq": seq}), qos=1,
                                     retain=True)
                self.counters.acks += 1


def parse_telemetry(payload: bytes) -> tuple[str, int, list[tuple[str, int, int]], str]:
    """(boot_id, seq, the lost ranges it announces, its text) of one telemetry message, or
    ``ValueError`` saying what is wrong with it."""
    try:
        text = payload.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    boot_id, seq = _boot_id(data.get("boot_id")), _seq(data.get("seq"), "seq")
    lost: list[tuple[str, int, int]] = []
    if data.get("kind") == "evicted":
        ranges = data.get("lost")
        if not isinstance(ranges, list):
            raise ValueError("evicted: 'lost' is not a list")
        for entry in ranges:
            if not isinstance(entry, dict):
                raise ValueError("evicted: a lost range is not an object")
            first, last = _seq(entry.get("first"), "first"), _seq(entry.get("last"), "last")
            if first > last:
                raise ValueError(f"evicted: lost range {first}..{last} runs backwards")
            lost.append((_boot_id(entry.get("boot_id")), first, last))
    return boot_id, seq, lost, text


def _boot_id(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise ValueError("boot_id: expected a string of 1-64 characters")
    return value


def _seq(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SEQ:
        raise ValueError(f"{name}: expected an integer from 1 to {MAX_SEQ}")
    return value


def accounting(db: str | Path) -> dict[str, dict[str, Any]]:
    """Per cart and boot: stored rows, seqs known lost (announced and never stored), the highest
    seq stored or lost; and the duplicates per cart (the bench's exact count)."""
    conn = sqlite3.connect(db)
    try:
        out: dict[str, dict[str, Any]] = {}
        for cart, boot_id, n, top in conn.execute(
                "SELECT cart, boot_id, COUNT(*), MAX(seq) FROM telemetry GROUP BY cart, boot_id"):
            entry = out.setdefault(cart, {"boots": {}, "duplicates": 0})
            entry["boots"][boot_id] = {"rows": n, "lost": 0, "max_seq": top}
        merged: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for cart, boot_id, first, last in conn.execute(
                "SELECT cart, boot_id, first, last FROM lost ORDER BY cart, boot_id, first"):
            spans = merged.setdefault((cart, boot_id), [])
            if spans and first <= spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], max(spans[-1][1], last))
            else:
                spans.append((first, last))
        for (cart, boot_id), spans in merged.items():
            boot = out.setdefault(cart, {"boots": {}, "duplicates": 0})["boots"].setdefault(
                boot_id, {"rows": 0, "lost": 0, "max_seq": 0})
            for first, last in spans:
                stored = conn.execute("SELECT COUNT(*) FROM telemetry WHERE cart = ? AND boot_id = ? AND seq BETWEEN ? "
                                      "AND ?", (cart, boot_id, first, last)).fetchone()[0]
                boot["lost"] += last - first + 1 - stored
            boot["max_seq"] = max(boot["max_seq"] or 0, spans[-1][1])
        for cart, count in conn.execute("SELECT cart, count FROM duplicates"):
            out.setdefault(cart, {"boots": {}, "duplicates": 0})["duplicates"] = count
        return out
    finally:
        conn.close()
