"""From scale samples to settled weight changes, like a trade-scale indicator.

The engine is a pure state machine: it is fed timestamped samples (raw HX711 counts or
grams from a trade scale) and returns the settled changes they complete. Time comes only
from the samples, so a recorded ``scale.log`` replays the same way every time.

Pipeline per sample:
  1. saturation codes, and loads above the scale's capacity + 9 divisions, are dropped (a
     run of them is an overload, not a glitch);
  2. a short running median outvotes lone glitches (spikes, spurious 2^n-1 codes,
     sign-extension errors) before they can move anything;
  3. a stability window: the load is *stable* while the filtered weight stays inside the
     motion band for the whole window;
  4. the state machine compares each newly stable weight with the last settled one and
     reports the difference once, when it is at least ``min_change_g``.

While the cart is pushed the load cells shake by hundreds of grams: the window never
becomes stable, so nothing is reported until the shaking stops, and a change made during
the shaking is then reported once.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from dashcart.config import ScaleSection, WeighingSection
from dashcart.errors import Misconfigured
from dashcart.events import LoadReturned, WeightSettled
from dashcart.readings import Gap, Sample, ScaleZeroed

RAW_SATURATED = (-8388608, 8388607)
# The coarsest division a trade scale under a cart may have (60 kg x 20 g).
MAX_DIVISION_G = 20.0
# A trade scale's rest is the mean of at most this many of its stable readings (a second at 5/s).
TRADE_REST_READINGS = 5
# Two stable readings in a row at most this many of its divisions apart are its flicker, not a load change.
MAX_FLICKER_STEPS = 2
# The load moved at least this far from its rest and came back to it: something was lifted
# and put back, moved, or swapped for a thing of about its weight in one motion (a
# :class:`LoadReturned` for the cameras to look at). Lighter than the smallest unit product;
# a hand brushing the rim or a cart rolling on a smooth floor stays under it.
RETURN_MIN_EXCURSION_G = 30.0
# A trade scale (OIML R 76, MT-SICS indicators) blanks its display above Max + 9e and says
# overload: up to there a reading is the load over Max by a few divisions; beyond, the load
# cells are past their rated capacity, non-linear, maybe damaged, and their reading is no weight.
OVERLOAD_DIVISIONS = 9
DEFAULT_CAPACITY_G: float = ScaleSection().capacity_g


class ScaleState(enum.Enum):
    STARTING = "starting"   # no stable weight seen yet: the first one becomes the reference
    STABLE = "stable"       # at rest at the reference weight
    MOVING = "moving"       # something is moving: a hand, an item, the cart
    OVERLOAD = "overload"   # saturated, or above capacity + 9 d: no reading is a weight


@dataclass(frozen=True)
class SettledChange:
    """The load came to rest ``delta_g`` away from the last settled weight.

    ``t`` is when the rest was confirmed; ``started_t`` when the load began to move.
    """

    t: float
    delta_g: float
    total_g: float
    started_t: float

    def to_event(self) -> WeightSettled:
        return WeightSettled(t=self.t, delta_g=self.delta_g, total_g=self.total_g, started_t=self.started_t)


def events_of(engine: WeighingEngine, changes: Iterable[SettledChange]) -> list[WeightSettled | LoadReturned]:
    """The events a feed produced: its settled changes, and the returns to the same rest the
    engine saw meanwhile (:meth:`WeighingEngine.take_returns`), in time order."""
    events: list[WeightSettled | LoadReturned] = [change.to_event() for change in changes]
    events += engine.take_returns()
    return sorted(events, key=lambda e: e.t)


@dataclass
class EngineCounters:
    samples: int = 0
    saturated: int = 0
    over_capacity: int = 0      # readings above capacity + 9 d (dropped like saturation codes)
    gaps: int = 0
    overloads: int = 0


class _Window:
    """The filtered samples of the last ``span_s`` seconds with O(1) min, max and mean."""

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self._items: deque[tuple[float, float]] = deque()
        self._max: deque[tuple[float, float]] = deque()
        self._min: deque[tuple[float, float]] = deque()
        self._sum = 0.0

    def clear(self) -> None:
        self._items.clear()
        self._max.clear()
        self._min.clear()
        self._sum = 0.0

    def push(self, t: float, value: float) -> None:
        items = self._items
        items.append((t, value))
        self._sum += value
        mx, mn = self._max, self._min
        while mx and mx[-1][1] <= value:
            mx.pop()
        mx.append((t, value))
        while mn and mn[-1][1] >= value:
            mn.pop()
        mn.append((t, value))
        horizon = t - self.span_s
        while items[0][0] < horizon:
            old_t, old_v = items.popleft()
            self._sum -= old_v
            if mx[0][0] <= old_t:
                mx.popleft()
            if mn[0][0] <= old_t:
                mn.popleft()

    def full(self) -> bool:
        # "covers the window" with a little slack for the sample period at any rate
        return len(self._items) >= 2 and self._items[-1][0] - self._items[0][0] >= 0.8 * self.span_s

    def spread(self) -> float:
        return self._max[0][1] - self._min[0][1]

    def mean(self) -> float:
        return self._sum / len(self._items)


class WeighingEngine:
    """A trade-scale indicator's logic. Feed it samples in time order; it returns settled changes.

    ``offset`` and ``counts_per_gram`` convert raw HX711 counts to grams (``feed_raw``);
    a trade scale's grams go in through ``feed_grams``. ``capacity_g`` is the load cells'
    rated capacity (``scale.capacity_g``): a reading above it by more than 9 divisions
    (``settings.division_g``) counts as a saturation code does.
    """

    def __init__(self, offset: int = 0, counts_per_gram: float = 420.0,
                 settings: WeighingSection | None = None, capacity_g: float = DEFAULT_CAPACITY_G) -> None:
        if counts_per_gram == 0:
            raise Misconfigured("scale.counts_per_gram: must not be zero")
        if not capacity_g > 0:   # also NaN
            raise Misconfigured(f"scale.capacity_g: must be above 0, got {capacity_g}")
        self.settings = settings or WeighingSection()
        if self.settings.median_samples % 2 == 0:
            raise Misconfigured(f"weighing.median_samples: must be odd, got {self.settings.median_samples}")
        self.offset = offset
        self.counts_per_gram = counts_per_gram
        self.capacity_g = capacity_g
        # Gross grams (from the calibrated offset, before zero and tare: what the cells carry)
        # above which a reading is an overload.
        self.overload_g = capacity_g + OVERLOAD_DIVISIONS * self.settings.division_g
        self.state = ScaleState.STARTING
        self.counters = EngineCounters()
        self._median: deque[float] = deque(maxlen=self.settings.median_samples)
        self._window = _Window(self.settings.stable_window_s)
        self._last_t: float | None = None
        self._zero_g = 0.0          # gross grams that read as zero (zero setting + zero tracking)
        self._tare_g = 0.0
        self._reference_g: float | None = None   # gross grams of the last settled load
        self._expected_net_g: float | None = None  # see expect()
        self._moving_since = 0.0
        self._excursion_g = 0.0     # how far the load has been from its reference since it began to move
        self._returns: list[LoadReturned] = []
        self._saturated_run = 0
        self._heavy_run = False     # a reading of the current run at the limit was above capacity + 9 d
        self._live_gross = 0.0
        self._rate_g_per_s = self.settings.track_rate_d_per_s * self.settings.division_g
        # A trade scale (readings with its own stable flag) is read a few times a second:
        # the gap that restarts the window follows its pace, and its own division (the
        # smallest step its readings make) sets the least change worth reporting.
        self._interval_s: float | None = None
        self._step_g: float | None = None
        self._last_grams: float | None = None
        self._last_stable = False
        # A trade scale whose stability range is wider than a division (2 or 5 d on a cart
        # that is never quite still) says "stable" while its display flickers by a division
        # or two: the largest step between two stable readings in a row is that flicker, the
        # rest is the mean of its stable readings since it last moved, and no change smaller
        # than half again the flicker is an item.
        self._jitter_g = 0.0
        self._rest: deque[float] = deque(maxlen=TRADE_REST_READINGS)

    # ------------------------------------------------------------ what the screen shows
    @property
    def live_g(self) -> float:
        """The current net weight (filtered, possibly still moving)."""
        return self._live_gross - self._zero_g - self._tare_g

    @property
    def stable(self) -> bool:
        return self.state is ScaleState.STABLE

    @property
    def too_heavy(self) -> bool:
        """In ``OVERLOAD`` with a reading above capacity + 9 d since the last one in range: the
        load is too heavy, and taking something out ends it. False for an overload of readings at
        the converter's limit alone (saturation codes, ``S +`` / ``S -``: a loose load-cell wire,
        a failing bridge), which the shopper cannot fix."""
        return self.state is ScaleState.OVERLOAD and self._heavy_run

    @property
    def zero_g(self) -> float:
        """The gross grams that read as zero: zero setting and tracking since start (the drift)."""
        return self._zero_g

    @property
    def total_g(self) -> float | None:
        """The last settled net weight (None before the first stable reading)."""
        if self._reference_g is None:
            return None
        return self._reference_g - self._zero_g - self._tare_g

    # ------------------------------------------------------------ operator actions
    def tare(self) -> bool:
        """Make the current stable load read zero net. Refused (False) while moving."""
        if self.state is not ScaleState.STABLE:
            return False
        self._tare_g = self._window.mean() - self._zero_g
        return True

    def restore_zero(self, zero_g: float) -> None:
        """Start from a zero set (by staff, or tracked) before a restart, in gross grams from the
        calibrated offset: without it a drifted cell reads its drift as load after every restart."""
        if self.state is ScaleState.STARTING:
            self._zero_g = zero_g

    def zero(self) -> bool:
        """Set zero to the current stable gross load and clear the tare. Refused while moving."""
        if self.state is not ScaleState.STABLE:
            return False
        self._zero_g = self._window.mean()
        self._tare_g = 0.0
        return True

    # ------------------------------------------------------------ samples
    def gross_g(self, raw: int) -> float:
        """An HX711 reading (not a saturation code) in gross grams: from the calibrated offset,
        before zero and tare, what the cells carry."""
        return (raw - self.offset) / self.counts_per_gram

    def feed_raw(self, t: float, raw: int) -> list[SettledChange]:
        """One HX711 reading at ``t`` seconds."""
        if raw in RAW_SATURATED:
            return self._saturated(t)
        return self._feed(t, self.gross_g(raw), None)

    def feed_grams(self, t: float, grams: float, stable: bool | None = None) -> list[SettledChange]:
        """One weight in grams at ``t`` (a trade scale); ``stable=False`` when the scale says dynamic."""
        return self._feed(t, grams, stable)

    def feed_overload(self, t: float) -> list[SettledChange]:
        """The scale reports overload or underload (MT-SICS ``S +`` / ``S -``)."""
        return self._saturated(t)

    def gap(self, t: float) -> None:
        """Readings were lost (a sequence gap, silence, a reconnect): restart the window."""
        self._restart_window(t)

    def expect(self, net_g: float | None) -> None:
        """Before the first rest: the net load the basket's journal says the scale held when the
        cart stopped. A first rest that differs from it by a change worth reporting is reported
        as one (something put in or taken out while the cart was down or restarting), not
        taken silently as the reference; None: take the first rest as it is."""
        if self.state is ScaleState.STARTING:
            self._expected_net_g = net_g

    def rebase(self, t: float) -> None:
        """The scale itself was zeroed or tared (MT-SICS ``Z A`` / ``T S``): its readings jump
        by what it took off, which is no item. The next rest becomes the reference, silently."""
        self._expected_net_g = None
        self._restart_window(t)
        self._last_grams = None
        self.state = ScaleState.STARTING
        self._reference_g = None

    def _max_gap_s(self) -> float:
        if self._interval_s is None:
            return self.settings.max_gap_s
        # three missed readings of a slow scale, but never more than a second and a half
        return max(self.settings.max_gap_s, min(3.0 * self._interval_s, 1.5))

    def _restart_window(self, t: float) -> None:
        self.counters.gaps += 1
        self._median.clear()
        self._window.clear()
        self._rest.clear()
        if self.state is ScaleState.STABLE:
            # the load may have changed while we were blind; the next rest tells
            self.state = ScaleState.MOVING
            self._moving_since = self._last_t if self._last_t is not None else t

    def _saturated(self, t: float) -> list[SettledChange]:
        self.counters.saturated += 1
        return self._at_limit(t)

    def _at_limit(self, t: float) -> list[SettledChange]:
        """A reading at the scale's limit (a saturation code, ``S +``/``S -``, a load above
        capacity + 9 d): dropped; ``overload_samples`` in a row are an overload, whose readings
        settle nothing until the load is back in range."""
        self._saturated_run += 1
        if self._saturated_run >= self.settings.overload_samples and self.state is not ScaleState.OVERLOAD:
            self.counters.overloads += 1
            if self.state is not ScaleState.MOVING:
                self._moving_since = t
            self.state = ScaleState.OVERLOAD
            self._median.clear()
            self._window.clear()
        self._last_t = t
        return []

    def _feed(self, t: float, grams: float, scale_stable: bool | None) -> list[SettledChange]:
        if grams > self.overload_g:
            # An HX711 does not saturate at the cells' rated capacity: past it the readings go
            # on, non-linear, and would settle into changes billed from a weight nobody can trust.
            self.counters.over_capacity += 1
            self._heavy_run = True
            return self._at_limit(t)
        self.counters.samples += 1
        self._saturated_run = 0
        self._heavy_run = False
        dt = 0.0 if self._last_t is None else t - self._last_t
        if scale_stable is not None and 0.0 < dt < 2.0:
            self._interval_s = dt if self._interval_s is None else 0.8 * self._interval_s + 0.2 * dt
        if dt > self._max_gap_s():
            self._restart_window(t)
            self._last_grams = None
            dt = 0.0
        self._last_t = t
        if self.state is ScaleState.OVERLOAD:
            # back in range; with no settled weight yet (overloaded since start) start afresh
            self.state = ScaleState.MOVING if self._reference_g is not None else ScaleState.STARTING
        if scale_stable is not None:
            return self._feed_trade(t, max(dt, 0.0), grams, scale_stable)
        median = self._median
        median.append(grams)
        if len(median) < median.maxlen:  # type: ignore[operator]
            return []
        filtered = sorted(median)[len(median) // 2]
        self._live_gross = filtered
        window = self._window
        window.push(t, filtered)
        at_rest = window.full() and window.spread() <= self.settings.motion_band_g
        return self._step(t, max(dt, 0.0), at_rest, window.mean() if at_rest else filtered)

    def _feed_trade(self, t: float, dt: float, grams: float, scale_stable: bool) -> list[SettledChange]:
        """A trade scale filters and detects motion itself, a few readings a second: its own
        stable flag is trusted (a "stable" reading that jumped from the last one by more than
        the motion band, a step of the scale or its flicker, waits for the next)."""
        previous, self._last_grams = self._last_grams, grams
        was_stable, self._last_stable = self._last_stable, scale_stable
        if previous is not None and previous != grams:
            step = abs(grams - previous)
            # a step bigger than any cart scale's division is a load change, not a division
            if 0.001 <= step <= MAX_DIVISION_G and (self._step_g is None or step < self._step_g):
                self._step_g = step
            if (scale_stable and was_stable and self._step_g is not None
                    and step <= MAX_FLICKER_STEPS * self._step_g + 0.001):
                self._jitter_g = max(self._jitter_g, step)
        self._live_gross = grams
        self._window.push(t, grams)   # for tare() and zero(), which take the window's mean
        band = max(self.settings.motion_band_g, 1.5 * (self._step_g or 0.0), self._jitter_g)
        jumped = previous is None or abs(grams - previous) > band
        rest = self._rest
        if jumped or not scale_stable:
            rest.clear()
        if scale_stable:
            rest.append(grams)
        at_rest = scale_stable and not jumped
        return self._step(t, dt, at_rest, sum(rest) / len(rest) if at_rest else grams)

    def take_returns(self) -> list[LoadReturned]:
        """The times the load came back to its rest since the last call, after moving at least
        ``RETURN_MIN_EXCURSION_G`` away from it (no change to report, but something may have been
        moved or swapped: the cameras look)."""
        returns, self._returns = self._returns, []
        return returns

    def _step(self, t: float, dt: float, at_rest: bool, rest_g: float) -> list[SettledChange]:
        state = self.state
        if not at_rest:
            if state is ScaleState.STABLE:
                self.state = ScaleState.MOVING
                self._moving_since = t
                self._excursion_g = 0.0
            if self._reference_g is not None:
                self._excursion_g = max(self._excursion_g, abs(rest_g - self._reference_g))
            return []
        mean = rest_g
        # a trade scale's own division or its flicker: a reading flickering by that is no item
        least = max(self.settings.min_change_g, 1.5 * max(self._step_g or 0.0, self._jitter_g))
        if state is ScaleState.STARTING:
            expected, self._expected_net_g = self._expected_net_g, None
            if expected is None or abs(mean - self._zero_g - self._tare_g - expected) < least:
                self._reference_g = mean
                self.state = ScaleState.STABLE
                return []
            self._reference_g = expected + self._zero_g + self._tare_g   # the change is from there
        assert self._reference_g is not None
        delta = mean - self._reference_g
        changes: list[SettledChange] = []
        if abs(delta) >= least:
            started = self._moving_since if state is ScaleState.MOVING else t - self.settings.stable_window_s
            self._reference_g = mean
            changes.append(SettledChange(t, delta, mean - self._zero_g - self._tare_g, started))
        else:
            if state is ScaleState.MOVING and self._excursion_g >= RETURN_MIN_EXCURSION_G:
                self._returns.append(LoadReturned(t, total_g=mean - self._zero_g - self._tare_g,
                                                  started_t=self._moving_since))
            self._track(dt, mean)
        self._excursion_g = 0.0
        self.state = ScaleState.STABLE
        return changes

    def _track(self, dt: float, mean: float) -> None:
        """Follow slow drift at no more than the allowed rate.

        Zero tracking (OIML R76) acts only at zero; the reference for the next delta follows
        at any load, so hours of creep never add up to a phantom item.
        """
        assert self._reference_g is not None
        step = self._rate_g_per_s * dt
        if step <= 0.0:
            return
        self._reference_g += max(-step, min(step, mean - self._reference_g))
        net = mean - self._zero_g - self._tare_g
        if abs(net) <= self.settings.zero_track_band_d * self.settings.division_g:
            self._zero_g += max(-step, min(step, mean - self._zero_g - self._tare_g))


def feed_decoded(engine: WeighingEngine, items: Iterable[Sample | Gap | ScaleZeroed]) -> list[SettledChange]:
    """Feed what :class:`dashcart.drivers.scale.decoder.LineDecoder` produced into ``engine``."""
    changes: list[SettledChange] = []
    for item in items:
        if isinstance(item, Gap):
            # A few lost readings change nothing (the time between samples shows a long
            # silence anyway); a reboot or reconnect (unknown loss) restarts the window.
            if item.lost < 0:
                engine.gap(item.t)
        elif isinstance(item, ScaleZeroed):
            engine.rebase(item.t)
        elif item.saturated:
            changes += engine.feed_overload(item.t)
        elif item.raw is not None:
            changes += engine.feed_raw(item.t, item.raw)
        elif item.grams is not None:
            changes += engine.feed_grams(item.t, item.grams, item.stable)
    return changes
