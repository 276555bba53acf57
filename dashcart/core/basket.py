"""The basket and the session around it, journaled to SQLite so a power cut loses nothing.

Every change (an item added or removed, a question asked or answered, the session begun,
checked out or ended) is one row appended to ``journal`` and committed (WAL,
``synchronous=FULL``) *before* the in-memory state changes, so what the screen shows is
never ahead of what the disk has. Reopening the file folds the rows of the last session
back into exactly the same basket: nothing lost, nothing doubled.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dashcart.errors import PermanentlyBroken

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
"""


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


@dataclass(frozen=True)
class OpenQuestion:
    """A question as journaled: enough to show it again after a restart."""

    id: int
    t: float
    kind: str                    # added | removed | unidentified | remove_unknown
    delta_g: float
    candidates: tuple[dict[str, Any], ...] = ()   # {"code", "qty", "score", "item_id"?}
    place: tuple[str, int, int, int, int] | None = None   # where the cameras saw the change
    look: str | None = None                               # ... and how what changed looked


@dataclass
class SessionState:
    """What the journal says about the current session (folded from its rows)."""

    state: str = "idle"          # idle | shopping | checkout | done
    shopper: str = ""
    started_t: float | None = None
    items: dict[int, Item] = field(default_factory=dict)
    questions: dict[int, OpenQuestion] = field(default_factory=dict)
    next_item_id: int = 1
    next_question_id: int = 1
    checkout: dict[str, Any] | None = None
    questions_asked: int = 0
    seq: int = 0                 # the journal row that began the session: unique per cart


class Journal:
    """Append-only rows in SQLite (WAL); each append is committed before it returns."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a commit in WAL mode is on the disk when it returns, power cut or not.
                self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise PermanentlyBroken(f"{self.path}: cannot open the basket journal: {exc}") from None

    def append(self, t: float, kind: str, data: dict[str, Any]) -> int:
        cur = self._conn.execute("INSERT INTO journal (t, kind, data) VALUES (?, ?, ?)",
                                 (t, kind, json.dumps(data, sort_keys=True)))
        return int(cur.lastrowid)

    def rows(self, after_seq: int = 0) -> Iterator[tuple[int, float, str, dict[str, Any]]]:
        for seq, t, kind, data in self._conn.execute(
                "SELECT seq, t, kind, data FROM journal WHERE seq > ? ORDER BY seq", (after_seq,)):
            yield seq, t, kind, json.loads(data)

    def last_session_start(self) -> int:
        row = self._conn.execute("SELECT MAX(seq) FROM journal WHERE kind = 'session'").fetchone()
        return int(row[0]) - 1 if row and row[0] else 0

    def close(self) -> None:
        self._conn.close()


class Basket:
    """The current session's basket and questions; every mutation goes through the journal."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self.session = SessionState()
        for seq, t, kind, data in journal.rows(journal.last_session_start()):
            self._apply(t, kind, data, seq)

    @classmethod
    def open(cls, path: str | Path) -> "Basket":
        return cls(Journal(path))

    @classmethod
    def for_config(cls, config: Any) -> "Basket":
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

    def _record(self, t: float, kind: str, data: dict[str, Any]) -> None:
        seq = self.journal.append(t, kind, data)
        self._apply(t, kind, data, seq)

    def begin_session(self, t: float, shopper: str) -> None:
        self._record(t, "session", {"shopper": shopper})

    def set_state(self, t: float, state: str, checkout: dict[str, Any] | None = None) -> None:
        self._record(t, "state", {"state": state, "checkout": checkout})

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

    def ask(self, t: float, kind: str, delta_g: float, candidates: list[dict[str, Any]],
            place: tuple[str, int, int, int, int] | None = None, look: str | None = None) -> OpenQuestion:
        qid = self.session.next_question_id
        self._record(t, "question", {"id": qid, "kind": kind, "delta_g": delta_g, "candidates": candidates,
                                     "place": list(place) if place else None, "look": look})
        return self.session.questions[qid]

    def close_question(self, t: float, qid: int, resolution: str) -> None:
        self._record(t, "answer", {"id": qid, "resolution": resolution})

    # -- folding ------------------------------------------------------------------------------

    def _apply(self, t: float, kind: str, data: dict[str, Any], seq: int) -> None:
        s = self.session
        if kind == "session":
            self.session = SessionState(state="shopping", shopper=data["shopper"], started_t=t, seq=seq)
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
            s.questions[data["id"]] = OpenQuestion(id=data["id"], t=t, kind=data["kind"], delta_g=data["delta_g"],
                                                   candidates=tuple(data["candidates"]),
                                                   place=tuple(data["place"]) if data.get("place") else None,
                                                   look=data.get("look"))
            s.next_question_id = max(s.next_question_id, data["id"] + 1)
            s.questions_asked += 1
        elif kind == "answer":
            s.questions.pop(data["id"], None)
