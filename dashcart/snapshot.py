"""What the controller publishes for the screen: an immutable picture of the session.

The UI draws only from a :class:`Snapshot` and sends shopper actions back as events
(:class:`dashcart.events.ShopperAction`). Add fields with defaults only; never rename.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class SessionState(enum.Enum):
    IDLE = "idle"          # no shopper signed in: the welcome screen
    SHOPPING = "shopping"
    CHECKOUT = "checkout"  # in the lane: summary, paying, receipt
    DONE = "done"          # paid; waiting for the cart to be emptied and returned


class CheckoutStage(enum.StrEnum):
    """Where the checkout is. A ``StrEnum``: the journal, the controller's log and ``--json``
    carry the value ("summary"), the same text as before it had a type."""

    LANE = "lane"          # the screen's own: in the checkout state with no checkout yet
    SUMMARY = "summary"    # the basket shown, cancellable (counting down once the lane is passed)
    BLOCKED = "blocked"    # open questions must be answered first
    PAYING = "paying"      # the order is in the outbox, the store's answer awaited
    PAID = "paid"
    FAILED = "failed"      # the store refused it or it could not be placed: staff help


class QuestionKind(enum.StrEnum):
    """What a question asks (a ``StrEnum``, journaled and logged as its value)."""

    ADDED = "added"                    # something went in: which of these? (the cameras suggest)
    UNIDENTIFIED = "unidentified"      # something went in that nothing named: scan or pick it
    REMOVED = "removed"                # something came out: which?
    REMOVE_UNKNOWN = "remove_unknown"  # nobody will name what went in: take it out


@dataclass(frozen=True)
class BasketLine:
    code: str
    name: str
    qty: int
    price_cents: int                 # the line's price
    unit_price_cents: int            # per unit, or per kg when sold by weight
    sold_by: str = "unit"            # unit | weight
    weight_g: float | None = None    # what was weighed, for items sold by weight
    savings_cents: int = 0
    image: str | None = None         # path to a product picture, if the catalogue has one
    deal: str = ""                   # the promotion that gave the savings, as the store labels it ("2 for $5.00")
    deal_terms: tuple[str, int, int] | tuple[()] = ()   # its (kind, value, qty): the screen words it per language


#: A removal question's answer that is no product: what came out was the shopper's own (the
#: bags in the basket at the sign-in, never billed). Catalogue codes are digits, so never one.
OWN_THINGS = "own"
_UNNAMED = "unnamed:"


def unnamed_choice(question_id: int) -> str:
    """A removal question's answer naming the item that open question ``question_id`` asks the
    shopper to take out ("take it out": nobody named it, so it has no product to show)."""
    return f"{_UNNAMED}{question_id}"


def choice_kind(code: str) -> str:
    """What a candidate's code stands for: ``own`` (:data:`OWN_THINGS`), ``unnamed``
    (:func:`unnamed_choice`) or ``product`` (a catalogue code)."""
    if code == OWN_THINGS:
        return "own"
    return "unnamed" if code.startswith(_UNNAMED) else "product"


@dataclass(frozen=True)
class Candidate:
    code: str
    name: str
    score: float = 0.0
    qty: int = 1
    price_cents: int = 0             # for ``qty`` (promotions applied), or per kg when sold by weight
    image: str | None = None
    sold_by: str = "unit"            # unit | weight
    kind: str = "product"            # product | own | unnamed: see choice_kind (the screen words the last two)


@dataclass(frozen=True)
class Question:
    """Something the cart will not guess: the shopper must answer before checkout."""

    id: int
    t: float
    kind: QuestionKind
    delta_g: float
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class NearbyProduct:
    code: str
    name: str
    price_cents: int
    sold_by: str = "unit"
    image: str | None = None
    deal: str = ""                   # the promotion running now, as the store labels it
    deal_terms: tuple[str, int, int] | tuple[()] = ()   # its (kind, value, qty), as on BasketLine


@dataclass(frozen=True)
class CheckoutView:
    stage: CheckoutStage
    cancellable: bool = False
    seconds_left: float = 0.0
    order_id: str = ""
    receipt_to: str = ""             # masked address, e.g. "k***@example.com"
    reason: str = ""                 # why checkout is blocked or failed, in the shopper's words
    # How it ended: accepted (the store charged the card) | queued (the signed order waits in the
    # outbox: charged once the store answers) | local (no store: nothing was charged) | empty.
    status: str = ""
    countdown: bool = False          # seconds_left is running (False: the cart is still in the lane)
    payable: bool = False            # past the lane's exit: "Pay now" places the order at once
    reason_key: str = ""             # ``reason`` as a message id the screen translates
    # What the store charged (it prices the order itself), once accepted; None: not known yet.
    charged_cents: int | None = None
    # The total on the order the cart sent (what the shopper saw at checkout), once it is
    # placed; None: no order yet (the screen shows the basket's total then).
    ordered_cents: int | None = None
    # The store priced the order this long after the checkout, at its prices then (the order
    # arrived late, the cart offline); 0: at the checkout's prices.
    priced_late_s: float = 0.0


class DeviceFault(enum.StrEnum):
    """Why a device that talks cannot do its job, where the screen says something other than
    "not working" for it (``DeviceView.fault``). A ``StrEnum``: the empty value is no such fault."""

    NONE = ""
    # The scale is overloaded by a load above scale.capacity_g + 9 divisions: the shopper takes
    # the heaviest item out (or stops leaning on the cart), and weighing resumes.
    TOO_HEAVY = "too_heavy"
    # The scale is overloaded with readings at the converter's limit (HX711 saturation codes,
    # MT-SICS S + / S -): a loose load-cell wire or a failing bridge, for staff.
    SATURATED = "saturated"


@dataclass(frozen=True)
class DeviceView:
    device: str                      # scale | camera:<id> | bluetooth | network
    state: str                       # ok | degraded | down
    message: str = ""                # for staff and the log, in English
    fault: DeviceFault = DeviceFault.NONE


@dataclass(frozen=True)
class Snapshot:
    t: float = 0.0
    state: SessionState = SessionState.IDLE
    shopper: str = ""                # signed-in token (never shown in full)
    lines: tuple[BasketLine, ...] = ()
    total_cents: int = 0
    savings_cents: int = 0
    last_change_code: str | None = None
    last_change_t: float | None = None
    questions: tuple[Question, ...] = ()
    zone: str = ""
    nearby: tuple[NearbyProduct, ...] = ()
    live_weight_g: float = 0.0
    weight_stable: bool = True
    checkout: CheckoutView | None = None
    devices: tuple[DeviceView, ...] = ()
    currency: str = "USD"
    language: str = "en"
    message: str = ""                # a transient line for the shopper
    produce_entry: Candidate | None = None  # the produce being weighed, if the shopper started one
    extra: dict[str, str] = field(default_factory=dict, compare=False)
    # Every loose item the shopper may pick by name or PLU on the produce screen (the
    # catalogue's PLU / sold-by-weight products); `nearby` is only the current zone's.
    produce: tuple[NearbyProduct, ...] = ()
    # While a produce entry is open: the weight put in since it began (live), for its price.
    produce_weight_g: float | None = None
    # No store is configured: a practice cart that never charges anyone (said from the first screen).
    practice: bool = False
    # ``message`` as a message id and its values, for the screen to say in the shopper's language.
    message_key: str = ""
    message_values: tuple[tuple[str, str], ...] = ()
