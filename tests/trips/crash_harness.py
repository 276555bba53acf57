"""Crash points: a trip's events through a cart on disk, killed at each of its durable writes.

A generated trip is replayed once (vision included) and every event the controller took is
recorded (the zones and the lane as the locator derived them; not the order answers or the
shopper's answers to questions, which the run below produces itself). Then the recorded
events drive a cart assembled as ``dashcart run`` assembles it: the journal (``basket.db``) and
the real checkout service with its outbox (``outbox.sqlite``) in one state directory, the
controller reconciling the two on start. Each durable write (a journal commit, an outbox commit)
is counted; a crash point kills the cart just before or just after write ``k`` (an exception
no part of the cart catches, then the connections are dropped, so what was not committed is
gone, as after SIGKILL), restarts it from the files and goes on:

* the event being handled is delivered again unless it was wholly taken (a driver or the
  shopper does that: the scale's change is journaled as pending, the shopper taps again);
* the shopper answers the questions the cart asks (the generator's oracle, which knows the
  truth), whatever they are after the restart;
* pending orders are delivered again by the sender after the restart.

An outcome is checked against the same run without a crash: the same final basket (nothing
lost, nothing doubled), the checkout finished (nothing stuck), and never an order in the
outbox while the screen still offers to change the basket.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from dashcart.config import Config
from dashcart.core.basket import Basket, Journal
from dashcart.core.checkout import outbox as outbox_module
from dashcart.core.controller import Controller
from dashcart.events import Event, OrderAcknowledged, OrderDelayed, OrderRejected, ShopperAction
from dashcart.runtime.checkout_sender import CheckoutService
from dashcart.snapshot import SessionState
from dashcart.trips import replay as replay_module
from dashcart.trips.generator import ShopperOracle, Truth


class Crash(BaseException):
    """The cart is killed here (BaseException: no part of the cart may catch it)."""


ANSWERS = (OrderAcknowledged, OrderDelayed, OrderRejected)


def record_events(trip: Path, catalogue: Any, truth: Truth) -> list[Event]:
    """What the controller took during a replay of ``trip`` with the shopper answering."""
    taken: list[Event] = []

    class Recording(Controller):
        def handle(self, event: Event) -> None:
            answer = isinstance(event, ShopperAction) and event.question_id is not None
            if not isinstance(event, ANSWERS) and not answer:
                taken.append(event)
            super().handle(event)

    with mock.patch.object(replay_module, "Controller", Recording):
        replay_module.replay(trip, catalogue=catalogue, oracle=ShopperOracle(truth))
    return taken


class Writes:
    """Counts durable writes; raises :class:`Crash` before or after write number ``crash_at``."""

    def __init__(self, crash_at: int | None = None, when: str = "after") -> None:
        self.n = 0
        self.crash_at = crash_at
        self.when = when
        self.crashed = False

    def __call__(self, phase: str) -> None:
        if phase == "before":
            self.n += 1
        if not self.crashed and self.n == self.crash_at and phase == self.when:
            self.crashed = True
            raise Crash(f"killed {phase} durable write {self.n}")


@contextmanager
def counting_outbox_commits(writes: Callable[[], Writes]) -> Iterator[None]:
    """The outbox's commits go through ``writes()`` too (its transaction's exit is the commit)."""
    original = outbox_module._Transaction.__exit__

    def exit_(self: Any, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            writes()("before")
        original(self, exc_type, exc, tb)
        if exc_type is None:
            writes()("after")

    with mock.patch.object(outbox_module._Transaction, "__exit__", exit_):
        yield


class Cart:
    """The parts ``dashcart run`` opens on disk, in the same order, reconciled on start."""

    def __init__(self, state_dir: Path, catalogue: Any, writes: Writes, t: float) -> None:
        self.basket: Basket | None = None
        self.service: CheckoutService | None = None
        try:
            self.basket = Basket(Journal(state_dir / "basket.db"))
            self.basket.journal.on_commit = writes
            self.service = CheckoutService(Config(), state_dir=state_dir)
            self.controller = Controller(catalogue, self.basket, checkout=self.service)
            self.controller.reconcile(t, self.service.on_record())
        except Crash:
            self.kill()
            raise

    def kill(self) -> None:
        """Drop everything not committed, as the process dying does."""
        if self.basket is not None:
            self.basket.journal.close()
        if self.service is not None:
            self.service.outbox._db.close()


@dataclass
class Outcome:
    basket: list[tuple[str, int, float | None]]
    state: str
    checkout: dict[str, Any] | None
    orders: list[tuple[str, str, int]]             # (order id, status, total) of the last session
    writes: int
    last_write_of: list[int] = field(default_factory=list)   # per event handled: the writes so far
    restarts: int = 0
    changeable_with_order: int = 0                 # restarts where an order was stored but the basket could change
    refed: int = 0


def _basket(controller: Controller) -> list[tuple[str, int, float | None]]:
    return sorted((i.code, i.qty, round(i.weight_g, 1) if i.sold_by == "weight" and i.weight_g else None)
                  for i in controller.basket.items)


def drive(events: list[Event], catalogue: Any, truth: Truth, state_dir: Path, *, crash_at: int | None = None,
          when: str = "after", reference: Outcome | None = None) -> Outcome:
    """Run ``events`` through a cart in ``state_dir`` (new), crashing at write ``crash_at``."""
    state_dir.mkdir(parents=True, exist_ok=False)
    writes = Writes(crash_at, when)
    oracle = ShopperOracle(truth)
    counter = itertools.count()
    queue: list[tuple[float, int, int, Event]] = [(e.t, 1, next(counter), e) for e in events]
    heapq.heapify(queue)
    outcome = Outcome([], "", None, [], 0)
    with counting_outbox_commits(lambda: writes):
        cart = _start(state_dir, catalogue, writes, events[0].t, outcome)
        handled = 0
        while queue:
            t, prio, n, event = heapq.heappop(queue)
            took: int | None = None
            try:
                cart.controller.handle(event)
                took = writes.n
                for answer in cart.service.deliver_due(event.t):
                    cart.controller.handle(answer)
            except Crash:
                # Up to the crash this run is the reference run: its count says whether the write
                # that crashed was the event's last (then, after it, the event was wholly taken).
                last = reference.last_write_of[handled] if reference is not None else None
                whole = took is not None or (writes.when == "after" and writes.n == last)
                if not whole:
                    heapq.heappush(queue, (t, prio, n, event))    # not wholly taken: it comes again
                    outcome.refed += 1
                cart.kill()
                cart = _start(state_dir, catalogue, writes, event.t, outcome)
                for answer in cart.service.deliver_due(event.t):   # the sender's first pass after a start
                    cart.controller.handle(answer)
                handled += 1
                continue
            outcome.last_write_of.append(took)
            handled += 1
            for action in oracle(cart.controller, event.t):
                heapq.heappush(queue, (action.t, 0, next(counter), action))
        outcome.basket = _basket(cart.controller)
        outcome.state = cart.controller.state.value
        outcome.checkout = cart.controller.checkout_result()
        key = cart.controller.session_key
        outcome.orders = [(r.order_id, r.status, r.total_cents) for r in cart.service.outbox.all()
                          if json.loads(r.body)["session_id"] == key]
        outcome.writes = writes.n
        cart.kill()
    return outcome


def _start(state_dir: Path, catalogue: Any, writes: Writes, t: float, outcome: Outcome) -> Cart:
    """Start the cart (again): a crash while starting (the outbox's first commit) is one more restart."""
    for _ in range(3):
        try:
            cart = Cart(state_dir, catalogue, writes, t)
        except Crash:
            outcome.restarts += 1
            continue
        if writes.crashed:
            outcome.restarts += 1
            c = cart.controller
            mine = [o for o in cart.service.on_record() if o.session_id == c.session_key]
            stage = c.snapshot().checkout.stage if c.snapshot().checkout else ""
            if mine and (c.state is SessionState.SHOPPING or stage in ("summary", "blocked")):
                outcome.changeable_with_order += 1
        return cart
    raise AssertionError("the cart did not start three times running")


def problems(outcome: Outcome, reference: Outcome) -> list[str]:
    """What went wrong in ``outcome`` compared with the run without a crash."""
    out = []
    lost = [line for line in reference.basket if line not in outcome.basket]
    doubled = [line for line in outcome.basket if line not in reference.basket]
    if lost:
        out.append(f"lost {lost}")
    if doubled:
        out.append(f"extra {doubled}")
    if outcome.state != reference.state:
        out.append(f"ended {outcome.state}, not {reference.state} (checkout {outcome.checkout})")
    if [o[1:] for o in outcome.orders] != [o[1:] for o in reference.orders]:
        out.append(f"orders {outcome.orders}, not {reference.orders}")
    if outcome.changeable_with_order:
        out.append("an order was stored while the basket could still change")
    return out

