"""Checkout against the reference store on a real loopback HTTP server, with real faults."""

import queue
import sqlite3

import pytest

from dashcart.config import parse_config
from dashcart.core.checkout.order import order_ids, session_id_for, signature_valid
from dashcart.core.checkout.outbox import Outbox
from dashcart.errors import Misconfigured, PermanentlyBroken
from dashcart.events import OrderAcknowledged, OrderDelayed, OrderRejected
from dashcart.runtime.checkout_sender import CheckoutService
from dashcart.sim.reference_store import ReferenceStore, StoreServer
from dashcart.snapshot import BasketLine

CART_KEY = "2b7e151628aed2a6abf7158809cf4f3c"
S1, S2 = "0123456789ab", "0123456789ac"      # session ids (12 hex digits, as session_id_for gives)
TOKEN = "dcs1:Kim0123456789abcdef"
TOKENS = {S1: TOKEN, S2: "dcs1:Lee0123456789abcdef"}   # a token is good for one session
SHOPPERS = {TOKEN: "kim@example.com", TOKENS[S2]: "lee@example.com"}
# Demo store products at the demo store's prices (the store charges its own).
LINES = (BasketLine("4020", "Golden Delicious", 1, 63, 329, "weight", 190.0),
         BasketLine("2410000001415", "Arla Standard Milk", 2, 398, 199))
TOTAL = 63 + 398


def new_store(tmp_path, catalogue, port=0, **kw):
    return StoreServer(ReferenceStore(tmp_path / "store.sqlite", {"cart-0001": bytes.fromhex(CART_KEY)},
                                      SHOPPERS, catalogue=catalogue), port=port, **kw).start()


@pytest.fixture
def store(tmp_path, catalogue):
    server = new_store(tmp_path, catalogue, slow_s=1.0)
    yield server
    server.stop()


def make_service(tmp_path, url, *, timeout_s=0.4, state="state", key=CART_KEY):
    config = parse_config(f'[cart]\nstate_dir = "{tmp_path / state}"\n'
                          f'[checkout]\nstore_url = "{url}"\ncart_key = "{key}"\ntimeout_s = {timeout_s}\n'
                          f'retry_initial_s = 0.5\nretry_max_s = 4.0\n', "dashcart.toml")
    return CheckoutService(config)


def place(service, session=S1, t=100.0):
    return service.place_order(LINES, shopper_token=TOKENS.get(session, TOKEN), session_id=session, t=t)


def deliver_until_settled(service, t=100.0, rounds=12):
    events = []
    for _ in range(rounds):
        due = service.next_due()
        if due is None:
            break
        t = max(t, due)
        events.extend(service.deliver_due(t))
    return events


def test_order_is_in_the_outbox_before_anything_is_sent(tmp_path, store):
    service = make_service(tmp_path, store.url)
    pending = place(service)
    assert store.requests == 0
    (record,) = Outbox(tmp_path / "state" / "outbox.sqlite").pending()
    assert record.order_id == pending.order_id and record.status == "pending"
    assert signature_valid(record.body, record.signature, bytes.fromhex(CART_KEY))
    assert record.total_cents == TOTAL


def test_accepted_order_shows_the_masked_receipt_address(tmp_path, store):
    service = make_service(tmp_path, store.url)
    pending = place(service)
    (event,) = service.deliver_due(100.0)
    assert event == OrderAcknowledged(100.0, pending.order_id, "accepted", receipt_to="k***@example.com",
                                      total_cents=TOTAL, receipt_path=event.receipt_path, ordered_cents=TOTAL)
    receipt = (tmp_path / "state" / "receipts" / f"{pending.order_id}.txt").read_text()
    assert "Charged by the store" in receipt and "4.61 USD" in receipt and "k***@example.com" in receipt
    assert service.status(pending.order_id).status == "accepted"
    assert [c[1] for c in store.store.charges()] == [pending.order_id]
    assert service.deliver_due(200.0) == []  # settled: never sent again


def test_connection_refused_then_store_comes_up(tmp_path, store):
    port = store.server_address[1]
    store.stop()
    service = make_service(tmp_path, f"http://127.0.0.1:{port}")
    pending = place(service)
    (event,) = service.deliver_due(100.0)
    assert isinstance(event, OrderDelayed) and "refused" in event.reason
    assert service.deliver_due(100.0) == []  # backing off: not due yet
    revived = new_store(tmp_path, store.store.catalogue, port=port)
    try:
        events = deliver_until_settled(service, 100.0)
        assert isinstance(events[-1], OrderAcknowledged)
        assert len(revived.store.charges()) == 1
        assert service.status(pending.order_id).attempts == 2
    finally:
        revived.stop()


@pytest.mark.parametrize("faults, reason", [
    (("500", "503"), "HTTP 500"),
    (("garbage",), "not an order reply"),
    (("wrong-order",), "does not match"),
    (("drop-before-commit",), "closed the connection"),
    (("drop-after-commit",), "closed the connection"),
    (("slow",), "did not answer"),   # the store commits after the cart gave up waiting
])
def test_transient_failures_are_retried_and_charged_exactly_once(tmp_path, store, faults, reason):
    service = make_service(tmp_path, store.url)
    store.inject(*faults)
    pending = place(service)
    events = deliver_until_settled(service)
    delayed = [e for e in events if isinstance(e, OrderDelayed)]
    assert len(delayed) == len(faults) and reason in delayed[0].reason
    assert isinstance(events[-1], OrderAcknowledged) and events[-1].receipt_to == "k***@example.com"
    assert [c[1] for c in store.store.charges()] == [pending.order_id]


def test_slow_answer_within_the_timeout_is_fine(tmp_path, store):
    store.slow_s = 0.2
    service = make_service(tmp_path, store.url, timeout_s=3.0)
    store.inject("slow")
    place(service)
    (event,) = service.deliver_due(100.0)
    assert isinstance(event, OrderAcknowledged)


def test_refusal_is_final_and_charges_nothing(tmp_path, store):
    service = make_service(tmp_path, store.url, key="00" * 16)   # not the key the store knows
    pending = place(service)
    (event,) = service.deliver_due(100.0)
    assert isinstance(event, OrderRejected) and "HTTP 401" in event.reason
    assert service.status(pending.order_id).status == "rejected"
    assert service.deliver_due(500.0) == [] and store.store.charges() == []


def test_same_key_for_a_different_basket_is_refused_not_charged_twice(tmp_path, store):
    first = make_service(tmp_path, store.url, state="a")
    place(first)
    first.deliver_due(100.0)
    other = make_service(tmp_path, store.url, state="b")
    other.place_order(LINES[:1], shopper_token=TOKEN, session_id=S1, t=100.0)
    (event,) = other.deliver_due(100.0)
    assert isinstance(event, OrderRejected) and "HTTP 409" in event.reason
    assert len(store.store.charges()) == 1


def test_placing_the_same_order_again_returns_it(tmp_path, store):
    service = make_service(tmp_path, store.url)
    assert place(service) == place(service)
    assert len(service.pending()) == 1
    assert place(service, session=S2).order_id != place(service).order_id


def test_cart_restarted_with_orders_in_the_outbox_sends_them(tmp_path, store):
    port = store.server_address[1]
    store.stop()
    before = make_service(tmp_path, f"http://127.0.0.1:{port}")
    ids = {place(before, session=S1).order_id, place(before, session=S2).order_id}
    before.deliver_due(100.0)
    before.close()   # power cut: nothing settled
    revived = new_store(tmp_path, store.store.catalogue, port=port)
    after = make_service(tmp_path, revived.url)
    events: queue.Queue = queue.Queue()
    after.start(events.put)
    try:
        acknowledged = {events.get(timeout=10).order_id for _ in range(2)}
    finally:
        after.close()
        revived.stop()
    assert acknowledged == ids
    assert {c[1] for c in revived.store.charges()} == ids


def test_ids_are_deterministic_for_a_replayed_session(tmp_path):
    sid = session_id_for("cart-0001", 12.5, 1_767_225_600.0)
    assert sid == session_id_for("cart-0001", 12.5, 1_767_225_600.0)
    assert sid != session_id_for("cart-0001", 12.5, 1_767_225_700.0)
    assert order_ids("cart-0001", sid, 1) == order_ids("cart-0001", sid, 1)
    a = make_service(tmp_path, "http://127.0.0.1:9", state="a")
    b = make_service(tmp_path, "http://127.0.0.1:9", state="b")
    assert a.outbox.add is not b.outbox.add
    pa, pb = place(a, session=sid), place(b, session=sid)
    assert pa == pb
    assert a.outbox.get(pa.idempotency_key).body == b.outbox.get(pb.idempotency_key).body


def test_no_store_writes_a_local_receipt(tmp_path):
    service = CheckoutService(parse_config(f'[cart]\nstate_dir = "{tmp_path}"\n'))
    assert service.demo
    pending = place(service)
    (event,) = service.deliver_due(100.0)
    assert event.status == "local" and event.total_cents == TOTAL
    text = (tmp_path / "receipts" / f"{pending.order_id}.txt").read_text()
    assert "TOTAL" in text and "4.61 USD" in text and "0.190 kg" in text
    assert "Golden Delicious" in (tmp_path / "receipts" / f"{pending.order_id}.html").read_text()


def test_bad_baskets_and_tokens_are_refused_before_the_outbox(tmp_path):
    service = CheckoutService(parse_config(f'[cart]\nstate_dir = "{tmp_path}"\n'))
    with pytest.raises(ValueError, match="basket is empty"):
        service.place_order([], shopper_token=TOKEN, session_id=S1, t=0.0)
    with pytest.raises(ValueError, match="shopper token"):
        service.place_order(LINES, shopper_token="https://example.com", session_id=S1, t=0.0)
    assert service.outbox.all() == []


@pytest.mark.parametrize("checkout, message", [
    ('store_url = "http://store.local"\n', "dashcart.toml: checkout.cart_key: missing"),
    ('store_url = "http://store.local"\ncart_key = "abc"\n', "checkout.cart_key: not hexadecimal"),
    ('store_url = "ftp://store.local"\ncart_key = "' + CART_KEY + '"\n', "checkout.store_url: 'ftp://store.local' is not an http(s) URL"),
])
def test_config_problems_are_one_clear_line(tmp_path, checkout, message):
    with pytest.raises(Misconfigured) as info:   # as the config is read: `doctor` and `config` say it too
        CheckoutService(parse_config(f'[cart]\nstate_dir = "{tmp_path}"\n[checkout]\n{checkout}', "dashcart.toml"))
    assert message in str(info.value) and "\n" not in str(info.value)


def _v1_outbox(path, order_row):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("""CREATE TABLE orders (
        idempotency_key TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, cart_id TEXT NOT NULL,
        body BLOB NOT NULL, signature TEXT NOT NULL, total_cents INTEGER NOT NULL, status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, created_t REAL NOT NULL, updated_t REAL NOT NULL)""")
    db.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, 'pending', 3, 1.0, 2.0)", order_row)
    db.execute("PRAGMA user_version = 1")
    db.close()


def test_outbox_from_an_older_version_is_migrated_and_its_orders_sent(tmp_path, store):
    donor = make_service(tmp_path, store.url, state="donor")
    pending = place(donor)
    record = donor.outbox.get(pending.idempotency_key)
    (tmp_path / "state").mkdir()
    _v1_outbox(tmp_path / "state" / "outbox.sqlite", (record.idempotency_key, record.order_id, record.cart_id,
                                                       record.body, record.signature, record.total_cents))
    service = make_service(tmp_path, store.url)
    (migrated,) = service.outbox.pending()
    assert migrated.attempts == 3 and migrated.body == record.body
    (event,) = service.deliver_due(100.0)
    assert isinstance(event, OrderAcknowledged) and len(store.store.charges()) == 1


def test_outbox_from_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "outbox.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (x)")
    db.execute("PRAGMA user_version = 9")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(Misconfigured, match=r"outbox.sqlite: outbox schema version 9 is newer"):
        Outbox(path)
    assert path.read_bytes() == before


def test_outbox_that_is_not_a_database_is_named(tmp_path):
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"this is not sqlite, it is a text file that got in the way" * 20)
    with pytest.raises(PermanentlyBroken, match="outbox.sqlite: not a readable outbox"):
        Outbox(path)
