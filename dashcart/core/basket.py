"""The basket and the session around it, journaled to SQLite so a power cut loses nothing.

Every change (an item added or removed, a question asked or answered, the session begun,
checked out or ended) is one row appended to ``journal`` (WAL, ``synchronous=FULL``). The
rows of one decision (close a question *and* add the item it named, several parts put in at
once) go in one transaction: :meth:`Basket.transaction` commits them together or not at all,
and the in-memory state follows the disk (a commit that fails puts it back as it was), so what
the screen shows is never ahead of what the disk has and a crash leaves the state before or
after a decision, never between. Reopening the file folds the rows of the last session back
into exactly the same basket: nothing lost, nothing doubled.

A write that fails (a full disk, a read-only or vanished state directory) raises
:class:`JournalWriteFailed` and changes nothing; a file that cannot be folded back (a damaged
page, a cut row, a removal of an item never added) raises :class:`DamagedJournal` with one line
naming the file and the damage, and :func:`dashcart.core.sqlite_files.quarantine` moves it
aside.

Privacy: the shopper's sign-in token is kept only while its session can still place an order;
once the session is paid or ends, the token is blanked on disk too (``secure_delete`` and a
checkpoint, so the old bytes do not linger in free pages or the WAL).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from dashcart import snapshot
from dashcart.core.sqlite_files import create_whole, cut_short, is_write_failure
from dashcart.errors import PermanentlyBroken, RetryLater
from dashcart.snapshot import QuestionKind

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
"""


class JournalWriteFailed(RetryLater):
    """The journal could not commit (disk full, read-only, I/O error): nothing was changed."""


class DamagedJournal(PermanentlyBroken):
    """The journal file cannot be read back into a basket; ``str()`` names the file and the damage,
    on one line (SQLite's integrity report spans several)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.replace("*** in database main ***", "").split()))


#: The shopper token as kept on disk once its session no longer needs it.
REDACTED = ""
#: Sessions whose rows the journal keeps (for the on-call engineer); older ones are deleted when
#: the cart opens the file, so it stays a few MB on a cart that runs for years.
KEEP_SESSIONS = 500


@dataclass(frozen=True)
class Item:
    """One placement in the basket: ``qty`` units of a product, or one weighed lot of produce."""

    id: int
    code: str
    name: str
    qty: int
    sold_by: str
    unit_price_cents: int
    price_cents: int
    weight_g: float | None       # what the scale measured for this placement
    t: float
    image: str | None = None
    place: tuple[str, int, int, int, int] | None = None   # camera and box where it was seen put down
    look: str | None = None      # how it looked there (dashcart.core.appearance), to recognize it when it leaves


class QuestionCandidate(TypedDict):
    """One product a question suggests, as journaled (a JSON object in the question's row)."""

    code: str
    qty: int
    score: float
    item_id: NotRequired[int]        # a removal: the basket placement it would take out
    question_id: NotRequired[int]    # a removal: the open question whose unnamed item it would be
    sure: NotRequired[bool]          # the cameras were sure of it (fusion's veto): see Controller._answer
    seen: NotRequired[bool]          # a removal: the cameras saw it leave (Controller._unverified)
    fits: NotRequired[bool]          # a removal: its weight fits what left (within fusion.MAX_Z)


@dataclass(frozen=True)
class OpenQuestion:
    """A question as journaled: enough to show it again after a restart."""

    id: int
    t: float
    kind: QuestionKind
    delta_g: float
    candidates: tuple[QuestionCandidate, ...] = ()
    place: tuple[str, int, int, int, int] | None = None   # where the cameras saw the change
    look: str | None = None                               # ... and how what changed looked


class JournaledCheckout(TypedDict, total=False):
    """The checkout as the session's ``state`` row keeps it, to resume after a restart."""

    stage: str                   # a dashcart.snapshot.CheckoutStage's value
    since: float                 # when the cart entered the lane
    lane: str
    order_id: str
    status: str
    exit_passed: bool            # the lane's exit was seen while the checkout was held
    ordered_cents: int           # the placed order's total (what the shopper saw)
    charged_cents: int           # what the store charged, once it answered
    priced_late_s: float         # the store priced it this long after the checkout (arrival prices)


@dataclass
class SessionRecord:
    """What the journal says about the current session (folded from its rows)."""

    state: str = "idle"          # idle | shopping | checkout | done
    shopper: str = ""
    started_t: float | None = None
    items: dict[int, Item] = field(default_factory=dict)
    questions: dict[int, OpenQuestion] = field(default_factory=dict)
    next_item_id: int = 1
    next_question_id: int = 1
    checkout: JournaledCheckout | None = None
    questions_asked: int = 0
    seq: int = 0                 # the journal row that began the session: unique per cart
    # A settled weight change waiting for the cameras' evidence ({"t", "delta_g", "total_g",
    # "started_t", "deadline"}): journaled so that a crash in that window does not lose it.
    pending: dict[str, Any] | None = None
    # The net load (g) the last decided weight change left on the scale (before the first, what
    # it held at rest at the sign-in): what the basket should weigh when the cart starts again,
    # so that something put in or taken out while it was down is a change to decide, not the
    # scale's new zero point (None: not known).
    load_g: float | None = None
    # What the scale held at rest at the sign-in: the shopper's own bags, never billed (None:
    # not known, the load moved at the sign-in).
    start_load_g: float | None = None


class Journal:
    """Append-only rows in SQLite (WAL). Outside a transaction each append is committed before it
    returns; inside :meth:`transaction` the rows are committed together when it ends."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        memory = self.path == ":memory:"
        if not memory:
            file = Path(self.path)
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise JournalWriteFailed(f"{file.parent}: cannot create the state directory: "
                                         f"{exc.strerror or exc}") from None
            if cut_short(file):   # it would silently open as an empty basket
                raise DamagedJournal(f"{self.path}: the basket journal is an empty file (truncated)")
            try:
                create_whole(file)
            except (OSError, sqlite3.Error) as exc:
                raise JournalWriteFailed(f"{self.path}: cannot create the basket journal: "
                                         f"{getattr(exc, 'strerror', None) or exc}") from None
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalWriteFailed(f"{self.path}: cannot open the basket journal: {exc}") from None
        try:
            if not memory:
                self._conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a commit in WAL mode is on the disk when it returns, power cut or not.
                self._conn.execute("PRAGMA synchronous=FULL")
                # Blanked tokens must not survive in free pages.
                self._conn.execute("PRAGMA secure_delete=ON")
                check = self._conn.execute("PRAGMA quick_check").fetchone()
                if check is None or check[0] != "ok":
                    raise sqlite3.DatabaseError(f"integrity check: {check[0] if check else 'no answer'}")
            self._conn.executescript(SCHEMA)
            columns = [r[1] for r in self._conn.execute("PRAGMA table_info(journal)")]
            if columns != ["seq", "t", "kind", "data"]:
                raise sqlite3.DatabaseError(f"table journal has columns {columns}, not seq, t, kind, data")
        except sqlite3.OperationalError as exc:
            self._conn.close()
            if is_write_failure(exc):
                raise JournalWriteFailed(f"{self.path}: cannot write the basket journal: {exc}") from None
            raise DamagedJournal(f"{self.path}: not a readable basket journal: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise DamagedJournal(f"{self.path}: not a readable basket journal: {exc}") from None
        self._open = False
        #: Tests' crash points: called with "before" and "after" around every commit.
        self.on_commit: Callable[[str], None] | None = None

    @property
    def in_transaction(self) -> bool:
        return self._open

    def begin(self) -> None:
        self._write("BEGIN IMMEDIATE")
        self._open = True

    def commit(self) -> None:
        if self.on_commit is not None:
            self.on_commit("before")
        try:
            self._write("COMMIT")
        except JournalWriteFailed:
            self.rollback()
            raise
        self._open = False
        if self.on_commit is not None:
            self.on_commit("after")

    def rollback(self) -> None:
        self._open = False
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass   # nothing was committed either way

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise JournalWriteFailed(f"{self.path}: cannot save: {exc}") from None

    def append(self, t: float, kind: str, data: dict[str, Any]) -> int:
        if self._open:
            cur = self._write("INSERT INTO journal (t, kind, data) VALUES (?, ?, ?)",
                              (t, kind, json.dumps(data, sort_keys=True)))
            return int(cur.lastrowid or 0)
        self.begin()
        try:
            seq = self.append(t, kind, data)
        except BaseException:
            self.rollback()
            raise
        self.commit()
        return seq

    def rows(self, after_seq: int = 0) -> Iterator[tuple[int, float, str, dict[str, Any]]]:
        try:
            cursor = self._conn.execute(
                "SELECT seq, t, kind, data FROM journal WHERE seq > ? ORDER BY seq", (after_seq,))
            for seq, t, kind, data in cursor:
                try:
                    row = json.loads(data)
                except (TypeError, ValueError) as exc:
                    raise DamagedJournal(f"{self.path}: row {seq} ({kind}): the data is not JSON: {exc}") from None
                if not isinstance(row, dict):
                    raise DamagedJournal(f"{self.path}: row {seq} ({kind}): the data is not a JSON object")
                yield seq, t, kind, row
        except sqlite3.DatabaseError as exc:
            raise DamagedJournal(f"{self.path}: cannot read the basket journal: {exc}") from None

    def last_session_start(self) -> int:
        try:
            row = self._conn.execute("SELECT MAX(seq) FROM journal WHERE kind = 'session'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise DamagedJournal(f"{self.path}: cannot read the basket journal: {exc}") from None
        return int(row[0]) - 1 if row and row[0] else 0

    def redact_shoppers(self, keep_seq: int | None) -> int:
        """Blank the shopper token of every session row except ``keep_seq`` (the session that may
        still place an order); returns how many rows were blanked. Best effort: a failing disk
        keeps the token until the next try, and is reported by the next write anyway."""
        try:
            rows = self._conn.execute("SELECT seq, data FROM journal WHERE kind = 'session'").fetchall()
            stale = []
            for seq, data in rows:
                try:
                    doc = json.loads(data)
                except (TypeError, ValueError):
                    continue
                if seq != keep_seq and isinstance(doc, dict) and doc.get("shopper"):
                    stale.append((json.dumps({**doc, "shopper": REDACTED}, sort_keys=True), seq))
            if not stale or self._open:
                return 0
            with self._conn:
                self._conn.executemany("UPDATE journal SET data = ? WHERE seq = ?", stale)
            if self.path != ":memory:":
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return len(stale)
        except sqlite3.Error:
            return 0

    def prune_sessions(self, keep: int) -> int:
        """Delete the rows of all but the last ``keep`` sessions; returns how many rows went.
        Best effort, like :meth:`redact_shoppers`."""
        try:
            row = self._conn.execute("SELECT seq FROM journal WHERE kind = 'session' ORDER BY seq DESC "
                                     "LIMIT 1 OFFSET ?", (max(keep, 1) - 1,)).fetchone()
            if row is None or self._open:
                return 0
            with self._conn:
                return self._conn.execute("DELETE FROM journal WHERE seq < ?", (row[0],)).rowcount
        except sqlite3.Error:
            return 0

    def close(self) -> None:
        self._conn.close()


_NUMBER = (int, float)
#: What each kind of row holds: field -> the types it may have (a field that may be None may
#: also be missing). A row that does not fit is damage, named when the file is opened, never a
#: basket that breaks later (a quantity that is text, a price that is null).
ROW_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "session": {"shopper": (str,), "load_g": (*_NUMBER, type(None))},
    "state": {"state": (str,), "checkout": (dict, type(None))},
    "pending": {"change": (dict, type(None)), "load_g": (*_NUMBER, type(None))},
    "add": {"id": (int,), "code": (str,), "name": (str,), "qty": (int,), "sold_by": (str,),
            "unit_price_cents": (int,), "price_cents": (int,), "weight_g": (*_NUMBER, type(None))},
    "remove": {"id": (int,), "qty": (int,), "grams": (*_NUMBER, type(None))},
    "question": {"id": (int,), "kind": (str,), "delta_g": _NUMBER, "candidates": (list,)},
    "answer": {"id": (int,), "resolution": (str,)},
}


def check_row(t: object, kind: str, data: dict[str, Any]) -> None:
    """Raise ValueError saying what is wrong with a journal row, if anything."""
    fields = ROW_FIELDS.get(kind)
    if fields is None:
        raise ValueError(f"no such kind of row (one of {', '.join(ROW_FIELDS)})")
    if isinstance(t, bool) or not isinstance(t, _NUMBER):
        raise ValueError(f"its time {t!r} is not a number")
    for name, types in fields.items():
        if name not in data and type(None) not in types:
            raise ValueError(f"missing field {name!r}")
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"{name} is {value!r}, not {' or '.join(k.__name__ for k in types)}")
    if kind == "state" and data["state"] not in {s.value for s in snapshot.SessionState}:
        raise ValueError(f"no such session state {data['state']!r}")
    if kind in ("add", "remove") and data["qty"] < 1:
        raise ValueError(f"qty {data['qty']} is not a positive number of units")
    if kind == "add" and data["sold_by"] not in ("unit", "weight"):
        raise ValueError(f"sold_by {data['sold_by']!r} is neither unit nor weight")
    if kind == "question" and not all(isinstance(c, dict) and isinstance(c.get("code"), str)
                                      for c in data["candidates"]):
        raise ValueError("a candidate is not an object with a code")


class Basket:
    """The current session's basket and questions; every mutation goes through the journal."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self.session = SessionRecord()
        self._saved: SessionRecord | None = None   # the state when the open transaction began
        self._depth = 0
        try:
            for seq, t, kind, data in journal.rows(journal.last_session_start()):
                try:
                    self._apply(t, kind, data, seq)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    what = f"item {exc.args[0]} was never added" if isinstance(exc, KeyError) and kind == "remove" \
                        else f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                    raise DamagedJournal(f"{journal.path}: row {seq} ({kind}): {what}") from None
        except DamagedJournal:
            journal.close()   # so the file can be moved aside
            raise
        # Sessions before this one (and this one once paid) no longer need the shopper's token.
        open_session = self.session.state in ("shopping", "checkout")
        journal.redact_shoppers(self.session.seq if open_session else None)
        journal.prune_sessions(KEEP_SESSIONS)
        # The open session's token stays until it is paid or ends, here too (a restart's
        # reconciliation that finds its order settled ends it).
        self._token_on_disk = open_session and bool(self.session.shopper)

    @classmethod
    def open(cls, path: str | Path) -> Basket:
        return cls(Journal(path))

    @classmethod
    def for_config(cls, config: Any) -> Basket:
        """The cart's journal: ``basket.db`` in the configured state directory."""
        return cls.open(Path(config.state_dir()) / "basket.db")

    # -- reading -------------------------------------------------------------------------

    @property
    def items(self) -> list[Item]:
        return sorted(self.session.items.values(), key=lambda i: i.id)

    @property
    def questions(self) -> list[OpenQuestion]:
        return sorted(self.session.questions.values(), key=lambda q: q.id)

    def total_cents(self) -> int:
        return sum(i.price_cents for i in self.session.items.values())

    def quantity(self, code: str) -> int:
        return sum(i.qty for i in self.session.items.values() if i.code == code)

    def contents(self) -> dict[str, tuple[int, float]]:
        """code -> (units, grams weighed) for comparing baskets."""
        out: dict[str, tuple[int, float]] = {}
        for i in self.session.items.values():
            qty, grams = out.get(i.code, (0, 0.0))
            out[i.code] = (qty + i.qty, grams + (i.weight_g or 0.0))
        return out

    # -- changing (journal first, then memory) ----------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything changed inside is one journal commit: on disk and in memory together, or
        (an exception, a commit that fails) not at all. Nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._depth, self._saved = 1, None
        try:
            yield
        except BaseException:
            self._undo()
            raise
        finally:
            self._depth = 0
        if self.journal.in_transaction:
            try:
                self.journal.commit()
            except JournalWriteFailed:
                self._undo()
                raise
            self._after_commit()
        self._saved = None

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def _undo(self) -> None:
        self.journal.rollback()
        if self._saved is not None:
            self.session, self._saved = self._saved, None

    def _record(self, t: float, kind: str, data: dict[str, Any]) -> None:
        if self._depth:
            if not self.journal.in_transaction:
                # The first change of the transaction: keep the state to go back to. Items and
                # questions are immutable, so copies of the two dicts are enough.
                s = self.session
                self._saved = replace(s, items=dict(s.items), questions=dict(s.questions))
                self.journal.begin()
        seq = self.journal.append(t, kind, data)
        if kind == "session":
            self._token_on_disk = True
        self._apply(t, kind, data, seq)
        if not self._depth:
            self._after_commit()

    def _after_commit(self) -> None:
        # Once paid or ended, the session's token has done its work: blank it on disk too.
        if self._token_on_disk and self.session.state in ("done", "idle"):
            self.journal.redact_shoppers(None)
            self._token_on_disk = False

    def begin_session(self, t: float, shopper: str, load_g: float | None = None) -> None:
        """``load_g``: the net load at rest when the session began (see ``SessionRecord.load_g``)."""
        self._record(t, "session", {"shopper": shopper} if load_g is None else {"shopper": shopper, "load_g": load_g})

    def set_state(self, t: float, state: str, checkout: JournaledCheckout | None = None) -> None:
        self._record(t, "state", {"state": state, "checkout": checkout})

    def set_pending(self, t: float, change: dict[str, Any] | None, load_g: float | None = None) -> None:
        """The settled change waiting to be decided (None: decided, leaving ``load_g`` on the
        scale); see ``SessionRecord.pending`` and ``SessionRecord.load_g``."""
        self._record(t, "pending", {"change": change} if load_g is None else {"change": change, "load_g": load_g})

    def add(self, t: float, *, code: str, name: str, qty: int, sold_by: str, unit_price_cents: int,
            price_cents: int, weight_g: float | None, image: str | None = None,
            place: tuple[str, int, int, int, int] | None = None, look: str | None = None) -> Item:
        item_id = self.session.next_item_id
        self._record(t, "add", {"id": item_id, "code": code, "name": name, "qty": qty, "sold_by": sold_by,
                                "unit_price_cents": unit_price_cents, "price_cents": price_cents,
                                "weight_g": weight_g, "image": image, "place": list(place) if place else None,
                                "look": look})
        return self.session.items[item_id]

    def remove(self, t: float, item_id: int, qty: int, grams: float | None = None) -> None:
        """Take ``qty`` units out of placement ``item_id`` (a weighed lot goes whole); ``grams``,
        what the scale saw leave, keeps the weight of the units left exact."""
        if item_id not in self.session.items:
            raise KeyError(item_id)
        self._record(t, "remove", {"id": item_id, "qty": qty, "grams": grams})

    def remove_units(self, t: float, code: str, qty: int, grams: float | None = None) -> int:
        """Take ``qty`` units of ``code`` out, newest placements first; returns how many went."""
        items = sorted((i for i in self.session.items.values() if i.code == code), key=lambda i: -i.id)
        left = qty
        for item in items:
            if left <= 0:
                break
            take = min(left, item.qty)
            # the measured loss belongs to one placement only when one placement gives it all
            self.remove(t, item.id, take, grams if take == qty else None)
            left -= take
        return qty - left

    def ask(self, t: float, kind: QuestionKind, delta_g: float, candidates: list[QuestionCandidate],
            place: tuple[str, int, int, int, int] | None = None, look: str | None = None) -> OpenQuestion:
        qid = self.session.next_question_id
        self._record(t, "question", {"id": qid, "kind": kind, "delta_g": delta_g, "candidates": candidates,
                                     "place": list(place) if place else None, "look": look})
        return self.session.questions[qid]

    def close_question(self, t: float, qid: int, resolution: str) -> None:
        self._record(t, "answer", {"id": qid, "resolution": resolution})

    # -- folding ------------------------------------------------------------------------------

    def _apply(self, t: float, kind: str, data: dict[str, Any], seq: int) -> None:
        check_row(t, kind, data)
        s = self.session
        if kind == "session":
            load = data.get("load_g")
            start = None if load is None else float(load)
            self.session = SessionRecord(state="shopping", shopper=data["shopper"], started_t=t, seq=seq,
                                         load_g=start, start_load_g=start)
        elif kind == "state":
            s.state = data["state"]
            s.checkout = data.get("checkout")
        elif kind == "add":
            s.items[data["id"]] = Item(id=data["id"], code=data["code"], name=data["name"], qty=data["qty"],
                                       sold_by=data["sold_by"], unit_price_cents=data["unit_price_cents"],
                                       price_cents=data["price_cents"], weight_g=data["weight_g"], t=t,
                                       image=data.get("image"),
                                       place=tuple(data["place"]) if data.get("place") else None,
                                       look=data.get("look"))
            s.next_item_id = max(s.next_item_id, data["id"] + 1)
        elif kind == "remove":
            item = s.items[data["id"]]
            left = item.qty - data["qty"]
            if left <= 0 or item.sold_by == "weight":
                del s.items[item.id]
            else:
                weight = item.weight_g
                if weight is not None:
                    gone = data.get("grams")
                    weight = weight - gone if gone is not None and 0 < gone < weight else weight / item.qty * left
                s.items[item.id] = Item(**{**asdict(item), "qty": left, "price_cents": item.unit_price_cents * left,
                                           "weight_g": weight})
        elif kind == "question":
            s.questions[data["id"]] = OpenQuestion(id=data["id"], t=t, kind=QuestionKind(data["kind"]), delta_g=data["delta_g"],
                                                   candidates=tuple(data["candidates"]),
                                                   place=tuple(data["place"]) if data.get("place") else None,
                                                   look=data.get("look"))
            s.next_question_id = max(s.next_question_id, data["id"] + 1)
            s.questions_asked += 1
        elif kind == "answer":
            s.questions.pop(data["id"], None)
        elif kind == "pending":
            change = data["change"]
            if change is not None and not all(isinstance(change.get(k), (int, float))
                                              for k in ("t", "delta_g", "total_g", "deadline")):
                raise ValueError(f"pending change {change!r} lacks a number")
            s.pending = change
            if data.get("load_g") is not None:
                s.load_g = float(data["load_g"])
