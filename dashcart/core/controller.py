"""The session state machine: idle -> shopping -> checkout -> done, driven by timestamped events.

The controller is the one place where the drivers' events, the fusion, the journaled basket
and the checkout meet. It takes time only from the events (``t``), so a recorded trip
replays exactly; a settled weight change waits ``evidence_after_s`` on that clock for the
cameras' answer and is decided by the first event at or past its deadline (drivers send a
``Tick`` when nothing else happens).

States (``SessionState``):

* ``idle``: nobody signed in. ``signin`` begins a session (journaled) -> shopping.
* ``shopping``: weight changes become basket changes or questions; answers close questions;
  ``plu``/``produce`` start a produce entry for the next placement; the lane -> checkout.
* ``checkout``: entered on ``LaneEntered`` (the lane's entry beacon: the summary shows with a
  cancel button until the exit beacon, and for at least ``summary_s`` in all) or ``LaneDetected``
  alone (then the summary counts down ``summary_s``). ``cancel`` or ``LaneLeft`` go back to shopping; open questions block
  it (stage ``blocked``) until answered. Then the basket goes to the :class:`CheckoutPort`
  (live, ``dashcart.runtime.checkout_sender.CheckoutService``: signed, into the outbox; stage ``paying``);
  ``OrderAcknowledged`` (accepted | local) or ``OrderDelayed`` (kept in the outbox, sent
  later) -> done; ``OrderRejected`` -> stage ``failed`` (staff help).
* ``done``: paid; weight changes are the shopper unloading. ``confirm``/``signout`` -> idle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dashcart.config import CartSection, CheckoutSection, FusionSection
from dashcart.core.appearance import look_similarity
from dashcart.core.basket import Basket, Item, JournaledCheckout, JournalWriteFailed, OpenQuestion, QuestionCandidate
from dashcart.core.catalogue import Catalogue
from dashcart.core.fusion import (
    LOOK_PLAIN,
    MAX_Z,
    BasketEntry,
    Decision,
    Evidence,
    Fusion,
    FusionParams,
    Hypothesis,
    OpenGain,
    Part,
    best_quantity,
    unexplained_g,
    units_z,
)
from dashcart.core.pricing import BasketItem, PricingError, Promotion, price_basket
from dashcart.events import (
    BarcodeSeen,
    BeaconSighting,
    Event,
    ItemRecognized,
    LaneDetected,
    LaneEntered,
    LaneLeft,
    LoadReturned,
    OrderAcknowledged,
    OrderDelayed,
    OrderRejected,
    ShopperAction,
    Tick,
    WeightLive,
    WeightSettled,
    ZoneChanged,
)
from dashcart.snapshot import (
    OWN_THINGS,
    BasketLine,
    Candidate,
    CheckoutStage,
    CheckoutView,
    NearbyProduct,
    Question,
    QuestionKind,
    SessionState,
    Snapshot,
    choice_kind,
    unnamed_choice,
)

#: A sign-out waits while the load moves, but not for a scale that never settles (overloaded,
#: or gone while moving): past this, on the event clock, the empty session may end.
SETTLING_WAIT_S = 10.0
ORDER_SETTLE_POLL_S = 0.5   # how often a due order looks again while the basket settles
# A product the cameras give at least this where the load moved and came back, on no line of
# the bill, is a possible swap for staff to check (never charged: a flag costs a look, not a
# bill). Chosen on calib trips (seeds 7000 honest, 8000 with swaps; bench_fusion --swaps):
# swaps flagged 36.9 % at 0.9, 47.7 % at 0.7, 59.5 % at 0.5, and no false alarm at any of
# them in 2,362 returns of honest trips (items pressed and put back, the cart pushed).
SWAP_SEEN_SCORE = 0.5
# ... and the crop must be at least this like the product's gallery (cosine): an item moved in
# the basket, half on another, is often named as a look-alike at 0.55-0.67. On calib trips of
# seed 8100 (an honest shopper moving a unit on 30 % of actions, about 240 moves) and of seed
# 8000 (swaps): 12 moves flagged and 59.5 % of swaps without it, 2 and 42.3 % with it.
SWAP_MIN_SIMILARITY = 0.7
# The journaled load follows the scale at rest in steps from 1 g up to below 3 g: under the
# weighing engine's least reportable change (weighing.min_change_g, 4 g by default), so drift
# and crumbs are followed and an item never is.
LOAD_FOLLOW_MIN_G = 1.0
LOAD_FOLLOW_MAX_G = 3.0


class PlacedOrder(Protocol):
    @property
    def order_id(self) -> str: ...


class CheckoutPort(Protocol):
    """Where orders go (live: ``dashcart.runtime.checkout_sender.CheckoutService``): sign the order and
    commit it to the outbox, returning at once; the store's answer comes back later as an
    ``OrderAcknowledged`` / ``OrderDelayed`` / ``OrderRejected`` event on the controller's queue.
    Raises ValueError for an order it cannot build (empty basket, malformed shopper token)."""

    def place_order(self, lines: Sequence[BasketLine], *, shopper_token: str, session_id: str, t: float,
                    seq: int = 1) -> PlacedOrder: ...


@dataclass(frozen=True)
class OrderOnRecord:
    """An order as the outbox keeps it, for :meth:`Controller.reconcile`."""

    order_id: str
    session_id: str
    seq: int
    status: str              # pending | accepted | rejected | local
    ordered_cents: int | None = None   # the order's total (what the shopper saw)
    charged_cents: int | None = None   # what the store charged, once accepted
    priced_late_s: float = 0.0         # the store priced it this long after the checkout


def deal_terms(promotion: Promotion | None) -> tuple[str, int, int] | tuple[()]:
    """A promotion's terms for the screen, which words them in the shopper's language: (kind,
    value, qty) as in :class:`dashcart.core.pricing.Promotion`; () for none."""
    return (promotion.kind, promotion.value, promotion.qty) if promotion is not None else ()


def order_seq(order_id: str) -> int:
    """The sequence number at the end of an order id (``<cart>-<session>-<seq>``); 0 if none."""
    tail = order_id.rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0


def left_over(whole_g: float, gone_g: float) -> float | None:
    """What is still in the basket of something that weighed ``whole_g`` when ``gone_g`` of it
    left, when that is clearly more than the scale's error (one of two cartons, half a bag of
    bananas); None when it all left."""
    rest = whole_g - gone_g
    return round(rest, 1) if rest > max(10.0, 0.05 * whole_g) else None


class LocationPort(Protocol):
    """``dashcart.core.location.Locator``: sightings and ticks in, ``ZoneChanged``/``Lane*`` events out."""

    def on_event(self, event: Event) -> list[Event]: ...


class ScalePort(Protocol):
    """The scale reader (live: ``CartRuntime.request_zero``): zero the scale at its next rest,
    returning at once (staff "Zero the scale"; the engine belongs to the reader's thread)."""

    def request_zero(self) -> None: ...


# The config's defaults are the only copy of these numbers.
_CART, _FUSION, _CHECKOUT = CartSection(), FusionSection(), CheckoutSection()


@dataclass(frozen=True)
class ControllerSettings:
    cart_id: str = _CART.id
    currency: str = _CART.currency
    evidence_before_s: float = _FUSION.evidence_before_s
    evidence_after_s: float = _FUSION.evidence_after_s
    summary_s: float = _CHECKOUT.cancel_window_s
    nearby_count: int = 6
    recognizer_temperature: float = _FUSION.recognizer_temperature
    recognizer_reliability: float = _FUSION.recognizer_reliability
    recognizer_score_mid: float = _FUSION.recognizer_score_mid
    recognizer_score_width: float = _FUSION.recognizer_score_width
    language: str = _CART.language
    signin_max_load_g: float = _CART.signin_max_load_g
    # No store to send orders to: a practice cart, which must never tell anyone they paid.
    practice: bool = not _CHECKOUT.store_url

    @classmethod
    def from_config(cls, config: Any) -> ControllerSettings:
        f = config.fusion
        return cls(cart_id=config.cart.id, currency=config.cart.currency, evidence_before_s=f.evidence_before_s,
                   evidence_after_s=f.evidence_after_s, summary_s=config.checkout.cancel_window_s,
                   recognizer_temperature=f.recognizer_temperature, recognizer_reliability=f.recognizer_reliability,
                   recognizer_score_mid=f.recognizer_score_mid, recognizer_score_width=f.recognizer_score_width,
                   practice=not config.checkout.store_url, language=config.cart.language,
                   signin_max_load_g=config.cart.signin_max_load_g)


def calibrated_candidates(candidates: tuple[tuple[str, float], ...], temperature: float,
                          reliability: float = 1.0, score_mid: float = 0.0,
                          score_width: float = 0.05,
                          set_aside: tuple[tuple[str, float], ...] = ()) -> list[tuple[str, float]]:
    """The recognizer's scores are cosine similarities to the gallery (0..1), not
    probabilities: nearly equal similarities mean "can't tell". A softmax with a temperature
    turns them into shares, and the chance that the true product is among the candidates at
    all scales them to probabilities: ``reliability``, times (when ``score_mid`` > 0) a
    logistic in the best similarity, since a crop unlike everything in the gallery (a hand
    over it, a photo unlike the gallery's) often shows none of the candidates while a close
    match nearly always does. Both are measured per model. Temperature 0 takes the scores as
    they are. ``set_aside``: candidates the recognizer named as clearly but that are ruled out
    (a removal's, still in the basket): they keep their shares, which go to none of
    ``candidates``, so a weak candidate left alone does not inherit the whole confidence."""
    if temperature <= 0 or not candidates:
        return list(candidates)
    top = max(score for _, score in (*candidates, *set_aside))
    if score_mid > 0:
        reliability *= 1.0 / (1.0 + math.exp(-(top - score_mid) / max(score_width, 1e-6)))
    def weight(score: float) -> float:
        return math.exp((score - top) / temperature)

    total = sum(weight(score) for _, score in (*candidates, *set_aside))
    return [(code, reliability * weight(score) / total) for code, score in candidates]


@dataclass
class _Pending:
    change: WeightSettled
    deadline: float


@dataclass
class _Checkout:
    stage: CheckoutStage
    since: float                  # when the cart entered the lane
    t: float = 0.0                # when the stage last changed
    deadline: float | None = None
    lane: str = ""
    order_id: str = ""
    status: str = ""
    reason: str = ""
    reason_key: str = ""
    receipt_to: str = ""
    charged_cents: int | None = None   # what the store charged, at its prices
    ordered_cents: int | None = None   # the total on the order sent (what the shopper saw), once placed
    priced_late_s: float = 0.0         # the store priced it this long after the checkout (arrival prices)
    exit_passed: bool = False          # the lane's exit was seen (journaled: a restart must not wait for it again)
    window_from: float | None = None   # the cancel window counts from here (the entry, or the last change of the basket)
    paid_load_g: float | None = None   # the load at rest when the order was placed (what was paid for, and bags)


class Controller:
    def __init__(self, catalogue: Catalogue, basket: Basket, *, fusion: FusionParams | None = None,
                 settings: ControllerSettings | None = None, checkout: CheckoutPort | None = None,
                 location: LocationPort | None = None, scale: ScalePort | None = None):
        self.catalogue = catalogue
        self.basket = basket
        self.fusion = Fusion(catalogue, fusion)
        self.settings = settings or ControllerSettings()
        self.checkout_port = checkout
        self.location = location
        self.scale_port = scale
        self.t = 0.0
        self.zone = ""
        self.live_weight_g = 0.0
        self.weight_stable = True
        self._weight_seen = False           # a WeightLive came: live_weight_g is the scale's, not a default
        # The load at the scale's last rest (a stable WeightLive, or a settled change's total): what
        # a sign-in while the load moves finds in the basket (None: none seen since the start).
        self._rest_g: float | None = None
        self._moving_since = 0.0            # when the load last began to move (WeightLive)
        self.message = ""
        self.message_key = ""                         # ``message`` as a message id the screen translates
        self.message_values: tuple[tuple[str, str], ...] = ()
        self.produce_base_g = 0.0                     # the load when the produce entry began
        self._loose: tuple[NearbyProduct, ...] | None = None   # the produce screen's products (catalogue is fixed)
        self._wall: tuple[float, float] | None = None  # (Unix time, event time) the last event that told it
        self.language = self.settings.language         # the shopper's, while signed in
        self._dated_promotions = any(p.starts_at is not None or p.ends_at is not None
                                     for p in getattr(catalogue, "promotions", ()))
        self._priced_second: int | None = None
        self.produce_entry: str | None = None
        self.produce_count = 0
        self.removal_hint: str | None = None
        self.log: list[dict[str, Any]] = []          # what happened, for replay's "events"
        self.changes = 0                              # settled changes decided (not ignored)
        #: Set when the journal cannot commit (full disk, read-only state): nothing of the event
        #: was taken; the screen says "cannot save, see staff" until the session ends.
        self.save_fault = ""
        self.unsaved = 0                              # events whose changes could not be saved
        # Of those, weight changes: something went in or out that the basket on disk lacks.
        self.unsaved_weight_changes = 0
        self._pending_restored = False                # _pending came from the journal (see handle)
        self._checkout_restored = False               # a summary past the exit came from the journal (see handle)
        # When this controller took the sign-in, on its own clock (None: restored, or no session)
        self._signed_in_t: float | None = None
        self._pending: _Pending | None = None
        # The load back at its rest after moving, with no change to decide: what the cameras see
        # there is looked at once they have answered (a swap in one motion), with its deadline.
        self._returned: tuple[LoadReturned, float] | None = None
        self._return_times: list[float] = []         # their recognitions are no change's evidence
        # Products the cameras saw appear at a return that an open gain question offers: what
        # its answer is weighed against (see _dispute). Not journaled, like the notes it makes.
        self._seen_since: dict[int, set[str]] = {}
        self._placed: tuple[str, int, int, int, int] | None = None   # where the change being decided was seen
        self._placed_look: str | None = None                          # ... and how what went in looked
        self._orders = 0                              # orders placed this session (their seq)
        self._barcodes: list[BarcodeSeen] = []
        self._recognized: list[ItemRecognized] = []
        self._checkout: _Checkout | None = None
        self._last_change: tuple[str, float] | None = None
        self._snapshot: Snapshot | None = None
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._restore()
        self._restore_pending()

    # -- the state ----------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: Any, catalogue: Catalogue, basket: Basket, *, checkout: CheckoutPort | None = None,
                    location: LocationPort | None = None, scale: ScalePort | None = None) -> Controller:
        """The live cart's controller: settings from ``[cart]``, ``[fusion]`` and ``[checkout]``."""
        return cls(catalogue, basket, fusion=FusionParams.from_config(config.fusion),
                   settings=ControllerSettings.from_config(config), checkout=checkout, location=location,
                   scale=scale)

    @property
    def state(self) -> SessionState:
        return SessionState(self.basket.session.state)

    def _set_state(self, t: float, state: SessionState, checkout: JournaledCheckout | None = None) -> None:
        self.basket.set_state(t, state.value, checkout)
        self._note(t, "state", state=state.value)

    def _restore(self) -> None:
        """After a restart: the journal says where the session was; a checkout in flight resumes."""
        saved = self.basket.session.checkout
        if self.state is SessionState.CHECKOUT and saved:
            self._checkout = _Checkout(stage=CheckoutStage(saved.get("stage", CheckoutStage.SUMMARY)),
                                       since=saved.get("since", 0.0), lane=saved.get("lane", ""),
                                       order_id=saved.get("order_id", ""),
                                       exit_passed=bool(saved.get("exit_passed", False)),
                                       paid_load_g=self.basket.session.load_g,
                                       ordered_cents=saved.get("ordered_cents"))
            if self._checkout.stage in (CheckoutStage.SUMMARY, CheckoutStage.BLOCKED):
                # Held is the summary while questions are open, not a stage of its own: a journal
                # that says "blocked" (the exit passed while held, as journaled until 2026-12-07)
                # with the questions since answered would hold the cart with nothing to answer,
                # no cancel, and nothing for staff's "unblock" to do.
                self._checkout.stage = CheckoutStage.BLOCKED if self.basket.questions else CheckoutStage.SUMMARY
            # past the exit, the cancel window starts again at the first event on this clock
            self._checkout_restored = self._checkout.stage == CheckoutStage.SUMMARY and self._checkout.exit_passed
        elif self.state is SessionState.DONE and saved:
            self._checkout = _Checkout(stage=CheckoutStage.PAID, since=saved.get("since", 0.0),
                                       order_id=saved.get("order_id", ""), status=saved.get("status", ""),
                                       paid_load_g=self.basket.session.load_g,
                                       charged_cents=saved.get("charged_cents"), ordered_cents=saved.get("ordered_cents"),
                                       priced_late_s=saved.get("priced_late_s", 0.0))

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        """``callback(snapshot)`` after every event that changed what the screen shows."""
        self._subscribers.append(callback)

    def _note(self, t: float, type_: str, **data: Any) -> None:
        self.log.append({"t": round(t, 3), "type": type_, **data})
        if type_ == "checkout" and self._checkout is not None:
            self._checkout.t = t
        self._snapshot = None

    # -- the event loop -----------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Consume one event (in time order). What it changes in the basket is one journal commit
        (a settled change falling due first is decided in a commit of its own), so a crash leaves
        the state before or after a decision, never between; a commit that fails changes nothing
        and becomes a save fault on the screen."""
        if self.basket.in_transaction:   # derived while handling another event (zones, the lane)
            self._handle_event(event)
            return
        if self._checkout_restored:
            self._checkout_restored = False
            co = self._checkout
            if co is not None and co.stage == CheckoutStage.SUMMARY and co.deadline is None:
                self._new_window(co, event.t)
        if self._pending_restored:
            self._pending_restored = False
            if self._pending is not None and self._pending.deadline > event.t + self.settings.evidence_after_s:
                self._pending.deadline = event.t    # restarted on a new clock (a reboot): decide now
        was, session = self.state, self.basket.session.seq
        if self._pending is not None and (event.t >= self._pending.deadline or isinstance(event, WeightSettled)):
            self._saving(event.t, "a settled weight change", self._decide_pending,
                         lambda: self._journal_pending(event.t), weight_change=True)
        self._saving(event.t, type(event).__name__, lambda: self._handle_event(event),
                     lambda: self._journal_pending(event.t), weight_change=isinstance(event, WeightSettled))
        ended = was is not SessionState.IDLE and self.state is SessionState.IDLE and not self.basket.items
        if self.save_fault and (ended or self.basket.session.seq != session):
            # The session is over (staff have seen to it), or a new one began (the journal saves
            # again); a fault while no session is open (a sign-in not saved) stays on the screen.
            self.save_fault, self.unsaved, self.unsaved_weight_changes = "", 0, 0
            self._snapshot = None

    def _saving(self, t: float, what: str, *steps: Callable[[], None], weight_change: bool = False) -> None:
        """``steps``, in order, as one journal commit; one that cannot be saved is a save fault
        (``weight_change``: of something that went in or out of the basket)."""
        orders = self._orders
        try:
            with self.basket.transaction():
                for step in steps:
                    step()
        except (JournalWriteFailed, sqlite3.Error, OSError) as exc:
            # An order stored in the outbox but not journaled keeps its number: trying again
            # gets the same order back (the outbox is idempotent), never a second one.
            self._orders = orders
            self._cannot_save(t, what, str(exc) if isinstance(exc, JournalWriteFailed) else f"cannot save: {exc}",
                              weight_change)

    def _journal_pending(self, t: float) -> None:
        """The settled change waiting for evidence goes in the journal with the decision that made
        it wait (and leaves it with the one that decides it): a crash in the evidence window loses
        nothing; after a restart it is decided on what evidence there is, or asked about."""
        p = self._pending
        want = None if p is None else {"t": p.change.t, "delta_g": p.change.delta_g, "total_g": p.change.total_g,
                                       "started_t": p.change.started_t, "deadline": p.deadline}
        if want != self.basket.session.pending:
            self.basket.set_pending(t, want)

    def _restore_pending(self) -> None:
        saved = self.basket.session.pending
        if saved is not None and self._pending is None:
            change = WeightSettled(saved["t"], saved["delta_g"], saved["total_g"], saved.get("started_t") or 0.0)
            self._pending = _Pending(change, saved["deadline"])
            self._pending_restored = True

    def _cannot_save(self, t: float, what: str, error: str, weight_change: bool) -> None:
        self.save_fault = error
        self.unsaved += what != "reconcile"     # a retry of the reconciliation loses nothing new
        self.unsaved_weight_changes += weight_change
        # The basket went back to what the disk has; the checkout follows it.
        self._checkout = None
        self._pending = None
        self._restore()
        self._restore_pending()
        self._note(t, "cannot_save", what=what, error=error)
        snap = self.snapshot()
        for callback in self._subscribers:
            callback(snap)

    def reconcile(self, t: float, orders: Sequence[OrderOnRecord]) -> list[str]:
        """Bring the journal's checkout in line with the outbox (after a start, or a save fault):
        the outbox is the truth about orders, the journal about the basket. An order settled
        while the journal still says paying closes the session; one stored but not yet journaled
        takes the checkout to paying (the basket cannot change under a stored order); a journaled
        order the outbox lacks is a question for staff, never silence. Order numbers continue
        after the highest this session used. Returns one line per change, for the log."""
        notes: list[str] = []
        mine = {o.order_id: o for o in orders if o.session_id == self.session_key}
        co = self._checkout
        journaled = co.order_id if co is not None else ""
        self._orders = max([self._orders, order_seq(journaled)] + [o.seq for o in mine.values()])
        newest = max(mine.values(), key=lambda o: o.seq, default=None)
        if co is None and self.state is SessionState.SHOPPING and newest is not None and newest.status != "rejected":
            # The journal's log lost its checkout (a torn -wal) while the outbox kept the order:
            # the order stands and goes to the store, so the session is at its checkout; shopping
            # on, the shopper would check out again and be charged twice. (A rejected order is
            # one the shopper cancelled after, and shopped on.)
            self._checkout = co = _Checkout(stage=CheckoutStage.SUMMARY, since=t, exit_passed=True)
            notes.append(f"order {newest.order_id}: in the outbox while the journal said shopping; "
                         "its checkout resumes")
        elif self.state is SessionState.DONE and co is not None and co.status == "queued":
            # paid, the order waiting for the store, whose answer came after the last the
            # controller heard: the paid screen shows it as the answer would have
            answered = mine.get(co.order_id)
            if answered is not None and answered.status == "accepted":
                co.status, co.charged_cents = answered.status, answered.charged_cents
                if answered.ordered_cents is not None:
                    co.ordered_cents = answered.ordered_cents
                co.priced_late_s = answered.priced_late_s
                done = self._paid_record(co, answered.status)
                self._saving(t, "reconcile", lambda: self.basket.set_state(t, SessionState.DONE.value, done))
                notes.append(f"order {co.order_id}: accepted by the store while the cart was down")
            return notes
        elif self.state is not SessionState.CHECKOUT or co is None:
            return notes
        if newest is not None and newest.seq > order_seq(journaled):
            record: OrderOnRecord | None = newest     # stored, but the journal never heard of it
        else:
            record = mine.get(journaled) if journaled else None
        if record is None:
            if journaled and co.stage == CheckoutStage.PAYING:
                co.stage, co.status = CheckoutStage.FAILED, "lost"
                co.reason = f"order {journaled} is not in the outbox: please see staff"
                self._note(t, "checkout", stage=CheckoutStage.FAILED, order_id=journaled, status="lost")
                notes.append(f"order {journaled}: journaled as paying but missing from the outbox; staff must check")
            return notes

        def settle() -> None:
            co.order_id, co.deadline = record.order_id, None
            # the outbox's figures for the paid screen: what was ordered and, once settled, charged
            if record.ordered_cents is not None:
                co.ordered_cents = record.ordered_cents
            if record.status == "pending":
                if co.stage != CheckoutStage.PAYING or journaled != record.order_id:
                    co.stage = CheckoutStage.PAYING
                    self.basket.set_state(t, SessionState.CHECKOUT.value, self._paying_record(co))
                    self._note(t, "checkout", stage=CheckoutStage.PAYING, order_id=co.order_id)
                    notes.append(f"order {co.order_id}: stored before the crash; now paying")
            elif record.status == "rejected":
                co.stage, co.status = CheckoutStage.FAILED, "rejected"
                co.reason = co.reason or "the store refused the order"
                self._note(t, "checkout", stage=CheckoutStage.FAILED, order_id=co.order_id, status="rejected")
                notes.append(f"order {co.order_id}: the store had rejected it")
            else:
                co.stage, co.status = CheckoutStage.PAID, record.status
                co.charged_cents, co.priced_late_s = record.charged_cents, record.priced_late_s
                self._set_state(t, SessionState.DONE, self._paid_record(co, record.status))
                self._note(t, "checkout", stage=CheckoutStage.PAID, order_id=co.order_id, status=record.status)
                notes.append(f"order {co.order_id}: settled ({record.status}) before the crash; session closed")
        self._saving(t, "reconcile", settle)
        return notes

    def _handle_event(self, event: Event) -> None:
        if self._pending is not None and (event.t >= self._pending.deadline or isinstance(event, WeightSettled)):
            self._decide_pending()
        if self._returned is not None and event.t >= self._returned[1]:
            self._look_at_return()
        self.t = max(self.t, event.t)
        wall = getattr(event, "wall_t", None)
        if wall is not None:
            self._wall = (wall, event.t)
        if self._dated_promotions and self.wall_t is not None and int(self.wall_t) != self._priced_second:
            # A dated promotion may have begun or ended: price again (at most once a second).
            self._priced_second = int(self.wall_t)
            self._snapshot = None
        if isinstance(event, WeightSettled):
            self._rest_g = event.total_g
            self._on_settled(event)
        elif isinstance(event, BarcodeSeen):
            self._barcodes.append(event)
        elif isinstance(event, ItemRecognized):
            self._recognized.append(event)
        elif isinstance(event, LoadReturned):
            self._on_returned(event)
        elif isinstance(event, WeightLive):
            if self.weight_stable and not event.stable:
                self._moving_since = event.t
            self.live_weight_g, self.weight_stable = event.grams, event.stable
            self._weight_seen = True
            if event.stable:
                self._rest_g = event.grams
                if self.message_key == "message.empty_first" and event.grams <= self.settings.signin_max_load_g:
                    self._tell("", "")   # emptied: the next shopper must not read it
            self._follow_load(event)
            self._snapshot = None
        elif isinstance(event, (BeaconSighting, Tick)):
            if self.location is not None:
                for derived in self.location.on_event(event):
                    self.handle(derived)
        elif isinstance(event, ZoneChanged):
            if event.zone != self.zone:
                self.zone = event.zone
                self._note(event.t, "zone", zone=event.zone)
        elif isinstance(event, LaneEntered):
            self._on_lane(event, passed=False)
        elif isinstance(event, LaneDetected):
            self._on_lane(event, passed=True)
        elif isinstance(event, LaneLeft):
            if self.state is SessionState.CHECKOUT and self._checkout \
                    and self._checkout.stage in (CheckoutStage.SUMMARY, CheckoutStage.BLOCKED):
                self._checkout = None
                self._set_state(event.t, SessionState.SHOPPING)
                self._note(event.t, "checkout", stage="left_lane")
        elif isinstance(event, ShopperAction):
            self._on_action(event)
        elif isinstance(event, (OrderAcknowledged, OrderDelayed, OrderRejected)):
            self._on_ack(event)
        self._on_time(event.t)
        self._prune(event.t)
        if self._subscribers and self._snapshot is None:
            snap = self.snapshot()
            for callback in self._subscribers:
                callback(snap)

    def _follow_load(self, live: WeightLive) -> None:
        """Creep and crumbs at rest (each below a reportable change, never an item) add up
        between decisions: the journaled load follows them, or a restart would ask about their
        sum. Only small steps, and never while a change waits: an item is always a decision's.
        With no load known (signed in while the load moved, or before the scale said anything)
        the first rest with no change waiting is it: a change settling there reaches the
        controller before the scale's "at rest"."""
        load = self.basket.session.load_g
        if (live.stable and self._pending is None
                and self.state in (SessionState.SHOPPING, SessionState.CHECKOUT)
                and (load is None or LOAD_FOLLOW_MIN_G <= abs(live.grams - load) < LOAD_FOLLOW_MAX_G)):
            if load is None and live.grams > self.settings.signin_max_load_g \
                    and self._withdraw_signin(live.t, live.grams):
                # signed in before the scale's first reading (just after a boot) with goods in
                # the basket: they would be the session's unbilled load
                return
            self.basket.set_pending(live.t, None, live.grams)

    @property
    def expected_load_g(self) -> float | None:
        """The net load (g) the journal accounts for in the open session: the waiting change's
        total, else the last decided one's, else what the scale held at rest at the sign-in;
        None when no session is open or none of these is known (the scale's first rest is then
        taken as it is)."""
        if self.state not in (SessionState.SHOPPING, SessionState.CHECKOUT):
            return None
        if self._pending is not None:
            return self._pending.change.total_g
        return self.basket.session.load_g

    @property
    def pending_decision(self) -> tuple[float, float] | None:
        """(when the change came to rest, when it is decided) for a settled change waiting
        for the cameras, else None."""
        p = self._pending
        if p is not None:
            return p.change.t, p.deadline
        # a return's look waits for the cameras as a change's decision does (live and replay alike)
        return None if self._returned is None else (self._returned[0].t, self._returned[1])

    def next_deadline(self) -> float | None:
        """The next time something happens without a new event (the loop sends a Tick then)."""
        times = []
        if self._pending is not None:
            times.append(self._pending.deadline)
        if self._returned is not None:
            times.append(self._returned[1])
        co = self._checkout
        if self.state is SessionState.CHECKOUT and co and co.stage == CheckoutStage.SUMMARY and co.deadline is not None:
            times.append(co.deadline)
        return min(times) if times else None

    def advance_to(self, t: float) -> None:
        """The one clock, for the live loop and replay alike: every deadline that falls due
        up to ``t`` happens at its own time (a Tick at the deadline), not late at the next
        event. Bounded, so a deadline that keeps renewing itself cannot stall the caller."""
        for _ in range(100):
            due = self.next_deadline()
            if due is None or due > t:
                return
            self.handle(Tick(due))

    def flush(self, t: float) -> None:
        """The end of a replay: let every deadline up to ``t`` pass."""
        self.handle(Tick(t))

    def _on_time(self, t: float) -> None:
        co = self._checkout
        if self.state is SessionState.CHECKOUT and co and co.stage == CheckoutStage.SUMMARY and co.deadline is not None \
                and t >= co.deadline:
            self._place_order(t, co)

    def _prune(self, t: float) -> None:
        horizon = t - self.settings.evidence_before_s - 30.0
        if self._barcodes and self._barcodes[0].t < horizon:
            self._barcodes = [b for b in self._barcodes if b.t >= horizon]
        if self._recognized and self._recognized[0].t < horizon:
            self._recognized = [r for r in self._recognized if r.t >= horizon]
        if self._return_times and self._return_times[0] < horizon:
            self._return_times = [r for r in self._return_times if r >= horizon]

    # -- weight --------------------------------------------------------------------------------

    def _to_idle(self, t: float) -> None:
        self._set_state(t, SessionState.IDLE)
        self._checkout = None
        self.language = self.settings.language   # the next shopper starts in the cart's language

    def _on_settled(self, change: WeightSettled) -> None:
        if self.state not in (SessionState.SHOPPING, SessionState.CHECKOUT):
            self._note(change.t, "ignored", delta_g=round(change.delta_g, 1), reason=f"no session ({self.state.value})")
            co = self._checkout
            paid_g = co.paid_load_g if co is not None and co.paid_load_g is not None else 0.0
            if self.state is SessionState.DONE and change.delta_g > 0 \
                    and change.total_g > paid_g + self.settings.signin_max_load_g:
                # The paid screen is what staff at the door look at: goods going in after the
                # payment, beyond what was paid for and the shopper's bags, must not stand under
                # "Paid" (paid goods lifted out and put back, or keys dropped in, may). The cart
                # goes back to its welcome, and a sign-in waits for the basket to be emptied.
                self._to_idle(change.t)
            return
        if self.state is SessionState.CHECKOUT and self._checkout is not None \
                and self._checkout.stage == CheckoutStage.PAYING:
            # The order went past the lane's exit, with the basket at rest; it cannot change now.
            # What goes in or out while the store answers (unloading at the car) is outside it,
            # as once the session is done; the basket on screen stays what was ordered.
            self._note(change.t, "ignored", delta_g=round(change.delta_g, 1), reason="order placed")
            if self._pending is None:
                self.basket.set_pending(change.t, None, change.total_g)
            return
        if self._signed_in_t is not None and change.t < self._signed_in_t:
            # It came to rest before the sign-in, and only reached us after it (the scale reader
            # lags the camera that read the sign-in). Replay handles events in time order and
            # ignores it as before the session; so must the live cart, or the two bills differ.
            # (Only for a sign-in on this clock: a session restored after a reboot started on
            # the monotonic clock of the boot before, which says nothing about this one's.)
            self._note(change.t, "ignored", delta_g=round(change.delta_g, 1), reason="before the session")
            if self._pending is None:
                # not charged, so part of the load a restart should find (the sign-in's predates it)
                self.basket.set_pending(change.t, None, change.total_g)
            if change.total_g > self.settings.signin_max_load_g:
                # It lay in the basket at the sign-in, which replay (time order) refuses for it:
                # so does the live cart, or those goods would be the session's unbilled load.
                self._withdraw_signin(change.t, change.total_g)
            return
        self._pending = _Pending(change, change.t + self.settings.evidence_after_s)
        # something went in or out after the load came back: what the cameras saw there may be
        # this change's item; the change's own decision judges it
        self._returned = None

    def _evidence(self, change: WeightSettled) -> Evidence:
        start = (change.started_t or change.t) - self.settings.evidence_before_s
        end = change.t + self.settings.evidence_after_s
        codes: list[str] = []
        used: list[BarcodeSeen] = []
        for b in self._barcodes:
            if start <= b.t <= end:
                product = self.catalogue.by_gtin(b.gtin13)
                used.append(b)
                if product is not None and product.code not in codes:
                    codes.append(product.code)
        # A read belongs to one placement: the next change must not count it again.
        self._barcodes = [b for b in self._barcodes if b not in used]
        # A recognition is stamped with the settle of the change it looked at, never before that
        # change began to move: one stamped earlier belongs to the change before, however late it
        # came (a bag's, arriving after the bag was decided, would name the next item).
        rec_start = change.started_t or change.t
        mine = [r for r in self._recognized if rec_start <= r.t <= end and r.t not in self._return_times]
        self._recognized = [r for r in self._recognized if not (rec_start <= r.t <= end) or r.t in self._return_times]
        shares = self._camera_shares(mine)
        places: dict[str, tuple[str, int, int, int, int]] = {}
        looks: dict[str, str] = {}
        for r in mine:
            if r.box is not None and r.direction not in places:
                places[r.direction] = (r.camera, *r.box)
            if r.look and r.direction not in looks:
                looks[r.direction] = r.look

        entered, count, tapped = None, 0, None
        if change.delta_g > 0 and self.produce_entry:
            entered, self.produce_entry = self.produce_entry, None
            product = self.catalogue.get(entered)
            # pieces: one tap per piece on the screen (a bag sold by weight has no count)
            count = self.produce_count if product and not product.by_weight else 0
        elif change.delta_g < 0 and self.removal_hint:
            tapped, self.removal_hint = self.removal_hint, None
        self._placed, self._placed_look = places.get("added"), looks.get("added")
        return Evidence(barcodes=tuple(codes), added=shares["added"], tapped=tapped,
                        removed=shares["removed"], entered=entered, entered_qty=count,
                        zone=self.zone, removed_place=places.get("removed"), removed_look=looks.get("removed"))

    def _camera_shares(self, recognized: Sequence[ItemRecognized]) -> dict[str, dict[str, float]]:
        """For "added" and "removed": each product's calibrated probability (``[fusion]``),
        averaged over the cameras that answered, so one camera's confident mistake is diluted."""
        scores: dict[str, dict[str, list[float]]] = {"added": {}, "removed": {}}
        cameras: dict[str, set[str]] = {"added": set(), "removed": set()}
        for r in recognized:
            if r.direction not in scores:
                continue
            cameras[r.direction].add(r.camera)
            for code, score in calibrated_candidates(r.candidates, self.settings.recognizer_temperature,
                                                     self.settings.recognizer_reliability,
                                                     self.settings.recognizer_score_mid,
                                                     self.settings.recognizer_score_width, r.still_there):
                scores[r.direction].setdefault(code, []).append(score)
        return {direction: {code: sum(v) / len(cameras[direction]) for code, v in by_code.items()}
                for direction, by_code in scores.items()}

    def _basket_entries(self) -> list[BasketEntry]:
        return [BasketEntry(i.code, i.qty, i.weight_g, i.id, i.sold_by == "weight", i.place, i.look)
                for i in self.basket.items]

    def _decide_pending(self) -> None:
        pending, self._pending = self._pending, None
        assert pending is not None, "decided only when a change is pending"
        change = pending.change
        evidence = self._evidence(change)
        t = pending.deadline
        # decided: the change leaves the journal, with the load it left (SessionRecord.load_g)
        self.basket.set_pending(t, None, change.total_g)
        loss = change.delta_g < 0
        decision = self.fusion.decide(change.delta_g, evidence, self._basket_entries(), self._unnamed(),
                                      self._own_load_g(change.total_g - change.delta_g) if loss else 0.0)
        if decision.action == "ignore":
            self._note(t, "ignored", delta_g=round(change.delta_g, 1), reason="below min_change_g")
            return
        self.changes += 1
        if decision.action == "add":
            self._commit_add(t, decision.ranked[0], change.delta_g, "fusion", self._placed, self._placed_look)
        elif decision.action == "remove":
            self._commit_remove(t, decision.ranked[0], "fusion", -change.delta_g)
            if decision.unverified:
                # the "remove" tap named it, and the shopper's own things could be what left:
                # their word, which the weight cannot check then or later, so staff may check
                self._note(t, "unverified", id=None, answer=decision.ranked[0].parts[0].code, could_be=[OWN_THINGS],
                           delta_g=round(change.delta_g, 1))
        else:
            self._ask(t, decision)
        if self.state is SessionState.CHECKOUT and self._checkout and self._checkout.stage == CheckoutStage.SUMMARY:
            # The basket changed in the lane: show the new summary for a full cancel window.
            self._new_window(self._checkout, t)

    def _unnamed(self) -> list[OpenGain]:
        """What went in unnamed (open gain questions): a loss may be one of them leaving, which
        fusion weighs against the basket and decides only on what the cameras saw."""
        return [OpenGain(q.id, q.delta_g, {c["code"]: float(c.get("score", 0.0)) for c in q.candidates},
                         q.place, q.look, told_out=q.kind == QuestionKind.REMOVE_UNKNOWN)
                for q in self.basket.questions
                if q.kind in (QuestionKind.ADDED, QuestionKind.UNIDENTIFIED, QuestionKind.REMOVE_UNKNOWN) and q.delta_g > 0]

    def _on_returned(self, event: LoadReturned) -> None:
        """The load came back to its rest: nothing to charge, but a product swapped for one of
        about its weight in one motion makes no change the scale can report. The cameras' look
        at the changed place is judged at the evidence deadline (:meth:`_look_at_return`)."""
        self._return_times.append(event.t)
        # (not while a change waits: its item may be what the cameras see, not yet on the bill;
        # an item that went in unnamed may be swapped too)
        if self.state in (SessionState.SHOPPING, SessionState.CHECKOUT) and (self.basket.items or self.basket.questions) \
                and self._pending is None \
                and not (self._checkout is not None and self._checkout.stage == CheckoutStage.PAYING):
            self._returned = (event, event.t + self.settings.evidence_after_s)

    def _look_at_return(self) -> None:
        """A product the cameras name (``SWAP_SEEN_SCORE``) now lies where the load moved, and
        none of it is on the bill: something of about its weight was swapped for it
        (a cheap bottle out, a dear one in). Not charged on the cameras alone (they are
        sometimes sure and wrong, and the shopper may only have moved things): journaled as
        ``possible_swap``, logged and sent to the fleet as a fault, so staff check the basket
        at the exit, as for a disputed answer."""
        assert self._returned is not None
        event, t = self._returned
        self._returned = None
        mine = [r for r in self._recognized if r.t == event.t]
        self._recognized = [r for r in self._recognized if r.t != event.t]
        shares = self._camera_shares(mine)
        now, before = shares["added"], shares["removed"]
        # The same physical item looks like itself: one moved to another place in the basket
        # (the recognizer may name a look-alike for it) is no swap, nor is an item that went in
        # unnamed (its question keeps how it looked).
        looks = [r.look for r in mine if r.direction == "added" and r.look]
        known = [item.look for item in self.basket.items] + [q.look for q in self.basket.questions]
        if any((look_similarity(was, look) or 0.0) >= LOOK_PLAIN for was in known for look in looks):
            return
        similarity = {code: score for r in mine if r.direction == "added" for code, score in r.candidates}
        seen = sorted(code for code, score in now.items()
                      if score >= SWAP_SEEN_SCORE and similarity.get(code, 0.0) >= SWAP_MIN_SIMILARITY
                      and self.basket.quantity(code) == 0 and before.get(code, 0.0) < SWAP_SEEN_SCORE)
        # What an open question may be about is in the basket too, unnamed yet: no swap to flag
        # now, but its answer is weighed against it. A yoghurt put in unnamed ("the Arla or the
        # Valio?"), swapped in one motion for the dearer look-alike the question also offered,
        # and answered as the cheaper one, was charged as that with nothing to tell anyone.
        gains = [q for q in self.basket.questions if q.kind in (QuestionKind.ADDED, QuestionKind.UNIDENTIFIED)]
        for q in gains:
            offered = {c["code"] for c in q.candidates} & set(seen)
            if offered:
                self._seen_since.setdefault(q.id, set()).update(offered)
        asked = {c["code"] for q in self.basket.questions for c in q.candidates}
        appeared = [code for code in seen if code not in asked]
        if appeared and self._pending is None and self.state in (SessionState.SHOPPING, SessionState.CHECKOUT):
            gone = max((c for c in before if self.basket.quantity(c)), key=lambda c: before[c], default="")
            self._note(t, "possible_swap", seen=appeared, gone=gone, load_g=round(event.total_g, 1))

    def _own_load_g(self, load_before_g: float) -> float:
        """What the basket held of the shopper's own (bags, never billed) before a loss, when it
        held ``load_before_g``: the load at the sign-in, or more where the load held more than the
        bill and the open questions account for (the sign-in's load not known, a placement staff
        left unnamed). A loss may be some of it leaving; lifted out, the bags weigh what they did at the sign-in,
        so that stays a possibility all session (a question at worst, never a wrong refund)."""
        # An open gain question's grams are in the basket, unnamed; an open removal's (negative)
        # left, though no line has been taken off for them yet. (A line without a weight counts
        # as none: more of the load is the shopper's, so more is asked, never less.)
        accounted = sum(i.weight_g or 0.0 for i in self.basket.items) + sum(q.delta_g for q in self.basket.questions)
        unaccounted = load_before_g - accounted
        return max(unaccounted, self.basket.session.start_load_g or 0.0)

    def _taken_out(self, t: float, qid: int, loss_g: float | None = None) -> None:
        """The unnamed item of question ``qid`` left the basket: nothing to charge or refund.
        When only some of it left (one of two cartons put in together), what is still in the
        basket is still unnamed: the question comes back for the rest of the weight."""
        gain = self.basket.session.questions.get(qid)
        self.basket.close_question(t, qid, "taken_out")
        self._note(t, "answered", id=qid, resolution="taken_out")
        left = None if gain is None or loss_g is None else left_over(gain.delta_g, loss_g)
        if gain is not None and left is not None:
            rest = self.basket.ask(t, gain.kind, left, list(gain.candidates), gain.place, gain.look)
            self._note(t, "question", id=rest.id, kind=rest.kind, delta_g=rest.delta_g,
                       candidates=[c["code"] for c in rest.candidates])
        self._after_question(t)

    def _commit_add(self, t: float, best: Hypothesis, delta_g: float, how: str,
                    place: tuple[str, int, int, int, int] | None = None, look: str | None = None) -> None:
        # Two products put in together share one crop: its look identifies neither alone.
        look = look if len(best.parts) == 1 else None
        if self.message:
            self._tell("", "")   # what the shopper was told to do (put it in first) is done
        for part in best.parts:
            product = self.catalogue[part.code]
            weight = part.weight_g if product.by_weight else round(part.weight_g, 1)
            item = self.basket.add(t, code=product.code, name=product.name, qty=part.qty, sold_by=product.sold_by,
                                   unit_price_cents=product.price_cents,
                                   price_cents=product.price_for(part.qty, part.weight_g),
                                   weight_g=round(weight, 1), image=product.image, place=place, look=look)
            self._last_change = (product.code, t)
            self._note(t, "added", code=item.code, qty=item.qty, weight_g=item.weight_g, price_cents=item.price_cents,
                       by=how)

    def _commit_remove(self, t: float, best: Hypothesis, how: str, loss_g: float | None = None) -> None:
        for part in best.parts:
            if part.question_id is not None:
                self._taken_out(t, part.question_id, part.weight_g)
                continue
            if part.item_id is not None:
                item = self.basket.session.items[part.item_id]
                self.basket.remove(t, part.item_id, item.qty)
                qty = 1
            else:
                qty = self.basket.remove_units(t, part.code, part.qty, loss_g if len(best.parts) == 1 else None)
            self._last_change = (part.code, t)
            self._note(t, "removed", code=part.code, qty=qty,
                       weight_g=round(loss_g if loss_g is not None and len(best.parts) == 1 else part.weight_g, 1), by=how)

    def _ask(self, t: float, decision: Decision, place: tuple[str, int, int, int, int] | None = None,
             look: str | None = None, crop: bool = True) -> None:
        """Ask about ``decision``; a gain's question keeps where it was seen and how it looked
        (``place``/``look``, default: the change being decided; none without ``crop``)."""
        entries: list[QuestionCandidate] = []
        # One per product (basket item, open question), by the posterior over all its counts.
        for h in decision.candidates:
            part = h.parts[0]
            # the item a "take it out" question is about has no product: the answer names the question
            code = part.code or (unnamed_choice(part.question_id) if part.question_id is not None else "")
            if not code:
                continue
            entry = QuestionCandidate(code=code, qty=part.qty, score=round(h.probability, 4))
            if part.item_id is not None:
                entry["item_id"] = part.item_id
            if part.question_id is not None:
                entry["question_id"] = part.question_id   # the item an open question is about
            if part.code in decision.sure:
                entry["sure"] = True
            if decision.delta_g < 0:
                # what an answer may close on the shopper's word alone, and what it is weighed
                # against (Controller._unverified)
                if (part.code, part.item_id, part.question_id) in decision.seen:
                    entry["seen"] = True
                if code != OWN_THINGS and abs(h.z) <= MAX_Z:
                    entry["fits"] = True
            entries.append(entry)
        # five at most, and the shopper's own things wherever they fit (fusion offers them only then)
        candidates = [e for e in entries if e["code"] != OWN_THINGS][:5]
        candidates = sorted(candidates + [e for e in entries if e["code"] == OWN_THINGS], key=lambda e: -e["score"])
        gain = decision.delta_g > 0 and crop
        q = self.basket.ask(t, QuestionKind(decision.question), round(decision.delta_g, 1), candidates,
                            (place or self._placed) if gain else None, (look or self._placed_look) if gain else None)
        self._note(t, "question", id=q.id, kind=q.kind, delta_g=q.delta_g, candidates=[c["code"] for c in candidates])
        if self.state is SessionState.CHECKOUT and self._checkout and self._checkout.stage == CheckoutStage.SUMMARY:
            self._block(t, self._checkout)

    # -- the shopper ---------------------------------------------------------------------------

    def _question(self, qid: int | None, kinds: tuple[QuestionKind, ...] = (
            QuestionKind.ADDED, QuestionKind.UNIDENTIFIED, QuestionKind.REMOVED)) -> OpenQuestion | None:
        """The question an answer is for: by id, else the newest one on screen of ``kinds``."""
        questions = self.basket.questions
        if qid is None:
            return next((q for q in reversed(questions) if q.kind in kinds), None)
        return next((q for q in questions if q.id == qid), None)

    def _on_action(self, a: ShopperAction) -> None:
        state = self.state
        if a.action == "language":
            # The shopper's language for this session: the screen follows it after a restart too.
            if a.value and a.value != self.language:
                self.language = a.value
                self._note(a.t, "language", language=a.value)
            return
        if a.action == "call_staff":
            # Journaled like every change: the fleet hears it (telemetry, as a fault) and the
            # cart's log names it; the screen has already said that staff are called.
            self._note(a.t, "staff_call", where=a.value)
            return
        if self.message:
            self._tell("", "")   # a message answers the shopper's last action: the next one replaces it
        if a.action == "staff":
            self._on_staff(a.t, a.value)
            return
        if a.action == "signin":
            if state in (SessionState.IDLE, SessionState.DONE):
                # what the scale held at the sign-in, for a restart before any change is decided
                at_rest = self.live_weight_g if self._weight_seen and self.weight_stable else None
                # While the load moves, what lay in the basket is its last rest: rocking the cart
                # as the code is shown must not let goods at rest there start the session unbilled
                # (the engine reports no change when the load comes back to the same rest).
                held = at_rest if at_rest is not None else self._rest_g
                if held is not None and held > self.settings.signin_max_load_g:
                    # What is in the basket at the sign-in is its starting load, never billed:
                    # the shopper's own bags, up to what the store allows; more is goods put in
                    # first, or brought back in a paid cart, so the shopper empties it and shows
                    # the code again. (A change still moving is decided as a change of the session.)
                    if not self.weight_stable:
                        # moving: emptied or not, only the scale's next rest can tell (a scale
                        # that never rests again is the scale's fault, which its status says)
                        self._refuse_settling(a.t, "signin")
                    else:
                        self._refuse_signin(a.t, held)
                    return
                self._checkout = None
                # the last shopper's produce entry or remove tap (never journaled: a restart or a
                # replay of this session has none) must not decide this shopper's first change
                self.produce_entry = self.removal_hint = None
                self.basket.begin_session(a.t, a.value, at_rest)
                self._seen_since.clear()   # question ids count from 1 again
                self._signed_in_t = a.t
                self._note(a.t, "signin")
            return
        if a.action == "signout" or (a.action == "confirm" and state is SessionState.DONE):
            empty = state is SessionState.SHOPPING and not self.basket.items and not self.basket.questions
            if empty and self._settling(a.t):
                # Something is going in or out: the session ends once the scale has said what.
                # Else the live cart, whose scale reader lags, would end it and then ignore the
                # change, while a replay (time order) charges it, or the other way round.
                self._refuse_settling(a.t, "signout")
                return
            if state is SessionState.DONE or empty:
                self._to_idle(a.t)
            elif a.action == "signout" and state in (SessionState.SHOPPING, SessionState.CHECKOUT):
                # Not silently: a shopper who thinks they signed out and walks off would leave the
                # session open, and the next person's items on their card.
                self._tell("message.signout_items", "to sign out, take the items out of the cart, or pay at the lane")
                self._note(a.t, "rejected", action="signout", value="items in the cart")
            return
        if state is SessionState.CHECKOUT and self._checkout is not None and a.action in ("cancel", "confirm") \
                and self._checkout.stage in (CheckoutStage.SUMMARY, CheckoutStage.FAILED):
            if a.action == "cancel":
                self._checkout = None
                self._set_state(a.t, SessionState.SHOPPING)
                self._note(a.t, "checkout", stage="cancelled")
            elif self._checkout.stage == CheckoutStage.SUMMARY and not self._checkout.exit_passed:
                # Paid at the entry, a cart could turn back into the store with its session
                # done, and what went in then would be ignored: the order waits for the exit.
                self._tell("checkout.pay_at_exit", "paying when you leave the lane")
                self._note(a.t, "rejected", action="confirm", value="before the exit")
            else:
                self._place_order(a.t, self._checkout)
            return
        if state not in (SessionState.SHOPPING, SessionState.CHECKOUT):
            return
        # A PLU typed on a question's keypad (it names the question) answers it; typed on the
        # produce screen (no question named) it is for the next placement, even while an
        # older question waits: the shopper is not answering that one.
        # ("take it out" is answered by the scale, not by a tap.)
        # Likewise a Cancel naming no question, with a produce entry or a removal under way (the
        # weigh screen's Cancel, the remove screen's "keep it"), cancels that: tapped as a question
        # came up, it closed a removal as "nothing removed", the item still on the bill. Both
        # name their product: one tapped after the change used the entry or the tap (a removal
        # question up, the screen a frame behind) answers nothing either; a bare cancel does.
        cancelling = a.action == "cancel" and (bool(self.produce_entry or self.removal_hint)
                                               or (a.question_id is None and a.value in self.catalogue))
        if a.action == "plu":
            question = self._question(a.question_id, (QuestionKind.ADDED, QuestionKind.UNIDENTIFIED)) \
                if a.question_id is not None else None
        elif cancelling and a.question_id is None:
            question = None
        else:
            question = self._question(a.question_id)
        if a.action in ("choose", "plu") and question is not None:
            self._answer(a.t, question, a.value, a.qty)
        elif a.action in ("plu", "produce"):
            if self.catalogue.get(a.value) is None:
                self._tell("message.no_product", f"no product with code {a.value}", code=a.value)
                self._note(a.t, "rejected", action=a.action, value=a.value)
            else:
                # Tapping the same product again counts pieces: "plu 4065" three times = 3 peppers.
                self.produce_count = self.produce_count + 1 if self.produce_entry == a.value else 1
                if self.produce_entry is None:
                    # What goes in from now on is this produce: the screen shows that weight, not the basket's.
                    self.produce_base_g = self.live_weight_g
                self.produce_entry = a.value
                self._tell("", "")
                self._note(a.t, "produce_entry", code=a.value, count=self.produce_count)
        elif a.action == "confirm" and self.produce_entry:
            self._confirm_produce(a.t)
        elif a.action in ("not_in_cart", "cancel") and question is not None:
            self._not_in_cart(a.t, question)
        elif cancelling:
            # "keep it" leaves the item on the bill: the next loss must not take it off on the tap
            self.removal_hint = None
            if self.produce_entry:
                self.produce_entry = None
                self._note(a.t, "produce_entry", code="")
        elif a.action == "remove" and a.value in self.catalogue:
            self.removal_hint = a.value

    def _on_staff(self, t: float, override: str) -> None:
        """A staff override (the UI checked the PIN and wrote the audit line first). Each is
        journaled like the shopper's own changes and noted as ``staff``; what cannot be done
        now is said on the screen and changes nothing."""
        state, co = self.state, self._checkout
        in_session = state in (SessionState.SHOPPING, SessionState.CHECKOUT)
        paying = co is not None and co.stage == CheckoutStage.PAYING   # the order is with the store
        if override in ("clear_questions", "unblock"):
            # Staff looked in the basket: what was asked about stays as the basket has it (a
            # removal not named keeps its line; a placement not named is not charged).
            blocked = state is SessionState.CHECKOUT and co is not None and co.stage == CheckoutStage.BLOCKED
            unsaved = override == "unblock" and self.unsaved_weight_changes > 0   # staff checked the basket
            if not in_session or not (self.basket.questions or unsaved) or (override == "unblock" and not blocked):
                self._tell("message.staff_nothing", "nothing to do")
                return
            questions = self.basket.questions
            for q in questions:
                self.basket.close_question(t, q.id, "staff")
            if unsaved:
                self.unsaved_weight_changes = 0
            self._staff_done(t, override, questions=len(questions), unsaved=unsaved)
            self._after_question(t)
        elif override == "void_last":
            if not in_session or paying or not self.basket.items:
                self._tell("message.staff_nothing", "nothing to do")
                return
            item = max(self.basket.items, key=lambda i: i.id)   # the newest placement
            self.basket.remove(t, item.id, item.qty)
            self._staff_done(t, override, code=item.code, qty=item.qty, weight_g=item.weight_g)
        elif override == "tare":
            # Zero means "the empty basket": with items in it, or a change or a weighing under
            # way, zeroing would move what the screen shows, never the basket's bill.
            # (an item an open question is about is in the basket too)
            if (in_session and (self.basket.items or self.basket.questions)) or self._pending is not None \
                    or self.produce_entry:
                self._tell("message.staff_empty_first", "take everything out of the basket, then zero the scale")
                return
            if self.scale_port is None:
                self._tell("message.staff_no_scale", "this cart has no scale")
                return
            if in_session:
                # zero is the empty basket: what a restart should find (SessionRecord.load_g),
                # also when none was known yet (the scale moved at the sign-in)
                self.basket.set_pending(t, None, 0.0)
            self.scale_port.request_zero()
            self._tell("message.staff_zeroing", "zeroing the scale: keep the cart still")
            self._note(t, "staff", action=override)
        elif override == "end_session":
            if state is SessionState.IDLE or paying:
                # An order with the store ends the session with its answer, never before.
                self._tell("message.staff_nothing" if state is SessionState.IDLE else "message.staff_wait_store",
                           "nothing to do" if state is SessionState.IDLE else "the order is with the store: wait")
                return
            self._staff_done(t, override, items=len(self.basket.items), total_cents=self.basket.total_cents())
            self._pending = None
            self.produce_entry = None
            self._to_idle(t)
        else:
            self._note(t, "rejected", action="staff", value=override)

    def _refuse_settling(self, t: float, action: str) -> None:
        self._tell("message.settling", "one moment: the basket is still settling")
        self._note(t, "rejected", action=action, value="settling")

    def _withdraw_signin(self, t: float, grams: float) -> bool:
        """A sign-in of this clock whose basket turns out to have held more than the shopper's
        bags (``grams``) is undone, as :meth:`_on_action` would have refused it, while nothing
        has happened in the session yet. Returns whether it was."""
        if self._signed_in_t is None or self.state is not SessionState.SHOPPING \
                or self.basket.items or self.basket.questions:
            return False
        self._to_idle(self.t)
        self._signed_in_t = None
        self._refuse_signin(t, grams)
        return True

    def _refuse_signin(self, t: float, grams: float) -> None:
        self._tell("message.empty_first", "take everything out of the basket, then show your code again")
        self._note(t, "rejected", action="signin", value=f"{grams:.0f} g in the basket")

    def _staff_done(self, t: float, override: str, **data: Any) -> None:
        """An override carried out: noted, and answered on the screen (every override is
        answered, done or why not, so a refusal is never read as done)."""
        self._note(t, "staff", action=override, **data)
        self._tell("message.staff_done", "done")

    def _tell(self, key: str, text: str, **values: str) -> None:
        """A line for the shopper: ``text`` for the log and English, ``key`` for the screen's translation."""
        self.message, self.message_key = text, key
        self.message_values = tuple(sorted((k, str(v)) for k, v in values.items()))
        self._snapshot = None

    def _confirm_produce(self, t: float) -> None:
        """The shopper tapped "Add" on the weighing screen: a placement waiting for the cameras
        is decided now (the shopper has said what it is); with nothing placed yet, say so."""
        pending = self._pending
        if pending is not None and pending.change.delta_g > 0:
            pending.deadline = t
            self._decide_pending()
            return
        product = self.catalogue.get(self.produce_entry or "")
        name = product.name if product else (self.produce_entry or "")
        self._tell("message.place_first", f"put the {name} in the cart first", name=name)
        self._note(t, "rejected", action="confirm", value=self.produce_entry or "")

    def _answer(self, t: float, q: OpenQuestion, code: str, said_qty: int = 0) -> None:
        chosen = next((c for c in q.candidates if c["code"] == code), None)
        if q.kind == QuestionKind.REMOVE_UNKNOWN:
            return
        if q.kind == QuestionKind.REMOVED and chosen is not None and code == OWN_THINGS:
            # Something of the shopper's own came out: nothing on the bill changes (an item told
            # out is still to come out), as for "Nothing came out".
            self.basket.close_question(t, q.id, "own")
            self._note(t, "answered", id=q.id, resolution="own")
            self._dispute(t, q, code)
            self._after_question(t)
            return
        unnamed = self._unnamed_answer(q, code, chosen) if q.kind == QuestionKind.REMOVED else None
        if unnamed is not None:
            # "It was the pepper": the one that went in unnamed, not a basket line.
            seen = bool(chosen and chosen.get("seen"))
            if self.basket.session.questions[unnamed].kind == QuestionKind.REMOVE_UNKNOWN and not seen:
                # "Take it out" is answered by the scale or the cameras, never by a tap: the
                # weight fit something else as well (the shopper's own bag, lifted out while
                # the item stays; a billed item of its weight), and the cameras did not see
                # the item leave. Staff look; the questions stay until they do.
                self._tell("message.take_out_unseen", "the cart did not see that item come out: "
                           "staff are coming to check")
                self._note(t, "rejected", action="choose", value=code)
                self._note(t, "staff_call", where=f"question:{q.id}")
                return
            self.basket.close_question(t, q.id, f"chose {code}")
            self._note(t, "answered", id=q.id, code=code)
            self._dispute(t, q, code)
            if not seen:
                self._unverified(t, q, code, lines=True)
            self._taken_out(t, unnamed, -q.delta_g)
            return
        product = self.catalogue.get(code)
        if product is None:
            self._tell("message.no_product", f"no product with code {code}", code=code)
            self._note(t, "rejected", action="choose", value=code)
            return
        if q.kind == QuestionKind.REMOVED:
            if self.basket.quantity(code) == 0:
                self._tell("message.not_in_basket", f"{product.name} is not in the basket", name=product.name)
                self._note(t, "rejected", action="choose", value=code)
                return
            qty = 0
            if not product.by_weight:
                qty = said_qty or (chosen["qty"] if chosen else
                                   best_quantity(product, q.delta_g, self.fusion.params.scale_noise_g))
                unit_g = self._unit_weight_in_basket(code)
                claimed_g = qty * unit_g
                if -q.delta_g < (qty - 0.5) * unit_g:
                    # What left must weigh nearer the units named than one fewer: a 1 kg juice
                    # named for 25 g that left is still in the cart, and taking it off the bill
                    # would be an under-charge the weight plainly contradicts.
                    self._tell("message.weighs_more", f"Only {-q.delta_g:.0f} g came out, not {product.name} "
                               f"(about {claimed_g:.0f} g): choose again or tap Nothing came out", name=product.name,
                               grams=f"{claimed_g:.0f}", left=f"{-q.delta_g:.0f}")
                    self._note(t, "rejected", action="choose", value=code)
                    return
            self.basket.close_question(t, q.id, f"chose {code}")
            self._note(t, "answered", id=q.id, code=code)
            self._dispute(t, q, code)
            if not (chosen and chosen.get("seen")):
                self._unverified(t, q, code)
            named = self.basket.session.items.get(chosen["item_id"]) if chosen and "item_id" in chosen else None
            if named is not None or product.by_weight:
                lot = named or min((i for i in self.basket.items if i.code == code),
                                   key=lambda i: abs((i.weight_g or 0.0) + q.delta_g))
                self._remove_lot(t, lot, -q.delta_g)
            else:
                qty = self.basket.remove_units(t, code, qty, -q.delta_g)
                self._note(t, "removed", code=code, qty=qty, weight_g=round(-q.delta_g, 1), by="shopper")
                # The units named weigh clearly more than what left: something went in as they
                # came out, in one motion (the juice out, a 150 g pepper in: -912 g, answered
                # "the juice"), and it is asked about, or it would never be on the bill.
                if units_z(product, qty, -q.delta_g, self.fusion.params.scale_noise_g) < -MAX_Z:
                    rest = qty * product.unit_weight_g + q.delta_g
                    decision = self.fusion.decide(rest, Evidence(zone=self.zone))
                    if decision.action == "ask":
                        # (no crop of its own: the last change's may be another's, and a look
                        # would let the cameras close it)
                        self._ask(t, decision, crop=False)
                        self._tell("message.rest_in_for_out", f"{product.name} came out, but about {rest:.0f} g "
                                   "went in as well: what was it?", name=product.name, grams=f"{rest:.0f}")
                elif rest := unexplained_g(product, qty, -q.delta_g, self.fusion.params.scale_noise_g):
                    # ... and clearly less than what left: something else came out with them
                    # (the juice and a sour cream lifted out together, answered "the juice").
                    # Decided as a removal of its own, or asked, or it would stay on the bill.
                    self._rest_out(t, product.name, rest)
            self._last_change = (code, t)
        else:
            if product.by_weight:
                qty = 1
            else:
                qty = said_qty or (chosen["qty"] if chosen else
                                   best_quantity(product, q.delta_g, self.fusion.params.scale_noise_g))
                if units_z(product, qty, q.delta_g, self.fusion.params.scale_noise_g) < -MAX_Z:
                    # The units named weigh clearly more than went in: two sour creams (636 g)
                    # named as a 1,580 g carton of milk were charged as the cheaper milk, without
                    # a question. (Less than went in is asked about below: the rest.) Produce
                    # sold by weight is weighed, whatever its name, so only the cameras can
                    # gainsay that (the veto's question, and a disputed answer).
                    grams = qty * product.unit_weight_g
                    self._tell("message.weighs_more_in", f"Only {q.delta_g:.0f} g went in, not {product.name} "
                               f"(about {grams:.0f} g): choose again or tap That's not in my cart",
                               name=product.name, grams=f"{grams:.0f}", left=f"{q.delta_g:.0f}")
                    self._note(t, "rejected", action="choose", value=code)
                    return
            self.basket.close_question(t, q.id, f"chose {code}")
            self._note(t, "answered", id=q.id, code=code)
            self._dispute(t, q, code)
            # A juice named for a juice and a sour cream put in together: the sour cream's grams
            # are still unnamed and asked about, or the answer would leave it off the bill.
            rest = unexplained_g(product, qty, q.delta_g, self.fusion.params.scale_noise_g)
            self._commit_add(t, Hypothesis((Part(code, qty, q.delta_g - rest),), 1.0), q.delta_g - rest, "shopper",
                             q.place, q.look)
            if rest:
                decision = self.fusion.decide(rest, Evidence(zone=self.zone))
                if decision.action == "ask":
                    self._ask(t, decision, q.place, q.look)
                    # said, or the shopper takes the next question for the one just answered
                    self._tell("message.rest_unnamed", f"about {rest:.0f} g more went in with {product.name}: "
                               "what else?", name=product.name, grams=f"{rest:.0f}")
        self._after_question(t)

    def _rest_out(self, t: float, name: str, rest_g: float) -> None:
        """``rest_g`` more came out than the product ``name`` the shopper answered: decided as a
        loss of its own against what is left in the basket, on the weight alone (no camera
        evidence of its own), or asked about: "what else came out?"."""
        # what the basket held before the rest came out: the load the answered change left, and it
        load = self.basket.session.load_g
        own_g = self._own_load_g(load + rest_g) if load is not None else self.basket.session.start_load_g or 0.0
        decision = self.fusion.decide(-rest_g, Evidence(zone=self.zone), self._basket_entries(), self._unnamed(), own_g)
        if decision.action == "remove":
            self._commit_remove(t, decision.ranked[0], "fusion", rest_g)
        elif decision.action == "ask":
            self._ask(t, decision, crop=False)
            self._tell("message.rest_out", f"{name} came out, and about {rest_g:.0f} g more came out with it: "
                       "what else?", name=name, grams=f"{rest_g:.0f}")

    def _dispute(self, t: float, q: OpenQuestion, code: str) -> None:
        """The shopper's answer is the bill, but one that leaves out every product the cameras
        were sure of (the bananas typed in again for the mushrooms the veto asked about, the
        first carton's barcode again for the second) is their word against the cameras: it is
        journaled and sent to the fleet as a fault, so staff can check the basket at the exit,
        rather than refused (the recognizer is sometimes sure and wrong, and an honest shopper
        must not be stuck)."""
        sure = [c["code"] for c in q.candidates if c.get("sure")]
        # and what the cameras saw appear since, where the load came back (_look_at_return)
        sure += sorted(self._seen_since.pop(q.id, set()) - set(sure))
        if sure and code not in sure:
            self._note(t, "disputed", id=q.id, answer=code, seen=sure, delta_g=q.delta_g)

    def _unverified(self, t: float, q: OpenQuestion, code: str, lines: bool = False) -> None:
        """A removal answer the cameras did not confirm, where something else fit the weight
        that would leave goods in the cart unbilled: the shopper's own things (a phone out of
        their bag answered as the 318 g sour cream), or, for an unnamed item (``lines``), a
        basket line of its weight (the billed lemon out, the unnamed item kept). The answer is
        the bill (an honest shopper must get through in one tap), but the weight can never
        tell, then or later: noted ``unverified`` and sent to the fleet like ``disputed``, so
        staff can check the basket at the exit. (Between two billed lines the bill is right but
        for the price of the one named, as without bags.)"""
        could_be = [c["code"] for c in q.candidates if c["code"] != code
                    and (c["code"] == OWN_THINGS
                         or (lines and c.get("fits") and "question_id" not in c and choice_kind(c["code"]) == "product"))]
        if could_be:
            self._note(t, "unverified", id=q.id, answer=code, could_be=could_be, delta_g=q.delta_g)

    def _unit_weight_in_basket(self, code: str) -> float:
        """What one unit of ``code`` in the basket weighed going in (the catalogue's weight
        where the scale did not say)."""
        items = [i for i in self.basket.items if i.code == code and i.weight_g]
        units = sum(i.qty for i in items)
        return sum(i.weight_g or 0.0 for i in items) / units if units else self.catalogue[code].unit_weight_g

    def _remove_lot(self, t: float, lot: Item, loss_g: float) -> None:
        """The shopper said a loss was from weighed lot ``lot``. Only the part that left comes
        off the bill: half the bananas taken out leaves the other half charged (the whole lot
        went before, and what stayed in the cart was never paid for)."""
        left = left_over(lot.weight_g or 0.0, loss_g)
        self.basket.remove(t, lot.id, lot.qty)
        self._note(t, "removed", code=lot.code, qty=1,
                   weight_g=lot.weight_g if left is None else round(loss_g, 1), by="shopper")
        if left is not None:
            product = self.catalogue[lot.code]
            rest = self.basket.add(t, code=lot.code, name=lot.name, qty=1, sold_by=lot.sold_by,
                                   unit_price_cents=lot.unit_price_cents, price_cents=product.price_for(1, left),
                                   weight_g=left, image=lot.image, place=lot.place, look=lot.look)
            self._note(t, "added", code=rest.code, qty=1, weight_g=rest.weight_g, price_cents=rest.price_cents,
                       by="shopper")

    def _unnamed_answer(self, q: OpenQuestion, code: str, chosen: QuestionCandidate | None) -> int | None:
        """The open gain question a removal answer names: the chosen candidate's, else (for a
        product not in the basket) the newest open gain question that suggested ``code``."""
        open_ids = {g.question_id for g in self._unnamed()}
        if chosen is not None and chosen.get("question_id") in open_ids:
            return int(chosen["question_id"])
        if self.basket.quantity(code) > 0:
            return None
        for other in reversed(self.basket.questions):
            if other.id in open_ids and any(c["code"] == code for c in other.candidates):
                return other.id
        return None

    def _not_in_cart(self, t: float, q: OpenQuestion) -> None:
        if q.kind == QuestionKind.REMOVED:
            # Nothing of ours left the basket: keep charging for all of it (the store's side of doubt).
            self.basket.close_question(t, q.id, "nothing_removed")
            self._note(t, "answered", id=q.id, resolution="nothing_removed")
            self._after_question(t)
        elif q.kind in (QuestionKind.ADDED, QuestionKind.UNIDENTIFIED):
            # Something is in the basket that nobody will name: it must come out before checkout.
            self.basket.close_question(t, q.id, "not_named")
            self.basket.ask(t, QuestionKind.REMOVE_UNKNOWN, q.delta_g, [], q.place, q.look)
            self._note(t, "answered", id=q.id, resolution="take_it_out")

    def _after_question(self, t: float) -> None:
        co = self._checkout
        if self.state is SessionState.CHECKOUT and co and co.stage == CheckoutStage.BLOCKED and not self._checkout_on_hold():
            co.stage = CheckoutStage.SUMMARY
            # A full cancel window on the answered basket, as it does without a question.
            self._new_window(co, t)
            self._note(t, "checkout", stage=CheckoutStage.SUMMARY)

    # -- checkout ------------------------------------------------------------------------------

    def _on_lane(self, lane: LaneEntered | LaneDetected, passed: bool) -> None:
        co = self._checkout
        if self.state is SessionState.CHECKOUT and co is not None:
            if passed and not co.exit_passed:
                co.exit_passed = True
                # journaled (without a note), so that a restart while held for a question does
                # not wait for an exit already passed; the rest of the journaled checkout stays as
                # it was (a paying order's id). The screen changes: "Pay now", the countdown, and
                # no more "paying when you leave the lane" from an early tap.
                self.basket.set_state(lane.t, SessionState.CHECKOUT.value,
                                      {**(self.basket.session.checkout or {}), "exit_passed": True})
                if self.message_key == "checkout.pay_at_exit":
                    self._tell("", "")
                self._snapshot = None
            if passed and co.stage == CheckoutStage.SUMMARY:
                # Through the exit: the order goes once the shopper has had the whole cancel
                # window since "Checking out..." appeared (or the basket last changed); a brisk
                # cart crosses the lane sooner, and the rest of the window counts down.
                window_from = co.since if co.window_from is None else co.window_from
                if lane.t >= window_from + self.settings.summary_s:
                    self._place_order(lane.t, co)
                else:
                    co.deadline = window_from + self.settings.summary_s
            return
        if self.state is not SessionState.SHOPPING:
            return
        # Entry beacon: the summary stays up (cancellable) until the exit beacon. Only the exit
        # (a lane without an entry event): count the cancel window down from now.
        self._checkout = co = _Checkout(stage=CheckoutStage.SUMMARY, since=lane.t, lane=lane.lane,
                                        deadline=lane.t + self.settings.summary_s if passed else None,
                                        exit_passed=passed)
        self._set_state(lane.t, SessionState.CHECKOUT,
                        {"stage": CheckoutStage.SUMMARY, "since": lane.t, "lane": lane.lane, "exit_passed": passed})
        self._note(lane.t, "checkout", stage=CheckoutStage.SUMMARY, lane=lane.lane)
        if self._checkout_on_hold():
            self._block(lane.t, co)

    def _checkout_on_hold(self) -> bool:
        """Checkout waits for the open questions, and for staff after changes that could not be
        saved: the basket on disk lacks what changed meanwhile, so charging it would be a guess."""
        return bool(self.basket.questions) or self.unsaved_weight_changes > 0

    def _block(self, t: float, co: _Checkout) -> None:
        co.stage, co.deadline = CheckoutStage.BLOCKED, None
        if self.basket.questions:
            co.reason, co.reason_key = "answer the question on the screen first", "checkout.answer_first"
        else:
            co.reason, co.reason_key = "changes could not be saved: staff must check the basket", "checkout.unsaved"
        self._note(t, "checkout", stage=CheckoutStage.BLOCKED, open_questions=len(self.basket.questions),
                   unsaved_weight_changes=self.unsaved_weight_changes)

    def _new_window(self, co: _Checkout, t: float) -> None:
        """A whole cancel window from ``t`` (the basket changed, a question was answered, a
        restart): counted down at once past the exit; at the entry the summary waits for the
        exit, which counts the rest of it (no charge before the cart leaves the lane)."""
        co.window_from = t
        co.deadline = t + self.settings.summary_s if co.exit_passed else None

    def _settling(self, t: float) -> bool:
        """A change is still to be decided, or the load is moving: something is going in or out
        now. (A scale that never settles, overloaded or gone while moving, stops counting after
        SETTLING_WAIT_S on the event clock, so that replay agrees.)"""
        return self._pending is not None or (not self.weight_stable and t - self._moving_since < SETTLING_WAIT_S)

    def _place_order(self, t: float, co: _Checkout) -> None:
        if self._checkout_on_hold():
            self._block(t, co)
            return
        if self._settling(t):
            # An item going in as the order goes would be decided after it, outside the order
            # (and ignored: an order cannot change). Look again shortly: the change, once
            # decided, gives the new total a whole cancel window. (A retry after a failed
            # order has no clock running: the shopper taps again.)
            if co.stage == CheckoutStage.SUMMARY:
                co.deadline = t + ORDER_SETTLE_POLL_S
            else:
                self._tell("message.settling", "one moment: the basket is still settling")
            return
        co.deadline = None
        if not self.basket.items:
            co.stage, co.status = CheckoutStage.PAID, "empty"
            self._set_state(t, SessionState.DONE, {"stage": CheckoutStage.PAID, "since": co.since, "status": "empty"})
            self._note(t, "checkout", stage=CheckoutStage.PAID, status="empty")
            return
        if self.checkout_port is None:
            co.stage, co.status, co.reason = CheckoutStage.FAILED, "unavailable", "checkout is not available on this cart"
            co.reason_key = "checkout.unavailable"
            self._note(t, "checkout", stage=CheckoutStage.FAILED, reason=co.reason)
            return
        self._orders += 1
        co.paid_load_g = self._rest_g
        shown = self.snapshot()   # the lines and total as the shopper sees them, promotions priced
        try:
            placed = self.checkout_port.place_order(shown.lines, shopper_token=self.basket.session.shopper,
                                                    session_id=self.session_key, t=t, seq=self._orders)
        except ValueError as exc:
            co.stage, co.status, co.reason = CheckoutStage.FAILED, "invalid", str(exc)
            co.reason_key = "checkout.invalid"
            self._note(t, "checkout", stage=CheckoutStage.FAILED, reason=co.reason)
            return
        # The order's total is what the shopper saw, and stays what the paid screen shows until
        # the store answers: the basket priced again later (a promotion ended while the order
        # waited in the outbox) is not what was ordered. Journaled, as the answer's figures are,
        # so a restart on the paid screen shows the same.
        co.stage, co.order_id, co.ordered_cents = CheckoutStage.PAYING, placed.order_id, shown.total_cents
        self.basket.set_state(t, SessionState.CHECKOUT.value, self._paying_record(co))
        self._note(t, "checkout", stage=CheckoutStage.PAYING, order_id=co.order_id, total_cents=co.ordered_cents)

    def _on_ack(self, ack: OrderAcknowledged | OrderDelayed | OrderRejected) -> None:
        co = self._checkout
        if co is None or ack.order_id != co.order_id:
            return
        if isinstance(ack, OrderRejected):
            if self.state is SessionState.CHECKOUT:
                co.stage, co.status = CheckoutStage.FAILED, "rejected"
                co.reason = ack.reason or "the store refused the order"
                co.reason_key = "checkout.rejected"
                self._note(ack.t, "checkout", stage=CheckoutStage.FAILED, order_id=co.order_id, status="rejected")
            return
        # Delayed: the signed order is durable in the outbox and will be sent; the shopper may go.
        status = ack.status if isinstance(ack, OrderAcknowledged) else "queued"
        co.status = status
        if isinstance(ack, OrderAcknowledged) and ack.receipt_to:
            co.receipt_to = ack.receipt_to
        if isinstance(ack, OrderAcknowledged) and ack.status == "accepted":
            co.charged_cents = ack.total_cents   # the store's prices: what the shopper paid
            co.ordered_cents, co.priced_late_s = ack.ordered_cents or co.ordered_cents, ack.priced_late_s
        done = self._paid_record(co, status)
        if self.state is SessionState.CHECKOUT:
            co.stage = CheckoutStage.PAID
            self._set_state(ack.t, SessionState.DONE, done)
        elif self.state is SessionState.DONE and done != self.basket.session.checkout:
            # the store's answer to an order that waited (the shopper may still be at the paid
            # screen): journaled too, so a restart shows what was charged, not the basket's total.
            # Only what changes: offline, the sender says "delayed" at every try, for as long as
            # the cart stands on the paid screen, and each row is a synchronous write.
            self.basket.set_state(ack.t, SessionState.DONE.value, done)
        self._note(ack.t, "checkout", stage=CheckoutStage.PAID, order_id=co.order_id, status=status)

    @staticmethod
    def _paying_record(co: _Checkout) -> JournaledCheckout:
        """An order placed and not yet answered, as the journal keeps it."""
        paying: JournaledCheckout = {"stage": CheckoutStage.PAYING, "since": co.since, "lane": co.lane,
                                     "order_id": co.order_id}
        if co.ordered_cents is not None:
            paying["ordered_cents"] = co.ordered_cents
        return paying

    @staticmethod
    def _paid_record(co: _Checkout, status: str) -> JournaledCheckout:
        """A paid checkout as the journal keeps it, with the figures the paid screen shows."""
        done: JournaledCheckout = {"stage": CheckoutStage.PAID, "since": co.since, "order_id": co.order_id,
                                   "status": status, "priced_late_s": co.priced_late_s}
        if co.charged_cents is not None:
            done["charged_cents"] = co.charged_cents
        if co.ordered_cents is not None:
            done["ordered_cents"] = co.ordered_cents
        return done

    @property
    def session_key(self) -> str:
        """Unique per cart (the journal row that began the session) and the same after a restart."""
        basis = f"{self.settings.cart_id}\0{self.basket.session.seq}\0{self.basket.session.started_t}"
        return hashlib.sha256(basis.encode()).hexdigest()[:12]

    def checkout_result(self) -> dict[str, Any] | None:
        co = self._checkout
        if co is None:
            return None
        status = {"paid": co.status or "paid", "paying": "pending", "summary": "pending"}.get(co.stage, co.stage)
        if co.stage == CheckoutStage.FAILED:
            status = co.status or "failed"
        return {"t": round(co.t or co.since, 3), "status": status, "order_id": co.order_id or None}

    # -- the screen ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            self._snapshot = self._build_snapshot()
        return self._snapshot

    def _candidate(self, code: str, qty: int, score: float = 0.0) -> Candidate:
        kind = choice_kind(code)
        if kind != "product":
            # a removal question's answer that is no product (the screen words it)
            name = "your own things" if kind == "own" else "the item you were asked to take out"
            return Candidate(code=code, name=name, score=score, qty=qty, kind=kind)
        product = self.catalogue.get(code)
        # Sold by weight: the price per kg (the screen writes "/kg"); by unit: for the quantity;
        # with the promotions running now, as the basket will price it.
        price = 0
        if product is not None:
            try:
                price = price_basket([BasketItem(product.code, 1 if product.by_weight else qty,
                                                 1000.0 if product.by_weight else None)],
                                     self.catalogue, self.wall_t, self._promotions()).total_cents
            except PricingError:
                price = product.price_cents * (1 if product.by_weight else qty)
        return Candidate(code=code, name=product.name if product else code, score=score,
                         qty=qty, price_cents=price, image=product.image if product else None,
                         sold_by=product.sold_by if product else "unit")

    def _loose_products(self) -> tuple[NearbyProduct, ...]:
        """Every product the produce screen offers: sold by weight or under a PLU (not scanned)."""
        cached = self._loose
        if cached is None:
            cached = tuple(NearbyProduct(code=p.code, name=p.name, price_cents=p.price_cents, sold_by=p.sold_by,
                                         image=p.image)
                           for p in self.catalogue if p.by_weight or len(p.code) <= 5)
            self._loose = cached
        return cached

    @property
    def wall_t(self) -> float | None:
        """Unix time now, as the events tell it (a beacon sighting carries the wall clock it was
        heard at; the event clock runs on from there); None before any event said."""
        if self._wall is None:
            return None
        wall, at = self._wall
        return wall + (self.t - at)

    def _promotions(self) -> Any:
        return getattr(self.catalogue, "promotions_by_code", {})

    def _promotion(self, code: str, promotion_id: str) -> Promotion | None:
        return next((p for p in self._promotions().get(code, ()) if p.id == promotion_id), None)

    def _deal(self, code: str) -> Promotion | None:
        """The promotion on ``code`` running now ("2 for $5.00"), for the aisle's tiles."""
        at = self.wall_t
        return next((p for p in self._promotions().get(code, ()) if p.active(at)), None)

    def _priced(self, lines: tuple[BasketLine, ...]) -> tuple[tuple[BasketLine, ...], int, int]:
        """The lines priced by :func:`dashcart.core.pricing.price_basket` with the catalogue's
        promotions (what the store will charge): each line's savings, the total and the savings."""
        items = [BasketItem(line.code, line.qty, line.weight_g) for line in lines]
        try:
            priced = price_basket(items, self.catalogue, self.wall_t, self._promotions())
        except PricingError:
            # A line the catalogue cannot price (a product since removed): the journal's prices.
            return lines, self.basket.total_cents(), 0
        out = tuple(dataclasses.replace(line, price_cents=p.price_cents, savings_cents=p.savings_cents,
                                        unit_price_cents=p.unit_price_cents, deal=p.label if p.savings_cents else "",
                                        deal_terms=deal_terms(self._promotion(p.code, p.promotion))
                                        if p.savings_cents else ())
                    for line, p in zip(lines, priced.lines))
        return out, priced.total_cents, priced.savings_cents

    def _build_snapshot(self) -> Snapshot:
        lines: dict[str, BasketLine] = {}
        order: list[str] = []
        for item in self.basket.items:
            key = item.code if item.sold_by == "unit" else f"{item.code}#{item.id}"
            line = lines.get(key)
            if line is None:
                order.append(key)
                lines[key] = BasketLine(code=item.code, name=item.name, qty=item.qty, price_cents=item.price_cents,
                                        unit_price_cents=item.unit_price_cents, sold_by=item.sold_by,
                                        weight_g=item.weight_g, image=item.image)
            else:
                lines[key] = BasketLine(code=line.code, name=line.name, qty=line.qty + item.qty,
                                        price_cents=line.price_cents + item.price_cents,
                                        unit_price_cents=line.unit_price_cents, sold_by=line.sold_by,
                                        weight_g=(line.weight_g or 0.0) + (item.weight_g or 0.0), image=line.image)
        questions = tuple(Question(id=q.id, t=q.t, kind=q.kind, delta_g=q.delta_g,
                                   candidates=tuple(self._candidate(c["code"], c["qty"], c["score"])
                                                   for c in q.candidates))
                          for q in self.basket.questions)
        # The aisle's products with a deal running come first (a stable sort: catalogue order otherwise).
        in_zone = sorted(self.catalogue.in_zone(self.zone), key=lambda p: self._deal(p.code) is None) \
            if self.zone else []
        deals = {p.code: self._deal(p.code) for p in in_zone[:self.settings.nearby_count]}
        nearby = tuple(NearbyProduct(code=p.code, name=p.name, price_cents=p.price_cents, sold_by=p.sold_by,
                                     image=p.image, deal=getattr(deals[p.code], "label", ""),
                                     deal_terms=deal_terms(deals[p.code]))
                       for p in in_zone[:self.settings.nearby_count])
        co = self._checkout
        view = None
        if co is not None:
            left = max(0.0, co.deadline - self.t) if co.deadline is not None else 0.0
            view = CheckoutView(stage=co.stage, cancellable=co.stage in (CheckoutStage.SUMMARY, CheckoutStage.FAILED),
                                seconds_left=left, order_id=co.order_id, reason=co.reason, status=co.status,
                                countdown=co.stage == CheckoutStage.SUMMARY and co.deadline is not None,
                                payable=co.stage == CheckoutStage.SUMMARY and co.exit_passed,
                                reason_key=co.reason_key, receipt_to=co.receipt_to, charged_cents=co.charged_cents,
                                ordered_cents=co.ordered_cents, priced_late_s=co.priced_late_s)
        entry = None
        produce_weight = None
        if self.produce_entry:
            entry = self._candidate(self.produce_entry, max(1, self.produce_count))
            produce_weight = max(0.0, self.live_weight_g - self.produce_base_g)
        priced_lines, total, savings = self._priced(tuple(lines[k] for k in order))
        return Snapshot(t=self.t, state=self.state, shopper=self.basket.session.shopper,
                        lines=priced_lines, total_cents=total, savings_cents=savings, language=self.language,
                        last_change_code=self._last_change[0] if self._last_change else None,
                        last_change_t=self._last_change[1] if self._last_change else None,
                        questions=questions, zone=self.zone, nearby=nearby, live_weight_g=self.live_weight_g,
                        weight_stable=self.weight_stable, checkout=view, currency=self.settings.currency,
                        message=self.message, produce_entry=entry, produce=self._loose_products(),
                        produce_weight_g=produce_weight, practice=self.settings.practice,
                        message_key=self.message_key, message_values=self.message_values)
