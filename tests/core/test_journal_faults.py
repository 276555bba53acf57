"""The journal under faults: one decision is one commit; a write that fails changes nothing and is
a save fault; a damaged file is one line naming it; the shopper's token leaves the file once the
session is paid; the outbox and the journal are reconciled."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace

import pytest

from dashcart.core.basket import Basket, DamagedJournal, Journal, JournalWriteFailed
from dashcart.core.controller import Controller, ControllerSettings, OrderOnRecord
from dashcart.events import BarcodeSeen, LaneDetected, LaneEntered, OrderAcknowledged, ShopperAction, Tick, WeightSettled
from dashcart.snapshot import SessionState

JUICE = "2280000001285"
TOKEN = "tok-secret-4711"


class FakeStore:
    def __init__(self):
        self.orders = []

    def place_order(self, lines, *, shopper_token, session_id, t, seq=1):
        self.orders.append(SimpleNamespace(seq=seq, session=session_id))
        return SimpleNamespace(order_id=f"cart-{session_id}-{seq}")


def make(catalogue, path, store=None):
    return Controller(catalogue, Basket(Journal(path)), checkout=store or FakeStore(),
                      settings=ControllerSettings(summary_s=5.0))


def place(c, t, grams, code=None):
    if code:
        c.handle(BarcodeSeen(t - 1.0, camera="top", gtin13=code, format="EAN-13"))
    c.handle(WeightSettled(t, delta_g=grams, total_g=0.0, started_t=t - 0.8))
    c.handle(Tick(t + 1.0))


def rows(path):
    db = sqlite3.connect(path)
    try:
        return [(kind, json.loads(data)) for kind, data in db.execute("SELECT kind, data FROM journal ORDER BY seq")]
    finally:
        db.close()


# -- one decision, one transaction ---------------------------------------------------------------

def test_a_transaction_commits_all_or_nothing(tmp_path):
    path = tmp_path / "basket.db"
    b = Basket.open(path)
    b.begin_session(0.0, "s")
    q = b.ask(1.0, "added", 1062.0, [{"code": JUICE, "qty": 1, "score": 0.5}])
    with pytest.raises(RuntimeError):
        with b.transaction():
            b.close_question(2.0, q.id, f"chose {JUICE}")
            b.add(2.0, code=JUICE, name="Juice", qty=1, sold_by="unit", unit_price_cents=299, price_cents=299,
                  weight_g=1062.0)
            raise RuntimeError("killed between the two")
    # neither on disk nor in memory
    assert [q.id for q in b.questions] == [q.id] and b.items == []
    assert [k for k, _ in rows(path)] == ["session", "question"]
    with b.transaction():
        b.close_question(2.0, q.id, f"chose {JUICE}")
        b.add(2.0, code=JUICE, name="Juice", qty=1, sold_by="unit", unit_price_cents=299, price_cents=299,
              weight_g=1062.0)
    again = Basket.open(path)
    assert again.questions == [] and [i.code for i in again.items] == [JUICE]


def test_an_answer_is_one_commit(catalogue, tmp_path):
    """Answering a question closes it and adds the item in one commit: a crash between is impossible."""
    path = tmp_path / "basket.db"
    c = make(catalogue, path)
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    place(c, 2.0, 170.0)                            # no barcode, no vision: a question
    (q,) = c.basket.questions
    commits = []
    c.basket.journal.on_commit = commits.append
    c.handle(ShopperAction(5.0, "choose", "4088", question_id=q.id))
    assert commits == ["before", "after"]           # one commit for the answer and the item
    assert [k for k, _ in rows(path)][-2:] == ["answer", "add"]


# -- a write that fails --------------------------------------------------------------------------

def _fill_the_disk(basket: Basket) -> None:
    """SQLite's own "database or disk is full": the file may not grow past its current pages."""
    conn = basket.journal._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_failing_write_takes_nothing_and_is_a_save_fault(catalogue, tmp_path, fault):
    path = tmp_path / "basket.db"
    c = make(catalogue, path)
    snaps = []
    c.subscribe(snaps.append)
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    place(c, 2.0, 1062.0, JUICE)
    assert c.basket.quantity(JUICE) == 1
    if fault == "full":
        _fill_the_disk(c.basket)
        for i in range(60):
            place(c, 10.0 + 3 * i, 1062.0, JUICE)
            if c.save_fault:
                break
    else:
        c.basket.journal._conn.execute("PRAGMA query_only = ON")   # what a read-only remount gives
        place(c, 10.0, 1062.0, JUICE)
    assert c.save_fault and "cannot save" in c.save_fault
    assert c.unsaved >= 1
    # nothing was taken that is not on disk: memory and file agree
    assert c.basket.contents() == Basket.open(path).contents()
    assert snaps[-1] is c.snapshot() and any(e["type"] == "cannot_save" for e in c.log)


def test_a_sign_in_that_cannot_be_saved_stays_a_save_fault_until_one_is(catalogue, tmp_path):
    """No session open: the failed sign-in is on the screen (it was cleared in the same event as
    'the session is over'); the next sign-in that is saved begins a session and clears it."""
    c = make(catalogue, tmp_path / "basket.db")
    c.basket.journal._conn.execute("PRAGMA query_only = ON")
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    c.handle(Tick(1.0))
    assert c.state is SessionState.IDLE and "cannot save" in c.save_fault
    c.basket.journal._conn.execute("PRAGMA query_only = OFF")
    c.handle(ShopperAction(2.0, "signin", TOKEN))
    assert c.state is SessionState.SHOPPING and not c.save_fault and c.unsaved == 0


def test_a_checkout_whose_journal_write_fails_is_not_placed_twice(catalogue, tmp_path):
    path = tmp_path / "basket.db"
    store = FakeStore()
    c = make(catalogue, path, store)
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    place(c, 2.0, 1062.0, JUICE)
    c.handle(LaneDetected(10.0, lane="lane-1"))
    c.basket.journal._conn.execute("PRAGMA query_only = ON")
    c.handle(Tick(16.0))                             # the countdown ends: the order is stored, "paying" is not
    assert c.save_fault and c.state is SessionState.CHECKOUT
    c.basket.journal._conn.execute("PRAGMA query_only = OFF")
    c.handle(ShopperAction(17.0, "confirm"))
    assert [o.seq for o in store.orders] == [1, 1]   # the same order number again: the outbox gives it back



def test_a_weight_change_not_saved_holds_the_checkout_for_staff(catalogue, tmp_path):
    """Something went in while the journal could not save it: once the disk is back the basket
    lacks it, so the lane does not charge that basket until staff have checked it."""
    store = FakeStore()
    c = make(catalogue, tmp_path / "basket.db", store)
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    place(c, 2.0, 1062.0, JUICE)
    c.basket.journal._conn.execute("PRAGMA query_only = ON")
    place(c, 10.0, 1062.0, JUICE)                      # the second juice: not saved
    assert c.unsaved_weight_changes == 1 and c.basket.quantity(JUICE) == 1
    c.basket.journal._conn.execute("PRAGMA query_only = OFF")
    c.handle(LaneDetected(20.0, lane="lane-1"))
    c.handle(Tick(30.0))
    snap = c.snapshot()
    assert snap.checkout.stage == "blocked" and snap.checkout.reason_key == "checkout.unsaved"
    assert store.orders == []
    c.handle(ShopperAction(31.0, "staff", "unblock"))   # staff looked in the basket
    c.handle(Tick(40.0))
    assert c.snapshot().checkout.stage == "paying" and len(store.orders) == 1

# -- reconcile on start ----------------------------------------------------------------------------

def _paying(catalogue, path, store):
    c = make(catalogue, path, store)
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    place(c, 2.0, 1062.0, JUICE)
    c.handle(LaneDetected(10.0, lane="lane-1"))
    c.handle(Tick(16.0))
    assert c.snapshot().checkout.stage == "paying"
    return c


def test_an_order_settled_before_the_crash_closes_the_session(catalogue, tmp_path):
    path, store = tmp_path / "basket.db", FakeStore()
    c = _paying(catalogue, path, store)
    order_id = c.snapshot().checkout.order_id
    again = make(catalogue, path, store)             # killed after the outbox settled it
    assert again.state is SessionState.CHECKOUT
    notes = again.reconcile(20.0, [OrderOnRecord(order_id, again.session_key, 1, "local")])
    assert again.state is SessionState.DONE and notes
    again.handle(ShopperAction(21.0, "signout"))
    assert again.state is SessionState.IDLE
    assert make(catalogue, path, store).state is SessionState.IDLE


def test_an_order_stored_but_not_journaled_is_adopted_not_offered_for_change(catalogue, tmp_path):
    path, store = tmp_path / "basket.db", FakeStore()
    c = make(catalogue, path, store)
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    place(c, 2.0, 1062.0, JUICE)
    c.handle(LaneDetected(10.0, lane="lane-1"))
    key = c.session_key
    again = make(catalogue, path, store)             # killed after the outbox commit, before "paying"
    assert again.snapshot().checkout.stage == "summary"
    again.reconcile(11.0, [OrderOnRecord(f"cart-{key}-1", key, 1, "pending")])
    view = again.snapshot().checkout
    assert view.stage == "paying" and not view.cancellable and view.order_id == f"cart-{key}-1"
    again.handle(OrderAcknowledged(12.0, f"cart-{key}-1", "local"))
    assert again.state is SessionState.DONE
    assert make(catalogue, path, store).state is SessionState.DONE


@pytest.mark.parametrize("status", ["pending", "accepted", "rejected"])
def test_an_order_in_the_outbox_of_a_session_the_journal_says_is_shopping(catalogue, tmp_path, status):
    # the journal's -wal torn after the order was stored: the journal says shopping, the outbox
    # holds the order; shopping on, the shopper would check out again and pay twice
    path, store = tmp_path / "basket.db", FakeStore()
    c = make(catalogue, path, store)
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    place(c, 2.0, 1062.0, JUICE)
    key = c.session_key
    again = make(catalogue, path, store)
    assert again.state is SessionState.SHOPPING
    notes = again.reconcile(11.0, [OrderOnRecord(f"cart-{key}-1", key, 1, status)])
    if status == "rejected":     # refused by the store, then cancelled: shopping on is right
        assert again.state is SessionState.SHOPPING and not notes
        return
    assert notes and again.state is (SessionState.CHECKOUT if status == "pending" else SessionState.DONE)
    assert again.snapshot().checkout.order_id == f"cart-{key}-1"
    again.handle(LaneDetected(20.0, lane="lane-1"))
    again.handle(Tick(30.0))
    assert store.orders == []                        # no second order


@pytest.mark.parametrize("journal", ["as journaled now", "stage journaled as blocked"])
def test_a_checkout_freed_after_the_exit_is_not_held_after_a_restart(catalogue, tmp_path, journal):
    """Through the exit while held for a question, the question answered, then a crash in the
    cancel window: the journal said "blocked", and the cart came back held with nothing to
    answer, no cancel, and nothing for staff's "unblock" to do (ending the session, unpaid, was
    the only way out). Journals written that way (until 2026-12-07) are on carts."""
    path, store = tmp_path / "basket.db", FakeStore()
    c = make(catalogue, path, store)
    c.handle(ShopperAction(0.0, "signin", TOKEN))
    place(c, 2.0, 170.0)                            # nothing identified it: a question
    (q,) = c.basket.questions
    c.handle(LaneEntered(5.0, lane="lane-1"))
    c.handle(LaneDetected(7.0, lane="lane-1"))      # the exit, held for the question
    c.handle(ShopperAction(8.0, "choose", "4088", question_id=q.id))
    if journal == "stage journaled as blocked":
        c.basket.set_state(8.0, "checkout", {**c.basket.session.checkout, "stage": "blocked"})
    assert c.basket.session.checkout["stage"] == ("summary" if journal == "as journaled now" else "blocked")
    c.basket.journal.close()
    again = make(catalogue, path, store)             # killed within the cancel window
    assert again.snapshot().checkout.stage == "summary"
    again.handle(Tick(20.0))
    again.handle(Tick(26.0))                         # a whole window on the new clock, then paid
    assert len(store.orders) == 1 and again.snapshot().checkout.stage == "paying"


def test_the_exit_heard_again_after_a_restart_keeps_the_paying_order_journaled(catalogue, tmp_path):
    # restarted while paying (not journaled as past the exit), the lane heard again as the cart
    # rolls on: the exit's journal row dropped the order's id
    path, store = tmp_path / "basket.db", FakeStore()
    order_id = _paying(catalogue, path, store).snapshot().checkout.order_id
    again = make(catalogue, path, store)
    again.handle(LaneDetected(30.0, lane="lane-1"))
    assert again.basket.session.checkout["order_id"] == order_id
    assert make(catalogue, path, store).snapshot().checkout.order_id == order_id


def test_a_journaled_order_missing_from_the_outbox_is_a_question_for_staff(catalogue, tmp_path):
    path, store = tmp_path / "basket.db", FakeStore()
    _paying(catalogue, path, store)
    again = make(catalogue, path, store)
    notes = again.reconcile(20.0, [])                # the outbox was emptied or deleted
    view = again.snapshot().checkout
    assert view.stage == "failed" and "staff" in view.reason and notes
    # order numbers continue: a retry staff allow is order 2, never a second order 1
    again.handle(ShopperAction(21.0, "confirm"))
    assert [o.seq for o in store.orders] == [1, 2]


# -- damaged files ---------------------------------------------------------------------------------

def _damage(path, how):
    b = Basket.open(path)
    b.begin_session(0.0, "s")
    item = b.add(1.0, code=JUICE, name="Juice", qty=1, sold_by="unit", unit_price_cents=299, price_cents=299,
                 weight_g=1062.0)
    b.journal.close()
    db = sqlite3.connect(path)
    if how == "bad cell":
        db.execute("UPDATE journal SET data = 'not json{' WHERE kind = 'add'")
    elif how == "cut row":
        db.execute("UPDATE journal SET data = substr(data, 1, 20) WHERE kind = 'add'")
    elif how == "unknown removal":
        db.execute("INSERT INTO journal (t, kind, data) VALUES (2, 'remove', ?)",
                   (json.dumps({"id": item.id + 7, "qty": 1}),))
    elif how == "missing field":
        db.execute("INSERT INTO journal (t, kind, data) VALUES (2, 'add', '{\"id\": 9}')")
    elif how == "a list":
        db.execute("INSERT INTO journal (t, kind, data) VALUES (2, 'answer', '[1, 2]')")
    elif how == "wrong table":
        db.execute("DROP TABLE journal")
        db.execute("CREATE TABLE journal (x)")
    db.commit()
    db.close()
    if how == "empty file":
        path.write_bytes(b"")
    elif how == "not sqlite":
        path.write_bytes(b"hello, this is not a database" * 200)
    elif how == "malformed page":
        data = bytearray(path.read_bytes())
        data[4096 + 10:4096 + 400] = b"\xff" * 390
        path.write_bytes(bytes(data))


DAMAGE = ["bad cell", "cut row", "unknown removal", "missing field", "a list", "wrong table", "empty file",
          "not sqlite", "malformed page"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_journal_is_one_line_naming_the_file(tmp_path, how):
    path = tmp_path / "basket.db"
    _damage(path, how)
    with pytest.raises(DamagedJournal) as caught:
        Basket.open(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message


@pytest.mark.parametrize("name", ["basket.db", "outbox.sqlite"])
def test_an_emptied_file_beside_its_wal_is_damage_and_the_wal_is_kept(tmp_path, name):
    """A power cut that leaves the main file empty while its -wal holds the commits: SQLite deletes
    the -wal of an empty database file when it opens it, so opening it would lose every commit in
    the log without a word (an empty basket, or an outbox without its pending order). It is
    damage, said in one line, and the -wal is left as it was for the on-call engineer."""
    from dashcart.core.checkout.outbox import Outbox
    from dashcart.errors import PermanentlyBroken

    live = tmp_path / "live" / name
    live.parent.mkdir()
    db = sqlite3.connect(live, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")      # the commits stay in the -wal, as between checkpoints
    db.execute("CREATE TABLE kept (x)")
    db.execute("INSERT INTO kept VALUES ('a commit')")
    path = tmp_path / name
    path.write_bytes(b"")                           # the main file cut to nothing ...
    wal = live.with_name(f"{name}-wal").read_bytes()
    db.close()
    assert wal
    path.with_name(f"{name}-wal").write_bytes(wal)  # ... beside its whole -wal
    with pytest.raises(DamagedJournal if name == "basket.db" else PermanentlyBroken) as caught:
        Basket.open(path) if name == "basket.db" else Outbox(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    if name == "outbox.sqlite":   # moved aside by hand: the line says the orders are in the -wal
        assert "outbox.sqlite-wal" in str(caught.value)
    assert path.with_name(f"{name}-wal").read_bytes() == wal


@pytest.mark.parametrize("crash_in", ["fsync", "replace"])
def test_a_new_state_file_appears_whole_or_not_at_all(tmp_path, monkeypatch, crash_in):
    """A cart killed while it makes its journal or outbox leaves no file, never an empty one
    (which the next start would take for a file cut short): it starts clean next time."""
    import os

    from dashcart.core.checkout.outbox import Outbox

    class Killed(BaseException):
        pass

    def kill(*args):
        raise Killed
    for path, opener in ((tmp_path / "basket.db", Basket.open), (tmp_path / "outbox.sqlite", Outbox)):
        with monkeypatch.context() as m:
            m.setattr(os, crash_in, kill)
            with pytest.raises(Killed):
                opener(path)
        assert not path.exists()
        opened = opener(path)                      # the next start: a new file, no damage
        assert path.stat().st_size > 0 and not list(tmp_path.glob(f".{path.name}.new*"))
        (opened.journal if isinstance(opened, Basket) else opened).close()


def test_a_journal_that_cannot_be_created_says_so(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JournalWriteFailed) as caught:
        Basket.open(blocker / "state" / "basket.db")
    assert str(blocker / "state") in str(caught.value)


# -- privacy at rest -------------------------------------------------------------------------------

def test_the_token_leaves_the_journal_once_paid(catalogue, tmp_path):
    path, store = tmp_path / "basket.db", FakeStore()
    c = _paying(catalogue, path, store)
    assert TOKEN.encode() in (path.read_bytes() + (tmp_path / "basket.db-wal").read_bytes())
    c.handle(OrderAcknowledged(20.0, c.snapshot().checkout.order_id, "local"))
    assert c.state is SessionState.DONE
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("basket.db*"))
    assert TOKEN.encode() not in on_disk
    assert [d["shopper"] for k, d in rows(path) if k == "session"] == [""]
    # a paid session restored after a restart still shows its receipt stage
    assert make(catalogue, path, store).state is SessionState.DONE


def test_the_token_leaves_the_journal_when_the_restart_finds_the_order_paid(catalogue, tmp_path):
    """Killed after the outbox settled the order, before the journal heard: the restarted cart's
    reconciliation ends the session, and the token goes then, not at the next restart."""
    path, store = tmp_path / "basket.db", FakeStore()
    c = _paying(catalogue, path, store)
    order_id = c.snapshot().checkout.order_id
    c.basket.journal.close()
    again = make(catalogue, path, store)
    assert again.state is SessionState.CHECKOUT and again.basket.session.shopper == TOKEN
    again.reconcile(20.0, [OrderOnRecord(order_id, again.session_key, 1, "local")])
    assert again.state is SessionState.DONE
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("basket.db*"))
    assert TOKEN.encode() not in on_disk


def test_an_old_file_with_tokens_is_cleaned_when_opened(tmp_path):
    path = tmp_path / "basket.db"
    b = Basket.open(path)
    b.begin_session(0.0, "old-token-1")
    b.begin_session(5.0, TOKEN)                     # the first session never reached done (an old build)
    b.journal.close()
    again = Basket.open(path)
    assert again.session.shopper == TOKEN           # the open session keeps its token: it may still pay
    assert [d["shopper"] for k, d in rows(path) if k == "session"] == ["", TOKEN]


def test_the_journal_keeps_the_last_sessions_only(tmp_path, monkeypatch):
    from dashcart.core import basket as basket_module
    monkeypatch.setattr(basket_module, "KEEP_SESSIONS", 3)
    path = tmp_path / "basket.db"
    b = Basket.open(path)
    for i in range(6):
        b.begin_session(10.0 * i, f"dcs1:shopper-{i:012d}")
        b.add(10.0 * i + 1, code=JUICE, name="Juice", qty=1, sold_by="unit", unit_price_cents=299,
              price_cents=299, weight_g=1062.0)
        b.set_state(10.0 * i + 2, "idle")
    b.journal.close()
    again = Basket.open(path)
    assert [k for k, _ in rows(path)].count("session") == 3 and len(rows(path)) == 9
    assert again.session.state == "idle" and [d["shopper"] for k, d in rows(path) if k == "session"] == ["", "", ""]
