"""Lines from a scale -> samples, with the counters an engineer on call wants to see.

Pure and protocol-aware: the serial driver feeds it the lines it receives (with their
receive time) and a ``scale.log`` replay feeds it the recorded ones, so both see the same
samples and count the same faults.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

from dashcart.drivers.scale.protocol import (
    PROTOCOLS,
    BridgeError,
    Corrupt,
    Info,
    Reading,
    SicsStatus,
    SicsWeight,
    parse_hx711,
    parse_sics,
    seq_gap,
)
from dashcart.readings import Gap, Sample, ScaleZeroed


@dataclass
class ScaleCounters:
    bytes_received: int = 0   # counted by the serial driver
    lines: int = 0
    readings: int = 0
    corrupt: int = 0          # bad CRC, junk, over-long, wrong protocol
    seq_gaps: int = 0         # times readings were lost
    lost_readings: int = 0    # how many were lost in all (only gaps the elapsed time explains)
    resyncs: int = 0          # sequence jumps no loss explains (backwards, a reset without banner)
    duplicates: int = 0       # the same sequence number twice in a row (dropped)
    saturated: int = 0        # saturation codes (HX711) or overload/underload (MT-SICS)
    bridge_errors: int = 0    # E lines / MT-SICS error replies
    reboots: int = 0          # boot banners after the first
    reconnects: int = 0       # the serial driver had to reopen the port
    silences: int = 0         # times the port stayed open but the scale went quiet
    refused: int = 0          # MT-SICS Z/T not done (Z I, T I, Z +, Z -)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


DEFAULT_RATE_HZ = 80.0
# Readings arriving later than this behind their pace are taken at their arrival time.
MAX_PACE_LAG_S = 0.5
# A sequence gap counts as lost readings only if the time since the last reading explains it
# (at the bridge's rate, with this much slack for a fast crystal and USB bursts); anything
# larger (a line repeated or reordered, a bridge reset that sent no banner) is a resync.
GAP_SLACK = 1.5
GAP_SLACK_READINGS = 8

# The weighing engine's glitch filter and stability window are set for the bridge's 80 Hz (an
# HX711 with its RATE pin high); at its other rate, 10 Hz, a push of the cart passes for a load
# at rest. Below this many readings a second the scale is "degraded", and says why.
MIN_BRIDGE_RATE_HZ = 40.0
PACE_WINDOW_S = 5.0      # the bridge's rate is measured over at least this much of its stream

SILENCE_S = 1.0          # no line for this long with the port open: the scale is mute
CORRUPT_WINDOW_S = 2.0   # corrupt lines are rated over this window
CORRUPT_MIN = 10         # at least this many corrupt lines in the window ...
CORRUPT_RATIO = 0.2      # ... and at least this share of its lines: a corrupt-line flood


@dataclass(frozen=True)
class Health:
    """How the scale's line looks: ``state`` ok | degraded | down (as DeviceStatus), and why."""

    state: str
    message: str = ""


class Liveness:
    """Whether a connected scale is really talking: silence, corrupt-line floods, and lines that
    carry no reading (a hung bridge repeating its last line, a stream of bridge errors, a trade
    scale answering ``S I``): the weight is as unknown as when the scale is mute.

    Pure: fed the arrival time of each line and asked at a time; the serial driver asks every
    quarter second, so a mute scale is reported within ``silence_s`` + 0.25 s.
    """

    def __init__(self, counters: ScaleCounters, silence_s: float = SILENCE_S, window_s: float = CORRUPT_WINDOW_S,
                 corrupt_min: int = CORRUPT_MIN, corrupt_ratio: float = CORRUPT_RATIO,
                 pace: Callable[[], str | None] | None = None) -> None:
        self.counters = counters
        self.pace = pace   # why the readings come too slowly for the weighing, or None
        self.silence_s = silence_s
        self.window_s = window_s
        self.corrupt_min = corrupt_min
        self.corrupt_ratio = corrupt_ratio
        self._last_line_t: float | None = None
        self._last_reading_t: float | None = None
        self._said = ""          # what the last line without a reading was, for the message
        self._recent: deque[tuple[float, bool]] = deque()   # (t, corrupt) within the window
        self._recent_corrupt = 0
        self._silent = False

    def connected(self, t: float) -> None:
        """The port (re)opened at ``t``: silence is counted from now."""
        self._last_line_t = self._last_reading_t = t
        self._said = ""
        self._recent.clear()
        self._recent_corrupt = 0
        self._silent = False

    def line(self, t: float, corrupt: bool, said: str | None = None) -> None:
        """A line arrived at ``t``; ``said`` is None when it gave a reading, else what it was."""
        self._last_line_t = t
        if said is None:
            self._last_reading_t = t
        else:
            self._said = said
        self._silent = False
        self._recent.append((t, corrupt))
        self._recent_corrupt += corrupt
        self._expire(t)

    def _expire(self, t: float) -> None:
        horizon = t - self.window_s
        recent = self._recent
        while recent and recent[0][0] < horizon:
            self._recent_corrupt -= recent.popleft()[1]

    def check(self, t: float, connected: bool = True) -> Health:
        if not connected or self._last_line_t is None:
            return Health("ok")   # not connected is the driver's own "down"
        quiet = t - self._last_line_t
        if quiet > self.silence_s:
            if not self._silent:
                self._silent = True
                self.counters.silences += 1
            return Health("down", f"the scale sends nothing ({quiet:.1f} s) although its port is open: "
                                  "is it powered and streaming (MT-SICS: does it answer SIR)?")
        self._expire(t)
        corrupt, lines = self._recent_corrupt, len(self._recent)
        if corrupt >= self.corrupt_min and corrupt >= self.corrupt_ratio * lines:
            return Health("degraded", f"{corrupt} of {lines} lines corrupt in the last {self.window_s:g} s "
                                      f"({self.counters.corrupt} of {self.counters.lines} in all): a noisy "
                                      "cable, or the wrong baud rate or protocol")
        if self._last_reading_t is not None and t - self._last_reading_t > self.silence_s:
            return Health("down", f"no reading for {t - self._last_reading_t:.1f} s although lines arrive: "
                                  f"{self._said}")
        slow = self.pace() if self.pace is not None else None
        if slow:
            return Health("degraded", slow)
        return Health("ok")


class LineDecoder:
    """Decodes one scale's lines; keeps the sequence number to find gaps.

    A bridge reading is stamped with the time it was *taken*, from its sequence number at the
    bridge's rate (80 Hz, or the banner's ``rate=``), never later than it arrived: when the
    reader was held up and a burst of lines arrives at once, the samples keep their 12.5 ms
    spacing instead of piling up on one instant. A reading more than ``MAX_PACE_LAG_S``
    behind its pace, or ahead of its arrival (the bridge's crystal is fast), re-anchors the
    pace at its arrival time, so times never go backwards.
    """

    def __init__(self, protocol: str = "hx711-bridge", rate_hz: float = DEFAULT_RATE_HZ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown scale protocol {protocol!r}")
        self.protocol = protocol
        self.rate_hz = rate_hz
        self.counters = ScaleCounters()
        self.liveness = Liveness(self.counters, pace=self.pace_problem if protocol == "hx711-bridge" else None)
        self._pace_from: float | None = None   # arrival of the first reading the pace is measured from
        self._pace_steps = 0                   # readings since then, by sequence number (lost ones too)
        self._pace_last = 0.0
        self._pace_done: float | None = None   # the rate over the window before
        self.last_corrupt: Corrupt | None = None
        self._seq: int | None = None
        self._seq_t = 0.0            # arrival time of the last reading
        self._banners = 0
        self._anchor_t = 0.0
        self._since_anchor: int | None = None   # readings since the anchor; None: no anchor
        self._said = ""                         # what the line being decoded said, if not a reading

    def reset(self) -> None:
        """The connection was lost: the next sequence number starts afresh."""
        self._seq = None
        self._since_anchor = None
        self._pace_from = None

    def _count_pace(self, arrived: float, steps: int | None) -> None:
        """``steps`` readings (by sequence number) arrived by ``arrived``; None: the count starts over
        (so does a silence: a scale that stopped talking is not a slow one)."""
        if steps is None or self._pace_from is None or arrived - self._pace_last > SILENCE_S:
            self._pace_from, self._pace_steps, self._pace_done = arrived, 0, None
        else:
            self._pace_steps += steps
            if arrived - self._pace_from >= 2 * PACE_WINDOW_S:
                # windows of 5-10 s, so a change of rate shows within 10 s, not diluted by hours
                self._pace_done = self._pace_steps / (arrived - self._pace_from)
                self._pace_from, self._pace_steps = arrived, 0
        self._pace_last = arrived

    def bridge_rate(self) -> float | None:
        """Readings a second the bridge sends, from its sequence numbers over the last 5-10 s of its
        stream (bunched USB deliveries and lost lines do not skew it); None before 5 s of it."""
        if self._pace_from is not None and self._pace_last - self._pace_from >= PACE_WINDOW_S:
            return self._pace_steps / (self._pace_last - self._pace_from)
        return self._pace_done

    def pace_problem(self) -> str | None:
        """Why the bridge's readings come too slowly for the weighing engine, or None."""
        if self.rate_hz < MIN_BRIDGE_RATE_HZ:
            return (f"the bridge says it reads at {self.rate_hz:g} Hz (its banner); the weighing needs "
                    f"{DEFAULT_RATE_HZ:g} Hz: tie the HX711's RATE pin high")
        measured = self.bridge_rate()
        if measured is not None and measured < MIN_BRIDGE_RATE_HZ:
            return (f"the bridge sends about {measured:.0f} readings a second, not {self.rate_hz:g}; the weighing "
                    f"needs {DEFAULT_RATE_HZ:g}: is the HX711's RATE pin high?")
        return None

    def _paced(self, arrived: float, steps: int) -> float:
        if self._since_anchor is not None:
            self._since_anchor += steps
            taken = self._anchor_t + self._since_anchor / self.rate_hz
            if arrived - MAX_PACE_LAG_S <= taken <= arrived:
                return taken
        self._anchor_t, self._since_anchor = arrived, 0
        return arrived

    def decode(self, t: float, line: bytes | str) -> list[Sample | Gap | ScaleZeroed]:
        self.counters.lines += 1
        corrupt_before = self.counters.corrupt
        self._said = ""
        out = self._sics(t, line) if self.protocol == "mt-sics" else self._hx711(t, line)
        corrupt = self.counters.corrupt != corrupt_before
        if corrupt and self.last_corrupt is not None:
            self._said = f"corrupt lines ({self.last_corrupt.reason}: {self.last_corrupt.line[:40]!r})"
        reading = any(isinstance(item, Sample) for item in out)
        self.liveness.line(t, corrupt, None if reading else self._said or "lines without a reading")
        return out

    def _hx711(self, t: float, line: bytes | str) -> list[Sample | Gap | ScaleZeroed]:
        message = parse_hx711(line)
        if isinstance(message, Reading):
            out: list[Sample | Gap | ScaleZeroed] = []
            previous, previous_t = self._seq, self._seq_t
            if previous is not None and message.seq == previous:
                self.counters.duplicates += 1   # the same reading again: nothing new
                self._said = (f"the same reading (seq {message.seq}) again and again: a hung bridge? "
                              "unplug its USB cable and plug it back")
                return out
            self.counters.readings += 1
            lost = seq_gap(previous, message.seq)
            self._seq, self._seq_t = message.seq, t
            if lost > (t - previous_t) * self.rate_hz * GAP_SLACK + GAP_SLACK_READINGS:
                # More than the time allows: not a loss but a jump (reordered or repeated line,
                # a reset without banner). Counting it as lost would add up to ~65,000 a time.
                self.counters.resyncs += 1
                self._since_anchor = None
                self._count_pace(t, None)
                t = self._paced(t, 1)
                out.append(Gap(t))
            else:
                self._count_pace(t, 1 + lost if previous is not None else None)
                t = self._paced(t, 1 + lost)
                if lost:
                    self.counters.seq_gaps += 1
                    self.counters.lost_readings += lost
                    out.append(Gap(t, lost))
            if message.saturated:
                self.counters.saturated += 1
            out.append(Sample(t, raw=message.raw, saturated=message.saturated))
            return out
        if isinstance(message, Info):
            self._said = f"information lines (# {message.text})"
            if message.is_banner:
                rate = dict(part.partition("=")[::2] for part in message.text.split()[1:]).get("rate", "")
                if rate.isdigit() and 0 < int(rate) <= 10000:
                    self.rate_hz = float(rate)
                self._since_anchor = None
                self._pace_from = None
                self._banners += 1
                if self._banners > 1:
                    self.counters.reboots += 1
                if self._seq is not None:
                    self._seq = None
                    return [Gap(t)]
            return []
        if isinstance(message, BridgeError):
            self.counters.bridge_errors += 1
            self._said = (f"the bridge reports \"E {message.code} {message.text}\": check the HX711's wiring "
                          "(DT, SCK) and its 3.3 V supply")
            return []
        self.counters.corrupt += 1
        self.last_corrupt = message
        return []

    def _sics(self, t: float, line: bytes | str) -> list[Sample | Gap | ScaleZeroed]:
        message = parse_sics(line)
        if isinstance(message, SicsWeight):
            self.counters.readings += 1
            return [Sample(t, grams=message.grams, stable=message.stable)]
        if isinstance(message, SicsStatus):
            self._said = f"the scale answers {message.text!r} ({message.kind})"
            if message.kind in ("overload", "underload"):
                # a reading, at the limit: counted in both, as the bridge's saturation codes are
                self.counters.readings += 1
                self.counters.saturated += 1
                return [Sample(t, saturated=True)]
            if message.kind in ("syntax", "transmission", "logical"):
                self.counters.bridge_errors += 1
            elif message.kind == "refused":
                self.counters.refused += 1
            elif message.kind in ("zeroed", "tared"):
                # the readings after this one are on the new zero or tare
                return [ScaleZeroed(t, "zero" if message.kind == "zeroed" else "tare")]
            return []
        self.counters.corrupt += 1
        self.last_corrupt = message
        return []
