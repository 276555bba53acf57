"""The timestamped events that drivers and the UI put on the controller's queue.

``t`` is seconds on the event clock (the trip's clock in a replay, the monotonic clock
live). The controller and everything it calls take time only from these, so a recorded
trip replays the same way every time. Events are immutable; add fields with defaults only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dashcart.snapshot import DeviceFault


@dataclass(frozen=True)
class Event:
    t: float


@dataclass(frozen=True)
class WeightSettled(Event):
    """The load came to rest at a new weight: a settled change of ``delta_g``."""

    delta_g: float
    total_g: float
    started_t: float = 0.0  # when the load began to move; evidence is gathered from here


@dataclass(frozen=True)
class LoadReturned(Event):
    """The load moved well away from its rest and came back to it, with no change to report:
    something was lifted and put back, moved in the basket, or swapped for a thing of about its
    weight in one motion. The cameras look at what changed (a swap leaves the bill wrong)."""

    total_g: float
    started_t: float = 0.0  # when the load began to move


@dataclass(frozen=True)
class WeightLive(Event):
    """The current (possibly unsettled) load, for the screen; ``stable`` as the indicator says."""

    grams: float
    stable: bool


@dataclass(frozen=True)
class BarcodeSeen(Event):
    """A code agreed across frames on one camera. ``gtin13`` is always 13 digits."""

    camera: str
    gtin13: str
    format: str


@dataclass(frozen=True)
class MotionChanged(Event):
    """Hands in (``active``) or out of the basket, from a camera's motion gate."""

    camera: str
    active: bool


@dataclass(frozen=True)
class ItemRecognized(Event):
    """The recognizer's candidates for what changed in the basket, best first.

    ``direction`` is "added" (seen in the after frame) or "removed" (seen in the before frame).
    """

    camera: str
    direction: str
    candidates: tuple[tuple[str, float], ...]
    box: tuple[int, int, int, int] | None = None   # where in the camera's frame it changed (x0, y0, x1, y1)
    look: str | None = None                        # the crop's embedding, compact (dashcart.core.appearance)
    # A removal's candidates that are still as clearly where it was in the after frame: not what
    # left (so not in ``candidates``), but what the recognizer's scores are shared among.
    still_there: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class BeaconSighting(Event):
    """One BLE advertisement from a beacon; ``kind`` ibeacon | eddystone-uid | eddystone-eid."""

    kind: str
    id: str
    rssi: float
    # Seconds since the Unix epoch when the advertisement was heard: the lane beacon's rotating
    # identifier is derived from it. Live: the scanner's wall clock; replay: trip epoch + t.
    wall_t: float | None = None
    # How far wall_t may be off, as the cart can prove it (the kernel's NTP error bound; inf:
    # not synchronised). None: nothing to prove (a replay): the configured window alone.
    wall_error_s: float | None = None


#: What ``ShopperAction("staff", <override>)`` may say (the staff menu's buttons, in its order).
STAFF_OVERRIDES = ("clear_questions", "unblock", "void_last", "tare", "end_session")


@dataclass(frozen=True)
class ShopperAction(Event):
    """What the shopper did on the screen (or with the app's QR code).

    ``action`` is one of signin | choose | plu | cancel | confirm | remove | not_in_cart |
    produce | staff | language | signout | call_staff; ``value`` its argument (a token, a code, a PIN).

    What the touchscreen sends (``dashcart/ui/``; ``question_id`` set when it answers a question):
      choose <code> (qid)          this candidate is what went in / came out
      not_in_cart "" (qid)         the weight change is not a cart item
      plu <code> (qid)             answer by PLU; without qid: start weighing that PLU
      produce <code>               start weighing this loose item (picked by picture or name)
      confirm <code> | "checkout"  add the weighed produce entry | pay now
      cancel <code> | "checkout"   drop the produce entry or the pending removal | stop checkout
      remove <code>                the shopper will take this line's item out (the scale confirms)
      language en|ko               the shopper switched language
      call_staff <where>           help / question:<id> / checkout / trouble: staff are wanted
      staff <override>             after a correct staff PIN (checked and audited by the UI):
                                   clear_questions | unblock | void_last | tare | end_session
      signout ""                   the shopper ends the session
    """

    action: str
    value: str = ""
    question_id: int | None = None
    qty: int = 0          # choose: how many, when the shopper said so on the screen (0: from the weight)


@dataclass(frozen=True)
class DeviceStatus(Event):
    """A device's health changed. ``state``: ok | degraded | down; ``message`` says what to do;
    ``fault``: why, where the screen words it for the shopper (a scale overloaded by too heavy a load)."""

    device: str
    state: str
    message: str = ""
    counters: dict[str, int] = field(default_factory=dict, compare=False)
    fault: DeviceFault = DeviceFault.NONE


@dataclass(frozen=True)
class Tick(Event):
    """Time passes with nothing else happening (timeouts, dwell times, zero tracking)."""


@dataclass(frozen=True)
class ZoneChanged(Event):
    """The cart moved into ``zone`` (a catalogue zone; "" when no zone beacon is near)."""

    zone: str
    previous: str = ""


@dataclass(frozen=True)
class LaneEntered(Event):
    """The cart passed the lane's entry beacon: show "checking out" with a cancel button now, so the
    shopper's cancel window has run by the time the exit beacon confirms. LaneDetected or
    LaneLeft follows."""

    lane: str


@dataclass(frozen=True)
class LaneLeft(Event):
    """After LaneEntered, the cart did not go through (too slow, or turned back the wrong way):
    close the "checking out" window."""

    lane: str


@dataclass(frozen=True)
class LaneDetected(Event):
    """The cart went through the checkout lane: entry beacon, then exit beacon, close enough, long enough."""

    lane: str


@dataclass(frozen=True)
class OrderAcknowledged(Event):
    """The order is settled: ``status`` accepted (the store took it) | local (no store; a
    receipt file was written). ``receipt_to`` is masked ("k***@example.com"); ``receipt_path``
    the local receipt, if one was written. ``total_cents`` is what was charged (the store's
    prices), ``ordered_cents`` the total on the order the cart sent (what the shopper saw at
    checkout; 0: not told), and ``priced_late_s`` how long after the checkout the store priced
    an order it repriced (it arrived late, the cart offline: the store charges arrival prices);
    0 when it charged the checkout's prices or its answer does not say when it priced."""

    order_id: str
    status: str
    receipt_to: str = ""
    receipt_path: str = ""
    total_cents: int = 0
    message: str = ""
    ordered_cents: int = 0
    priced_late_s: float = 0.0


@dataclass(frozen=True)
class OrderDelayed(Event):
    """The store could not be reached or answered badly; the order waits in the outbox and
    will be retried. ``reason`` is one line for the screen and the log."""

    order_id: str
    attempts: int
    reason: str = ""


@dataclass(frozen=True)
class OrderRejected(Event):
    """The store refused the order for good (bad signature, unknown shopper, conflicting
    duplicate): staff must help. Nothing was charged."""

    order_id: str
    reason: str = ""
