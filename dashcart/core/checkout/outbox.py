"""The order outbox: SQLite in WAL mode, written (and synced) before an order is sent.

An order in the outbox survives a crash or a power cut and is sent again when the cart comes
back; the store deduplicates by the idempotency key, so sending again never charges twice.

Privacy: a pending order needs its shopper token (the store maps it to the card). Once an
order is settled (accepted, rejected or local) the token and any e-mail address in it are
redacted at once (the body keeps every other field; the signature, now of other bytes, is
cleared), and settled rows are deleted ``retention_s`` after they settled (``purge``, with
the wall clock from the caller), so an SD card holds no reusable shopper credentials: with
``secure_delete`` and a WAL checkpoint that truncates the log after each redaction, the old
bytes linger neither in free pages nor in the write-ahead log of a cart that is still running.
Pending orders are never redacted or deleted: an order is money.

Schema versions (``PRAGMA user_version``): 1 had no ``last_error`` or ``receipt``; 2 adds them;
3 adds ``settled_at`` (Unix seconds) and redacts rows already settled. An older file is
migrated in place, keeping every row; a newer one is refused untouched.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from dashcart.core.canonical import canonical_json
from dashcart.core.checkout.order import Order, mask_email
from dashcart.core.signin import mask_token
from dashcart.core.sqlite_files import create_whole, cut_short, is_write_failure
from dashcart.errors import Misconfigured, PermanentlyBroken, RetryLater

SCHEMA_VERSION = 3
_EMAIL = re.compile(r"[^\s\"'<>@]+@[^\s\"'<>@]+\.[A-Za-z]{2,}")

_CREATE = """
CREATE TABLE orders (
    idempotency_key TEXT PRIMARY KEY,
    order_id TEXT NOT NULL UNIQUE,
    cart_id TEXT NOT NULL,
    body BLOB NOT NULL,
    signature TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    status TEXT NOT NULL,          -- pending | accepted | rejected | local
    attempts INTEGER NOT NULL DEFAULT 0,
    created_t REAL NOT NULL,
    updated_t REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    receipt TEXT NOT NULL DEFAULT '',  -- the store's reply (JSON), or the local receipt's path
    settled_at REAL                    -- Unix seconds when settled (for retention); NULL: pending or unknown
)"""

_MIGRATIONS = {
    1: ("ALTER TABLE orders ADD COLUMN last_error TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE orders ADD COLUMN receipt TEXT NOT NULL DEFAULT ''"),
    2: ("ALTER TABLE orders ADD COLUMN settled_at REAL",),
}


def redact_body(body: bytes) -> bytes:
    """The order with its shopper token masked (``dcs1:ab…yz``) and e-mail addresses masked."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return b""
    if isinstance(document, dict) and isinstance(document.get("shopper_token"), str):
        document["shopper_token"] = mask_token(document["shopper_token"])
    return redact_text(canonical_json(document).decode("utf-8")).encode("utf-8")


def redact_text(text: str) -> str:
    """Every e-mail address in ``text`` masked (``k***@example.com``)."""
    return _EMAIL.sub(lambda m: mask_email(m.group(0)), text)

STATUSES = ("pending", "accepted", "rejected", "local")


@dataclass(frozen=True)
class OutboxRecord:
    idempotency_key: str
    order_id: str
    cart_id: str
    body: bytes
    signature: str
    total_cents: int
    status: str
    attempts: int
    created_t: float
    updated_t: float
    last_error: str = ""
    receipt: str = ""


_COLUMNS = "idempotency_key, order_id, cart_id, body, signature, total_cents, status, attempts, " \
           "created_t, updated_t, last_error, receipt"


class DamagedOutbox(PermanentlyBroken):
    """A row of the outbox that is not an order this dashcart wrote (``str()``: one line naming
    the file, the order and the damage)."""


def _damage(record: OutboxRecord) -> str:
    """What is wrong with a row, or "" (a status or total the sender cannot act on is damage,
    never an order taken as settled or sent with a broken body)."""
    texts = ("idempotency_key", "order_id", "cart_id", "signature", "status", "last_error", "receipt")
    for name in texts:
        if not isinstance(getattr(record, name), str):
            return f"{name} is {getattr(record, name)!r}, not text"
    for name, types in (("total_cents", (int,)), ("attempts", (int,)), ("created_t", (int, float)),
                        ("updated_t", (int, float))):
        value = getattr(record, name)
        if isinstance(value, bool) or not isinstance(value, types):
            return f"{name} is {value!r}, not a number"
    if record.status not in STATUSES:
        return f"no such status {record.status!r} (one of {', '.join(STATUSES)})"
    if not isinstance(record.body, (bytes, str)):
        return "the body is not a document"
    if record.status == "pending":   # the sender sends it as it is: it must be the order
        try:
            document = json.loads(record.body)
        except (ValueError, UnicodeDecodeError):
            return "the pending order's body is not JSON"
        if not isinstance(document, dict):
            return "the pending order's body is not a JSON object"
    return ""


class Outbox:
    """Live, the controller adds orders while the sender thread marks them: the runtime then
    passes a ``lock`` (a ``threading.Lock``) that serializes every use of the one connection.
    Without one (commands, replay, tests) it is for one thread."""

    def __init__(self, path: str | Path, lock: AbstractContextManager[object] | None = None,
                 retention_s: float = 30 * 86400.0) -> None:
        self.path = Path(path)
        self.retention_s = retention_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if cut_short(self.path):
            # SQLite would open it as a new, empty outbox: the orders that were in it, gone unseen.
            # Its -wal, if any, holds the orders: it goes aside with it.
            wal = Path(f"{self.path}-wal")
            raise PermanentlyBroken(f"{self.path}: the outbox is an empty file (truncated); move it "
                                    f"{f'and {wal.name} (its orders) ' if wal.is_file() else ''}aside for the "
                                    "on-call engineer")
        try:
            create_whole(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise RetryLater(f"{self.path}: cannot create the outbox: {getattr(exc, 'strerror', None) or exc}") from None
        self._lock: AbstractContextManager[object] = lock if lock is not None else nullcontext()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA busy_timeout=5000")
            check = self._db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                found = " ".join(str(check[0]).split()) if check else "no answer"   # SQLite's spans lines
                raise sqlite3.DatabaseError(f"integrity check: {found}")
            # Redacted tokens and addresses (a migration redacts too) must not survive in free pages.
            self._db.execute("PRAGMA secure_delete=ON")
            # Check the version before switching to WAL: a file we refuse stays byte for byte.
            self._open_schema()
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on the card before place_order returns; an order is money.
            self._db.execute("PRAGMA synchronous=FULL")
            # A log left by a power cut between a redaction and its checkpoint.
            self._forget()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if isinstance(exc, sqlite3.OperationalError) and is_write_failure(exc):
                # A read-only or full state directory: nothing to move aside, it may come back.
                raise RetryLater(f"{self.path}: cannot write the outbox: {exc}") from None
            raise PermanentlyBroken(f"{self.path}: not a readable outbox ({exc}); move it aside for the "
                                    f"on-call engineer, orders in it have not been lost") from None
        except BaseException:
            self._db.close()
            raise

    def _open_schema(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and not tables:
            with self._transaction():
                self._db.execute(_CREATE)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        if version > SCHEMA_VERSION:
            raise Misconfigured(f"{self.path}: outbox schema version {version} is newer than this dashcart "
                                f"reads ({SCHEMA_VERSION}); upgrade dashcart (the file is left as it is)")
        if "orders" not in tables or version == 0:
            raise PermanentlyBroken(f"{self.path}: an SQLite file but not a dashcart outbox; move it aside")
        if version < SCHEMA_VERSION:
            with self._transaction():
                for step in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[step]:
                        self._db.execute(statement)
                # Rows settled by an older dashcart still hold full tokens and addresses.
                for key, body, receipt in self._db.execute(
                        "SELECT idempotency_key, body, receipt FROM orders WHERE status != 'pending'").fetchall():
                    self._db.execute("UPDATE orders SET body = ?, signature = '', receipt = ? WHERE idempotency_key = ?",
                                     (redact_body(body), redact_text(receipt), key))
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _forget(self) -> None:
        """Copy the log into the file and truncate it: the versions of rows from before a
        redaction (full tokens and addresses) are otherwise readable in the WAL until reused."""
        # A read first: a checkpoint that is the first use of the WAL after reads in rollback
        # mode (the integrity check at open) is refused as "database table is locked".
        self._db.execute("SELECT count(*) FROM orders").fetchone()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def add(self, order: Order, t: float) -> OutboxRecord:
        """Store ``order`` as pending; adding the same idempotency key again returns the stored row."""
        with self._lock, self._transaction():
            self._db.execute(
                f"INSERT OR IGNORE INTO orders ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, '', '')",
                (order.idempotency_key, order.order_id, order.cart_id, order.body, order.signature,
                 order.total_cents, t, t))
            return self._get(order.idempotency_key)  # type: ignore[return-value]

    def _get(self, key: str) -> OutboxRecord | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM orders WHERE idempotency_key = ?", (key,)).fetchone()
        return self._record(row) if row else None

    def _record(self, row: tuple[object, ...]) -> OutboxRecord:
        record = OutboxRecord(*row)  # type: ignore[arg-type]
        problem = _damage(record)
        if problem:
            raise DamagedOutbox(f"{self.path}: order {record.order_id!r}: {problem}; move the outbox aside for the "
                                "on-call engineer, the other orders in it have not been lost")
        return record

    def get(self, key: str) -> OutboxRecord | None:
        with self._lock:
            return self._get(key)

    def by_order_id(self, order_id: str) -> OutboxRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return self._record(row) if row else None

    def pending(self) -> list[OutboxRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM orders WHERE status = 'pending' ORDER BY created_t, rowid")
            return [self._record(r) for r in rows]

    def all(self) -> list[OutboxRecord]:
        with self._lock:
            return [self._record(r) for r in self._db.execute(f"SELECT {_COLUMNS} FROM orders ORDER BY rowid")]

    def record_attempt(self, key: str, t: float, error: str) -> OutboxRecord:
        with self._lock, self._transaction():
            self._db.execute("UPDATE orders SET attempts = attempts + 1, last_error = ?, updated_t = ? "
                             "WHERE idempotency_key = ?", (error, t, key))
            return self._get(key)  # type: ignore[return-value]

    def settle(self, key: str, status: str, t: float, receipt: str = "", error: str = "",
               settled_at: float | None = None) -> OutboxRecord:
        """Mark a pending order accepted, local or rejected (once: a settled order stays settled),
        and redact its shopper token and e-mail addresses in the same transaction.
        ``settled_at``: Unix seconds, for the retention period (None: counted from the next purge)."""
        if status not in STATUSES or status == "pending":
            raise ValueError(f"cannot settle as {status!r}")
        with self._lock, self._transaction():
            row = self._db.execute("SELECT body FROM orders WHERE idempotency_key = ? AND status = 'pending'",
                                   (key,)).fetchone()
            if row is not None:
                self._db.execute("UPDATE orders SET status = ?, receipt = ?, last_error = ?, updated_t = ?, "
                                 "attempts = attempts + 1, body = ?, signature = '', settled_at = ? "
                                 "WHERE idempotency_key = ? AND status = 'pending'",
                                 (status, redact_text(receipt), redact_text(error), t, redact_body(row[0]),
                                  settled_at, key))
        with self._lock:
            if row is not None:
                self._forget()
            return self._get(key)  # type: ignore[return-value]

    def purge(self, now: float) -> list[str]:
        """Delete settled orders that settled more than ``retention_s`` before ``now`` (Unix
        seconds); returns their order ids. Settled rows without a time start counting now."""
        with self._lock, self._transaction():
            self._db.execute("UPDATE orders SET settled_at = ? WHERE status != 'pending' AND settled_at IS NULL",
                             (now,))
            cutoff = now - self.retention_s
            ids = [r[0] for r in self._db.execute(
                "SELECT order_id FROM orders WHERE status != 'pending' AND settled_at <= ?", (cutoff,))]
            self._db.execute("DELETE FROM orders WHERE status != 'pending' AND settled_at <= ?", (cutoff,))
            return ids

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")

