"""The controller's port to checkout: place an order, and hear back when it is settled.

``place_order`` builds and signs the order and commits it to the outbox before returning;
nothing is sent yet. Delivery is ``deliver_due(t)``: one pass over the outbox that posts what
is due and returns events (:class:`OrderAcknowledged`, :class:`OrderDelayed`,
:class:`OrderRejected`). A replay calls it directly with the trip's clock; the live cart calls
:meth:`CheckoutService.start` and a sender thread does it, putting the events on the queue.
With no store configured, delivery writes a local receipt instead (the demo).

Live, each due order is delivered in its own short-lived worker (at most ``MAX_IN_FLIGHT``
at once, one per order): a slow or stuck delivery (each has a total deadline, ``timeout_s``)
never holds up the next order. The store prices the order; the receipt (``receipts/<order
id>.txt``) and ``OrderAcknowledged.total_cents`` show what it charged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dashcart.config import Config, parse_hex_key
from dashcart.core.checkout.order import build_order
from dashcart.core.checkout.outbox import Outbox, OutboxRecord
from dashcart.core.checkout.receipt import priced_late_s, write_local_receipt, write_store_receipt
from dashcart.core.checkout.receipt import safe_name as _safe_name
from dashcart.core.signin import InvalidToken, parse_shopper_token
from dashcart.errors import Misconfigured
from dashcart.events import Event, OrderAcknowledged, OrderDelayed, OrderRejected
from dashcart.runtime.store_client import StoreClient, StoreRejected, StoreUnavailable
from dashcart.snapshot import BasketLine

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 4


@dataclass(frozen=True)
class PendingOrder:
    order_id: str
    idempotency_key: str
    total_cents: int
    status: str              # pending | accepted | rejected | local
    attempts: int = 0

    @classmethod
    def of(cls, record: OutboxRecord) -> PendingOrder:
        return cls(record.order_id, record.idempotency_key, record.total_cents, record.status, record.attempts)


def backoff_s(key: str, attempts: int, initial_s: float, max_s: float) -> float:
    """Exponential backoff with jitter in [50 %, 100 %], derived from the key so a replay repeats it
    and a fleet of carts coming back online together does not hammer the store in step."""
    base = min(max_s, initial_s * 2 ** min(max(attempts - 1, 0), 30))
    jitter = int.from_bytes(hashlib.sha256(f"{key}:{attempts}".encode()).digest()[:2], "big") / 65535
    return base * (0.5 + 0.5 * jitter)


class CheckoutService:
    """``wall_clock`` (the live cart passes ``time.time``): stamps ``placed_at`` on orders (the
    store prices at that time when the order reaches it within 2 minutes) and times the outbox's retention; without it (replays,
    tests) order bodies depend only on the trip and settled rows are kept."""

    def __init__(self, config: Config, *, state_dir: Path | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] | None = None) -> None:
        section = config.checkout
        source = config.source or "config"
        self._config = config
        self._cart_id = config.cart.id
        self._currency = config.cart.currency
        self._clock = clock
        self._wall_clock = wall_clock
        self._state_dir = Path(state_dir) if state_dir is not None else config.state_dir()
        self._cart_key: bytes | None = None
        self._client: StoreClient | None = None
        if section.store_url:
            try:
                self._client = StoreClient(section.store_url, section.timeout_s)
            except ValueError as exc:
                raise Misconfigured(f"{source}: checkout.store_url: {exc}") from None
        if section.cart_key or section.store_url:
            try:
                self._cart_key = parse_hex_key(section.cart_key, "checkout.cart_key")
            except ValueError as exc:
                raise Misconfigured(f"{source}: {exc}; the store needs signed orders") from None
        self.outbox = Outbox(self._state_dir / "outbox.sqlite", lock=threading.Lock(),
                             retention_s=section.outbox_retention_days * 86400.0)
        self._due: dict[str, float] = {}
        self._in_flight: set[str] = set()
        self._in_flight_lock = threading.Lock()
        self._purge()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def _wall(self) -> float | None:
        return self._wall_clock() if self._wall_clock is not None else None

    def _purge(self) -> None:
        """Drop settled orders (and their receipt files) older than ``checkout.outbox_retention_days``."""
        now = self._wall()
        if now is None:
            return
        for order_id in self.outbox.purge(now):
            for suffix in (".txt", ".html"):
                (self._state_dir / "receipts" / f"{_safe_name(order_id)}{suffix}").unlink(missing_ok=True)

    @property
    def demo(self) -> bool:
        """True when no store is configured: orders end in a local receipt, nobody is charged."""
        return self._client is None

    def place_order(self, lines: Sequence[BasketLine], *, shopper_token: str, session_id: str, t: float,
                    seq: int = 1, placed_at: float | None = None) -> PendingOrder:
        """Sign order ``seq`` of the session and commit it to the outbox; returns at once.

        Calling again with the same session and ``seq`` (e.g. after a crash, replaying the
        journal) returns the order already stored: never a second one. Raises ValueError for an
        empty basket or a malformed shopper token.
        """
        try:
            token = parse_shopper_token(shopper_token)
        except InvalidToken as exc:
            raise ValueError(f"shopper token: {exc}") from None
        if placed_at is None and self._wall_clock is not None:
            placed_at = self._wall_clock()
        order = build_order(lines, cart_id=self._cart_id, session_id=session_id, seq=seq, shopper_token=token,
                            currency=self._currency, t=t, cart_key=self._cart_key, placed_at=placed_at)
        record = self.outbox.add(order, t)
        # Due at once whatever clock the deliverer keeps; retries are scheduled on its clock.
        self._due.setdefault(record.idempotency_key, -math.inf)
        self.wake()
        return PendingOrder.of(record)

    def status(self, order_id: str) -> PendingOrder | None:
        record = self.outbox.by_order_id(order_id)
        return PendingOrder.of(record) if record else None

    def on_record(self) -> list[Any]:
        """Every order in the outbox as :class:`dashcart.core.controller.OrderOnRecord`, for the
        controller's reconciliation on start; a row whose body cannot be read is logged and left out."""
        from dashcart.core.controller import OrderOnRecord
        orders = []
        for r in self.outbox.all():
            try:
                body = json.loads(r.body)
                charged, late = None, 0.0
                if r.status == "accepted" and r.receipt:
                    # the store's reply: what it charged, and when it priced an order it repriced
                    answer = json.loads(r.receipt)
                    charged = int(answer["total_cents"])
                    late = priced_late_s(body, answer)
                elif r.status == "local":
                    charged = r.total_cents
                orders.append(OrderOnRecord(r.order_id, str(body["session_id"]), int(body["seq"]), r.status,
                                            ordered_cents=r.total_cents, charged_cents=charged, priced_late_s=late))
            except (ValueError, KeyError, TypeError) as exc:
                log.error("%s: order %s has an unreadable body (%s); left out", self.outbox.path, r.order_id, exc)
        return orders

    def pending(self) -> list[PendingOrder]:
        return [PendingOrder.of(r) for r in self.outbox.pending()]

    def next_due(self) -> float | None:
        """When the next pending order should be tried (event clock), or None if none is pending."""
        keys = {r.idempotency_key for r in self.outbox.pending()}
        return min((self._due.get(k, -math.inf) for k in keys), default=None)

    def deliver_due(self, t: float) -> list[Event]:
        """Try every pending order that is due at ``t``, one after another; returns what happened,
        as events (replays and tests; the live sender delivers them side by side)."""
        events: list[Event] = []
        for record in self.outbox.pending():
            if self._due.get(record.idempotency_key, -math.inf) <= t:
                events.append(self._deliver(record, t))
        return events

    def _due_records(self, t: float) -> list[OutboxRecord]:
        with self._in_flight_lock:
            return [r for r in self.outbox.pending()
                    if self._due.get(r.idempotency_key, -math.inf) <= t and r.idempotency_key not in self._in_flight]

    def _deliver(self, record: OutboxRecord, t: float) -> Event:
        key = record.idempotency_key
        if self._client is None:
            document = json.loads(record.body)
            path = write_local_receipt(self._state_dir / "receipts", document)
            self.outbox.settle(key, "local", t, receipt=str(path), settled_at=self._wall())
            self._purge()
            self._due.pop(key, None)
            return OrderAcknowledged(t, record.order_id, "local", receipt_path=str(path),
                                     total_cents=record.total_cents, ordered_cents=record.total_cents)
        try:
            reply = self._client.submit(record.body, idempotency_key=key, cart_id=record.cart_id,
                                        signature=record.signature, order_id=record.order_id,
                                        total_cents=record.total_cents)
        except StoreUnavailable as exc:
            updated = self.outbox.record_attempt(key, t, str(exc))
            delay = backoff_s(key, updated.attempts, self._config.checkout.retry_initial_s,
                              self._config.checkout.retry_max_s)
            self._due[key] = t + delay
            log.warning("order %s: %s; retry %d in %.1f s", record.order_id, exc, updated.attempts, delay)
            return OrderDelayed(t, record.order_id, updated.attempts, str(exc))
        except StoreRejected as exc:
            self.outbox.settle(key, "rejected", t, error=str(exc), settled_at=self._wall())
            self._purge()
            self._due.pop(key, None)
            log.error("order %s: %s", record.order_id, exc)
            return OrderRejected(t, record.order_id, str(exc))
        self.outbox.settle(key, "accepted", t, receipt=reply.raw, settled_at=self._wall())
        self._purge()
        self._due.pop(key, None)
        if reply.duplicate:
            log.info("order %s: the store had it already (an earlier answer was lost)", record.order_id)
        order, answer = json.loads(record.body), json.loads(reply.raw)
        # priced at arrival (the order came past the store's grace: the cart was offline), not
        # at the checkout: the paid screen says when, as the receipt does
        message, late = "", priced_late_s(order, answer)
        if reply.repriced:
            message = "charged at the store's prices"
            log.warning("order %s: the store charged %d cents, the cart had %d%s", record.order_id,
                        reply.total_cents, record.total_cents, f" (priced {late:.0f} s after checkout)" if late else "")
        receipt_file = ""
        try:
            receipt_file = str(write_store_receipt(self._state_dir / "receipts", order, answer))
        except OSError as exc:
            log.warning("order %s: cannot write the receipt file: %s", record.order_id, exc)
        return OrderAcknowledged(t, record.order_id, "accepted", receipt_to=reply.receipt_to, receipt_path=receipt_file,
                                 total_cents=reply.total_cents, message=message, ordered_cents=record.total_cents,
                                 priced_late_s=late)

    # The live cart: a sender thread on the monotonic clock.

    def start(self, sink: Callable[[Event], None]) -> None:
        """Deliver in a background thread, passing each event to ``sink`` (the controller's queue).
        Orders left pending by an earlier run are sent first."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, args=(sink,), name="checkout-sender", daemon=True)
        self._thread.start()

    def loop(self, sink: Callable[[Event], None], beat: Any, stop: threading.Event) -> None:
        """The sender as a supervised worker (``Supervisor.add``): what would end the thread (a
        damaged outbox page, a full disk when settling) raises out of here, and the supervisor
        restarts the loop with backoff and reports it; orders stay pending in the outbox."""
        self._stopping = False
        while not stop.is_set():
            beat.beat()
            if not self._wait_for_due() or stop.is_set():
                return
            self._dispatch_due(sink)

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _run(self, sink: Callable[[Event], None]) -> None:
        while self._wait_for_due():
            self._dispatch_due(sink)

    def _wait_for_due(self) -> bool:
        """Sleep until an order not already in flight is due (at most 1 s); False once stopping."""
        with self._wake:
            if self._stopping:
                return False
            with self._in_flight_lock:
                busy = set(self._in_flight)
            keys = {r.idempotency_key for r in self.outbox.pending()} - busy
            due = min((self._due.get(k, -math.inf) for k in keys), default=None)
            wait = 1.0 if due is None else max(0.0, min(1.0, due - self._clock()))
            if wait > 0:
                self._wake.wait(wait)
            return not self._stopping

    def _dispatch_due(self, sink: Callable[[Event], None]) -> None:
        """Each due order in a worker of its own (one per order, at most MAX_IN_FLIGHT)."""
        for record in self._due_records(self._clock()):
            with self._in_flight_lock:
                if len(self._in_flight) >= MAX_IN_FLIGHT:
                    return
                self._in_flight.add(record.idempotency_key)
            threading.Thread(target=self._deliver_one, args=(record, sink), daemon=True,
                             name=f"checkout-{record.order_id}").start()

    def _deliver_one(self, record: OutboxRecord, sink: Callable[[Event], None]) -> None:
        """One delivery in its own worker, so a stuck one never holds another order."""
        try:
            sink(self._deliver(record, self._clock()))
        except Exception:  # noqa: BLE001 - the order stays pending and is retried; never lose the sender
            log.exception("order %s: delivery failed unexpectedly; it stays in the outbox", record.order_id)
            self._due[record.idempotency_key] = self._clock() + self._config.checkout.retry_initial_s
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(record.idempotency_key)
            self.wake()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self._config.checkout.timeout_s + 1.0))
            self._thread = None
        # Deliveries in flight end within their deadline; let them settle before the outbox closes.
        end = time.monotonic() + self._config.checkout.timeout_s + 1.0
        while time.monotonic() < end:
            with self._in_flight_lock:
                if not self._in_flight:
                    break
            time.sleep(0.02)

    def close(self) -> None:
        self.stop()
        self.outbox.close()
