"""What the simulated HX711 bridge weighs and sends: load scripts and their exact wire lines.

A :class:`LoadScript` is a timeline of what happens to the basket (items placed with a hand
press and ringing, items lifted, the cart pushed, slow drift) and of faults on the serial
line. :func:`render_scale_log` turns it, deterministically for a seed and without real
time, into the ``(t, line)`` pairs a bridge would send: exactly what ``scale.log`` of a
``dashcart-trip/1`` recording holds. The live simulator on a pseudo-terminal
(:mod:`dashcart.sim.scale_bridge`) sends the same lines in real time.

The physics, in grams, all additive:

- ``Place(t, grams)``: a hand lowers the item over ``press_s`` and presses on it a little
  (the reading overshoots by ``press_g``), lets go, and the load cells ring (a damped sine
  of ``ring_g`` at ``ring_hz`` decaying with ``ring_decay_s``).
- ``Lift(t, grams)``: the same in reverse: a tug, the load leaves, ringing.
- ``Push(t0, t1, amplitude_g)``: the cart rolls; the cells shake by about ``amplitude_g``
  (two resonances plus rumble), dying out after ``t1``.
- ``Drift(t0, t1, g_per_s)``: slow creep or temperature drift.
- ``Fault(t, kind, ...)``: something wrong on the wire (see :data:`FAULT_KINDS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dashcart.drivers.scale.protocol import RAW_MAX, RAW_MIN, SEQ_MODULUS, crc8

RATE_HZ = 80
BANNER = "# hx711-bridge/1 rate=80"
# A load is "truly at rest" once its ringing or shaking is below this (grams, amplitude).
REST_AMPLITUDE_G = 0.5

FAULT_KINDS = (
    "garbage",      # a line of junk bytes
    "bad_crc",      # a reading whose CRC does not match
    "drop",         # `count` readings lost: a sequence gap
    "truncated",    # a reading cut off and glued to the next one
    "silence",      # the bridge stalls for `duration_s` (sequence continues afterwards)
    "disconnect",   # the cable is pulled for `duration_s`; the bridge reboots (banner, seq 0)
    "saturation",   # `count` readings at the saturation code
    "sign_glitch",  # one reading with a missing sign extension / spurious 2^n-1 code
    "spike",        # one reading off by hundreds of grams
    "bridge_error", # an `E` line from the bridge
)


@dataclass(frozen=True)
class Place:
    t: float
    grams: float
    press_s: float = 0.3
    press_g: float | None = None     # default: 25 % of the item, at most 300 g
    ring_g: float | None = None      # default: 12 % of the item + 3 g, at most 150 g
    ring_hz: float = 7.0
    ring_decay_s: float = 0.11

    @property
    def sign(self) -> float:
        return 1.0

    def overshoot_g(self) -> float:
        return self.press_g if self.press_g is not None else min(0.25 * self.grams, 300.0)

    def ringing_g(self) -> float:
        return self.ring_g if self.ring_g is not None else min(0.12 * self.grams + 3.0, 150.0)

    def rest_t(self) -> float:
        ring = self.ringing_g()
        settle = self.ring_decay_s * math.log(ring / REST_AMPLITUDE_G) if ring > REST_AMPLITUDE_G else 0.0
        return self.t + self.press_s + settle


@dataclass(frozen=True)
class Lift(Place):
    press_s: float = 0.25

    @property
    def sign(self) -> float:
        return -1.0


@dataclass(frozen=True)
class Push:
    t0: float
    t1: float
    amplitude_g: float = 300.0
    decay_s: float = 0.1

    def rest_t(self) -> float:
        return self.t1 + self.decay_s * math.log(max(self.amplitude_g, REST_AMPLITUDE_G) / REST_AMPLITUDE_G)


@dataclass(frozen=True)
class Drift:
    t0: float
    t1: float
    g_per_s: float


@dataclass(frozen=True)
class Fault:
    t: float
    kind: str
    duration_s: float = 0.0
    count: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r} (known: {', '.join(FAULT_KINDS)})")


LoadEvent = Place | Lift | Push | Drift | Fault


@dataclass(frozen=True)
class LoadScript:
    """A timeline for the simulated scale. ``initial_g`` is on the cells before t=0."""

    duration_s: float
    events: tuple[LoadEvent, ...] = ()
    initial_g: float = 0.0
    noise_counts: float = 80.0       # HX711 noise at 80 Hz, 1 sigma, in raw counts
    faults: tuple[Fault, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", tuple(sorted(
            (e for e in self.events if isinstance(e, Fault)), key=lambda f: f.t)))

    def truth(self, merge_within_s: float = 0.0) -> list[TrueChange]:
        """The settled changes a perfect indicator would report, in time order.

        Changes whose motion overlaps (two items dropped 0.5 s apart, an item placed while
        the cart is pushed) come to rest together: they are merged into one. So is a change
        that starts less than ``merge_within_s`` after the previous one came to rest (an
        indicator that may take that long to confirm can rightly report both as one).
        """
        moves = sorted((e for e in self.events if isinstance(e, Place)), key=lambda e: e.t)
        pushes = [e for e in self.events if isinstance(e, Push)]
        out: list[TrueChange] = []
        for move in moves:
            rest = move.rest_t()
            extended = True
            while extended:   # shaking that starts before the load is (long enough) at rest
                extended = False
                for push in pushes:
                    if push.t0 <= rest + merge_within_s and move.t <= push.rest_t() and push.rest_t() > rest:
                        rest, extended = push.rest_t(), True
            delta = move.sign * move.grams
            if out and move.t <= out[-1].rest_t + merge_within_s:
                last = out[-1]
                out[-1] = TrueChange(last.started_t, max(rest, last.rest_t), last.delta_g + delta)
            else:
                out.append(TrueChange(move.t, rest, delta))
        return out


@dataclass(frozen=True)
class TrueChange:
    started_t: float
    rest_t: float
    delta_g: float


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def load_at(t: np.ndarray, events: Sequence[LoadEvent], initial_g: float = 0.0,
            phases: dict[int, tuple[float, float]] | None = None) -> np.ndarray:
    """The true load on the cells (grams) at times ``t``; no noise, no faults."""
    load = np.full(t.shape, float(initial_g))
    for index, event in enumerate(events):
        if isinstance(event, Place):
            tau = t - event.t
            active = tau > 0
            if not active.any():
                continue
            tau = tau[active]
            sign = event.sign
            moved = _smoothstep(tau / event.press_s)
            # the hand presses while it places (pulls a little while it lifts): a bump that
            # peaks two thirds of the way in and is gone when the hand lets go
            bump = np.where(tau < event.press_s, np.sin(np.pi * np.clip(tau / event.press_s, 0, 1)) ** 2, 0.0)
            after = tau - event.press_s
            ring = np.where(after > 0, np.exp(-np.maximum(after, 0) / event.ring_decay_s)
                            * np.sin(2 * np.pi * event.ring_hz * np.maximum(after, 0)), 0.0)
            load[active] += sign * (event.grams * moved + event.overshoot_g() * bump) - event.ringing_g() * ring
        elif isinstance(event, Push):
            if not (t > event.t0).any():
                continue
            p1, p2 = (phases or {}).get(index, (0.3, 1.7))
            ramp_up = _smoothstep((t - event.t0) / 0.2)
            decay = np.where(t > event.t1, np.exp(-np.maximum(t - event.t1, 0) / event.decay_s), 1.0)
            envelope = np.where(t > event.t0, ramp_up * decay, 0.0)
            shake = (0.65 * np.sin(2 * np.pi * 4.3 * t + p1) + 0.35 * np.sin(2 * np.pi * 11.7 * t + p2)
                     + 0.15 * np.sin(2 * np.pi * 1.3 * t + p1 + p2))
            load += event.amplitude_g * envelope * shake
        elif isinstance(event, Drift):
            span = np.clip(t, event.t0, event.t1) - event.t0
            load += event.g_per_s * span
    return load


class LineEncoder:
    """Turns raw counts into bridge lines, applying faults; keeps the sequence number.

    Shared by :func:`render_scale_log` and the live simulator so both send the same bytes.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.seq = 0
        self.pending: list[Fault] = []   # faults waiting for the next reading(s)
        self._carry = ""                 # the cut-off half of a truncated line

    def boot(self) -> list[str]:
        self.seq = 0
        self._carry = ""
        return [BANNER]

    def _reading(self, raw: int) -> str:
        body = f"R {self.seq} {raw}"
        self.seq = (self.seq + 1) % SEQ_MODULUS
        return f"{body} {crc8(body.encode('ascii')):02X}"

    def lines_for(self, raw: int) -> list[str]:
        """The line(s) sent for one conversion of ``raw`` (possibly none)."""
        raw = int(min(max(raw, RAW_MIN), RAW_MAX))
        out: list[str] = []
        still_pending: list[Fault] = []
        line: str | None = None
        for fault in self.pending:
            kind = fault.kind
            if kind == "garbage":
                out.append(self._garbage())
            elif kind == "bridge_error":
                out.append("E 3 hx711 not ready")
            elif kind == "bad_crc":
                body = f"R {self.seq} {raw}"
                self.seq = (self.seq + 1) % SEQ_MODULUS
                good = crc8(body.encode("ascii"))
                line = f"{body} {good ^ (1 << int(self.rng.integers(0, 8))):02X}"
            elif kind == "drop":
                self.seq = (self.seq + 1) % SEQ_MODULUS
                line = ""
                if fault.count > 1:
                    still_pending.append(Fault(fault.t, kind, count=fault.count - 1))
            elif kind == "saturation":
                line = self._reading(RAW_MAX if raw >= 0 else RAW_MIN)
                if fault.count > 1:
                    still_pending.append(Fault(fault.t, kind, count=fault.count - 1))
            elif kind == "sign_glitch":
                choices = (4194303, 2097151, 1048575, 0, raw & 0x3FFF, -raw)
                line = self._reading(int(choices[int(self.rng.integers(0, len(choices)))]))
            elif kind == "spike":
                line = self._reading(int(min(max(raw + int(self.rng.choice((-1, 1))) * 130000, RAW_MIN + 1), RAW_MAX - 1)))
            elif kind == "truncated":
                full = self._reading(raw)
                self._carry = full[: int(self.rng.integers(3, len(full) - 2))]
                line = ""
        self.pending = still_pending
        if line is None:
            line = self._reading(raw)
        if line:
            if self._carry:
                line, self._carry = self._carry + line, ""
            out.append(line)
        return out

    def _garbage(self) -> str:
        n = int(self.rng.integers(1, 40))
        alphabet = "R0123456789 -ABCDEF#xyz\t\x00\x7f\xff\ufffd"
        return "".join(alphabet[int(i)] for i in self.rng.integers(0, len(alphabet), n)).replace("\n", "")


def raw_counts(load_g: np.ndarray, rng: np.random.Generator, offset: int, counts_per_gram: float,
               noise_counts: float) -> np.ndarray:
    """What the HX711 converts: offset + load x gain + noise, clipped at its saturation codes."""
    raw = offset + load_g * counts_per_gram + rng.normal(0.0, noise_counts, load_g.shape)
    return np.clip(np.rint(raw), RAW_MIN, RAW_MAX).astype(np.int64)


def push_phases(script: LoadScript, rng: np.random.Generator) -> dict[int, tuple[float, float]]:
    return {i: (float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi)))
            for i, e in enumerate(script.events) if isinstance(e, Push)}


def render_scale_log(script: LoadScript, seed: int = 0, offset: int = 0,
                     counts_per_gram: float = 420.0) -> list[tuple[float, str]]:
    """Every ``(t, line)`` the bridge sends during ``script``: deterministic for ``seed``.

    ``t`` is seconds since the trip began; ``line`` has no newline. Write a ``scale.log`` as
    ``f"{t:.4f} {line}"`` per pair. The first line is the boot banner at t=0.
    """
    rng = np.random.default_rng(seed)
    phases = push_phases(script, rng)
    n = int(round(script.duration_s * RATE_HZ))
    times = (np.arange(n) + 1) / RATE_HZ
    load = load_at(times, script.events, script.initial_g, phases)
    raws = raw_counts(load, rng, offset, counts_per_gram, script.noise_counts)
    encoder = LineEncoder(rng)
    out: list[tuple[float, str]] = [(0.0, line) for line in encoder.boot()]
    faults = list(script.faults)
    blind_until = -1.0          # silence / disconnect: nothing arrives until then
    reboot_at: float | None = None
    for t, raw in zip(times.tolist(), raws.tolist()):
        while faults and faults[0].t <= t:
            fault = faults.pop(0)
            if fault.kind in ("silence", "disconnect"):
                blind_until = max(blind_until, fault.t + fault.duration_s)
                if fault.kind == "disconnect":
                    reboot_at = blind_until
            else:
                encoder.pending.append(fault)
        if t < blind_until:
            if reboot_at is None:
                encoder.seq = (encoder.seq + 1) % SEQ_MODULUS   # stalled: conversions lost
            continue
        if reboot_at is not None:
            out.extend((t, line) for line in encoder.boot())
            reboot_at = None
        out.extend((t, line) for line in encoder.lines_for(raw))
    return out


def format_scale_log(pairs: Sequence[tuple[float, str]]) -> str:
    """The text of a ``scale.log`` for rendered pairs (one ``"<t> <line>"`` per line)."""
    return "".join(f"{t:.4f} {line}\n" for t, line in pairs)


# ---------------------------------------------------------------- a trade scale (MT-SICS)

@dataclass(frozen=True)
class SicsProfile:
    """How a trade scale behaves on its MT-SICS port. The default is a bench scale like an
    Ohaus Ranger 35 kg x 5 g: about 5 readings a second while streaming (``SIR``), in kg with
    three decimals, its own motion detection (stable once the load has stayed within one
    division for ``settle_s``; ``stability_range_d`` wider, as on a cart in a busy aisle, and
    its display flickers by a division or two while it says stable)."""

    name: str = "trade scale 35 kg x 5 g"
    rate_hz: float = 5.0
    jitter_s: float = 0.02          # the interval between readings varies by up to this
    unit: str = "kg"
    decimals: int = 3
    division_g: float = 5.0
    capacity_g: float = 35000.0
    settle_s: float = 0.5
    noise_d: float = 0.15           # internal noise, in divisions (1 sigma)
    stability_range_d: float = 1.0  # stable while its conversions stay within this many divisions (0.5 to 5)
    zero_range_g: float = 700.0     # Z works within +-2 % of capacity of the power-up zero


GRAMS_PER_UNIT = {"g": 1.0, "kg": 1000.0, "mg": 0.001, "lb": 453.59237, "oz": 28.349523125}


class SicsScale:
    """The firmware of a trade scale speaking MT-SICS, without real time: ``reading(t)`` is the
    line it streams after ``SIR``; ``command(t, text)`` answers a command as the scale would.
    ``load_g(t)`` is the true load on its platform (the same physics as the bridge's)."""

    def __init__(self, profile: SicsProfile, rng: np.random.Generator, load_g: Callable[[float], float]) -> None:
        self.profile = profile
        self.rng = rng
        self.load_g = load_g
        self.zero_g = 0.0            # gross load that reads zero (power-up zero: empty platform)
        self.power_up_zero_g = 0.0
        self.tare_g = 0.0
        self.streaming = False

    def _internal(self, t: float) -> list[float]:
        """The scale's own fast conversions over its motion window, with noise."""
        p = self.profile
        n = max(2, int(round(p.settle_s / 0.05)) + 1)
        times = [t - i * 0.05 for i in range(n)]
        return [self.load_g(max(0.0, x)) + float(self.rng.normal(0.0, p.noise_d * p.division_g)) for x in times]

    def _net(self, t: float) -> tuple[float, bool]:
        values = self._internal(t)
        stable = max(values) - min(values) <= self.profile.stability_range_d * self.profile.division_g
        recent = values[:4]
        gross = sum(recent) / len(recent)
        return gross, stable

    def _line(self, kind: str, net_g: float, stable: bool) -> str:
        p = self.profile
        d = p.division_g
        shown = round(net_g / d) * d / GRAMS_PER_UNIT[p.unit]
        return f"{kind} {'S' if stable else 'D'} {shown:10.{p.decimals}f} {p.unit}"

    def reading(self, t: float) -> str:
        p = self.profile
        gross, stable = self._net(t)
        if gross > p.capacity_g + 9 * p.division_g:
            return "S +"
        net = gross - self.zero_g - self.tare_g
        if gross - self.zero_g < -20 * p.division_g:
            return "S -"
        return self._line("S", net, stable)

    def command(self, t: float, text: str) -> list[str]:
        p = self.profile
        name, _, argument = text.strip().partition(" ")
        known = ("SIR", "SI", "S", "Z", "T", "TAC", "@", "I4")
        if name not in known:
            return ["ES"] if name else []
        if argument and name not in ("T",):
            return ["EL"]    # these take no parameter
        if name == "SIR":
            self.streaming = True
            return []
        if name == "@":
            self.streaming = False
            self.tare_g = 0.0
            return ['I4 A "B123456789"']
        if name == "I4":
            return ['I4 A "B123456789"']
        gross, stable = self._net(t)
        if name == "SI":
            return [self.reading(t)]
        if name == "S":
            return [self.reading(t)] if stable else ["S I"]
        if name == "Z":
            if not stable:
                return ["Z I"]
            if gross - self.power_up_zero_g > p.zero_range_g:
                return ["Z +"]
            if gross - self.power_up_zero_g < -p.zero_range_g:
                return ["Z -"]
            self.zero_g, self.tare_g = gross, 0.0
            return ["Z A"]
        if name == "TAC":
            self.tare_g = 0.0
            return ["TAC A"]
        # T: tare the load on the platform
        if argument:
            return ["EL"]
        if not stable:
            return ["T I"]
        if gross - self.zero_g <= 0:
            return ["T -"]
        self.tare_g = round((gross - self.zero_g) / p.division_g) * p.division_g
        return [self._line("T", self.tare_g, True)]


def sics_fault_line(fault: Fault, line: str, rng: np.random.Generator) -> list[str]:
    """What a trade scale's line turns into under a wire fault (a trade scale has no CRC or
    sequence number: a flipped bit is just a line that does not parse, or worse, one that does)."""
    kind = fault.kind
    if kind == "garbage":
        n = int(rng.integers(1, 40))
        alphabet = "S D0123456789 .-kgABCDEF#\t\x00\x7f"
        return ["".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), n)), line]
    if kind == "bad_crc":   # a bit flipped in transit: the unit or the flag garbled
        return [line.replace(" kg", " k\x07").replace(" g", " \x07") if "S" in line else line + "\x07"]
    if kind == "truncated":
        return [line[: int(rng.integers(1, max(2, len(line) - 2)))]]
    if kind == "drop":
        return []
    if kind == "saturation":
        return ["S +"]
    if kind == "bridge_error":
        return ["ET", line]
    return [line]   # sign_glitch, spike: HX711 faults a trade scale does not have


def render_sics_log(script: LoadScript, seed: int = 0, profile: SicsProfile | None = None) -> list[tuple[float, str]]:
    """Every ``(t, line)`` a trade scale streams during ``script`` after ``SIR``: deterministic
    for ``seed``; readings about ``profile.rate_hz`` a second with jitter; faults of the script
    (garbage, truncated, drop, silence, disconnect, ...) as they would show on its line."""
    profile = profile or SicsProfile()
    rng = np.random.default_rng(seed)
    phases = push_phases(script, rng)

    def load(t: float) -> float:
        return float(load_at(np.array([t]), script.events, script.initial_g, phases)[0])

    scale = SicsScale(profile, rng, load)
    scale.power_up_zero_g = scale.zero_g = script.initial_g if script.initial_g < profile.zero_range_g else 0.0
    faults = list(script.faults)
    out: list[tuple[float, str]] = []
    blind_until = -1.0
    t = 0.0
    period = 1.0 / profile.rate_hz
    while True:
        t += period + float(rng.uniform(-profile.jitter_s, profile.jitter_s))
        if t > script.duration_s:
            return out
        lines = [scale.reading(t)]
        while faults and faults[0].t <= t:
            fault = faults.pop(0)
            if fault.kind in ("silence", "disconnect"):
                blind_until = max(blind_until, fault.t + fault.duration_s)
            elif lines:   # each fault garbles the line (garbage adds one before it)
                lines = lines[:-1] + sics_fault_line(fault, lines[-1], rng)
        if t < blind_until:
            continue
        out.extend((round(t, 4), x) for x in lines)
