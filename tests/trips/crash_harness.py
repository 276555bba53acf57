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

import functools
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
from dashcart.events import Event, OrderAcknowledged, OrderDelayed, OrderRejected, ShopperAction, Tick
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


@dataclass
class Recorded:
    """A recorded trip: the events, the catalogue, and the controller's settings it ran with."""

    events: list[Event]
    catalogue: Any
    truth: Truth | None = None          # None: the recorded shopper answered (the demo's script)
    settings: Any = None
    fusion: Any = None


def record_demo(state_dir: Path) -> Recorded:
    """The scripted demo trip (`dashcart demo --headless`), run live on the simulated cart, with
    every event its controller took, the script's answers included."""
    from dashcart.runtime import cart_runtime
    from dashcart.sim.demo_cart import ScriptedTrip, SimulatedCart

    taken: list[Event] = []
    used: list[Controller] = []

    class Recording(Controller):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            used.append(self)

        def handle(self, event: Event) -> None:
            if not isinstance(event, ANSWERS):
                taken.append(event)
            super().handle(event)

    with mock.patch.object(cart_runtime, "Controller", Recording):
        cart = SimulatedCart(Config(), None, state_dir)
        cart.start()
        try:
            cart.runtime.ready()
            result = ScriptedTrip(cart, lambda line: None, None).run()
        finally:
            cart.stop()
    assert result.ok, result.problems
    controller = used[0]
    return Recorded(taken, cart.catalogue, None, controller.settings, controller.fusion.params)


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

    def __init__(self, state_dir: Path, catalogue: Any, writes: Writes, t: float, settings: Any = None,
                 fusion: Any = None) -> None:
        self.basket: Basket | None = None
        self.service: CheckoutService | None = None
        try:
            self.basket = Basket(Journal(state_dir / "basket.db"))
            self.basket.journal.on_commit = writes
            self.service = CheckoutService(Config(), state_dir=state_dir)
            self.controller = Controller(catalogue, self.basket, checkout=self.service, settings=settings,
                                         fusion=fusion)
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
    screen_before: list[tuple[str, str]] = field(default_factory=list)   # per event: state and stage before it
    log: list[dict[str, Any]] = field(default_factory=list)   # the controller's log (the reference run's is whole)
    restarts: int = 0
    changeable_with_order: int = 0                 # restarts where an order was stored but the basket could change
    refed: int = 0


def _screen(controller: Controller) -> tuple[str, str]:
    view = controller.snapshot().checkout
    return controller.state.value, view.stage if view is not None else ""


class ReferenceShopper:
    """Answers a question the recorded script will not (one that a crash made the cart ask
    anew, its evidence lost) the way the shopper knows: with what the run without a crash
    committed for that change."""

    def __init__(self, reference: Outcome, delay_s: float = 1.5) -> None:
        self.delay_s = delay_s
        self.scripted = {e["id"]: e["t"] for e in reference.log if e["type"] == "question"}
        self.changes = [e for e in reference.log if e["type"] in ("added", "removed")]
        self._seen: set[int] = set()

    def __call__(self, controller: Controller, t: float) -> list[ShopperAction]:
        actions = []
        for q in controller.basket.questions:
            if q.id in self._seen or q.kind == "remove_unknown":
                continue
            if q.id in self.scripted and abs(self.scripted[q.id] - round(q.t, 3)) < 0.01:
                continue    # the recorded script answers this one
            self._seen.add(q.id)
            kind = "added" if q.delta_g > 0 else "removed"
            near = [e for e in self.changes if e["type"] == kind and abs(e["t"] - q.t) < 5.0]
            if near:
                best = min(near, key=lambda e: abs(e["t"] - q.t))
                actions.append(ShopperAction(q.t + self.delay_s, "choose", best["code"], question_id=q.id))
        return actions


def _basket(controller: Controller) -> list[tuple[str, int, float | None]]:
    return sorted((i.code, i.qty, round(i.weight_g, 1) if i.sold_by == "weight" and i.weight_g else None)
                  for i in controller.basket.items)


def drive(events: list[Event], catalogue: Any, truth: Truth | None, state_dir: Path, *, crash_at: int | None = None,
          when: str = "after", reference: Outcome | None = None, settings: Any = None,
          fusion: Any = None) -> Outcome:
    """Run ``events`` through a cart in ``state_dir`` (new), crashing at write ``crash_at``.
    ``truth`` None: the answers to questions are among ``events`` (the demo's script)."""
    state_dir.mkdir(parents=True, exist_ok=False)
    writes = Writes(crash_at, when)
    oracle: Any = ShopperOracle(truth) if truth is not None else \
        ReferenceShopper(reference) if reference is not None else None
    start = functools.partial(_start, settings=settings, fusion=fusion)
    counter = itertools.count()
    queue: list[tuple[float, int, int, Event]] = [(e.t, 1, next(counter), e) for e in events]
    heapq.heapify(queue)
    outcome = Outcome([], "", None, [], 0)
    with counting_outbox_commits(lambda: writes):
        cart = start(state_dir, catalogue, writes, events[0].t, outcome)
        handled = ticks = 0
        while queue:
            t, prio, n, event = heapq.heappop(queue)
            took: int | None = None
            outcome.screen_before.append(_screen(cart.controller))
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
                cart.kill()
                cart = start(state_dir, catalogue, writes, event.t, outcome)
                # A tap comes again only where the screen is as it was when it was made (the
                # shopper sees it was not taken); the drivers' events come again if not taken.
                again = not whole and (not isinstance(event, ShopperAction) or reference is None
                                       or _screen(cart.controller) == reference.screen_before[handled])
                if again:
                    heapq.heappush(queue, (t, prio, n, event))
                    outcome.refed += 1
                for answer in cart.service.deliver_due(event.t):   # the sender's first pass after a start
                    cart.controller.handle(answer)
                handled += 1
                continue
            outcome.last_write_of.append(took)
            handled += 1
            for action in oracle(cart.controller, event.t) if oracle is not None else ():
                heapq.heappush(queue, (action.t, 0, next(counter), action))
            due = cart.controller.next_deadline()
            if not queue and due is not None and ticks < 100:
                # the trip's events are over: the live loop's ticks let the deadlines pass
                ticks += 1
                heapq.heappush(queue, (max(due, t), 2, next(counter), Tick(max(due, t))))
        outcome.basket = _basket(cart.controller)
        outcome.log = list(cart.controller.log)
        outcome.state = cart.controller.state.value
        outcome.checkout = cart.controller.checkout_result()
        key = cart.controller.session_key
        outcome.orders = [(r.order_id, r.status, r.total_cents) for r in cart.service.outbox.all()
                          if json.loads(r.body)["session_id"] == key]
        outcome.writes = writes.n
        cart.kill()
    return outcome


def _start(state_dir: Path, catalogue: Any, writes: Writes, t: float, outcome: Outcome, *, settings: Any = None,
           fusion: Any = None) -> Cart:
    """Start the cart (again): a crash while starting (the outbox's first commit) is one more restart."""
    for _ in range(3):
        try:
            cart = Cart(state_dir, catalogue, writes, t, settings, fusion)
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

