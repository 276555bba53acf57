"""Lines from a scale -> samples, with the counters an engineer on call wants to see.

Pure and protocol-aware: the serial driver feeds it the lines it receives (with their
receive time) and a ``scale.log`` replay feeds it the recorded ones, so both see the same
samples and count the same faults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dashcart.readings import Gap, Sample
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


@dataclass
class ScaleCounters:
    bytes_received: int = 0   # counted by the serial driver
    lines: int = 0
    readings: int = 0
    corrupt: int = 0          # bad CRC, junk, over-long, wrong protocol
    seq_gaps: int = 0         # times readings were lost
    lost_readings: int = 0    # how many were lost in all
    saturated: int = 0        # saturation codes (HX711) or overload/underload (MT-SICS)
    bridge_errors: int = 0    # E lines / MT-SICS error replies
    reboots: int = 0          # boot banners after the first
    reconnects: int = 0       # the serial driver had to reopen the port

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


DEFAULT_RATE_HZ = 80.0
# Readings arriving later than this behind their pace are taken at their arrival time.
MAX_PACE_LAG_S = 0.5


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
        self.last_corrupt: Corrupt | None = None
        self._seq: int | None = None
        self._banners = 0
        self._anchor_t = 0.0
        self._since_anchor: int | None = None   # readings since the anchor; None: no anchor

    def reset(self) -> None:
        """The connection was lost: the next sequence number starts afresh."""
        self._seq = None
        self._since_anchor = None

    def _paced(self, arrived: float, steps: int) -> float:
        if self._since_anchor is not None:
            self._since_anchor += steps
            taken = self._anchor_t + self._since_anchor / self.rate_hz
            if arrived - MAX_PACE_LAG_S <= taken <= arrived:
                return taken
        self._anchor_t, self._since_anchor = arrived, 0
        return arrived

    def decode(self, t: float, line: bytes | str) -> list[Sample | Gap]:
        self.counters.lines += 1
        if self.protocol == "mt-sics":
            return self._sics(t, line)
        message = parse_hx711(line)
        if isinstance(message, Reading):
            self.counters.readings += 1
            out: list[Sample | Gap] = []
            lost = seq_gap(self._seq, message.seq)
            self._seq = message.seq
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
            if message.is_banner:
                rate = dict(part.partition("=")[::2] for part in message.text.split()[1:]).get("rate", "")
                if rate.isdigit() and 0 < int(rate) <= 10000:
                    self.rate_hz = float(rate)
                self._since_anchor = None
                self._banners += 1
                if self._banners > 1:
                    self.counters.reboots += 1
                if self._seq is not None:
                    self._seq = None
                    return [Gap(t)]
            return []
        if isinstance(message, BridgeError):
            self.counters.bridge_errors += 1
            return []
        self.counters.corrupt += 1
        self.last_corrupt = message
        return []

    def _sics(self, t: float, line: bytes | str) -> list[Sample | Gap]:
        message = parse_sics(line)
        if isinstance(message, SicsWeight):
            self.counters.readings += 1
            return [Sample(t, grams=message.grams, stable=message.stable)]
        if isinstance(message, SicsStatus):
            if message.kind in ("overload", "underload"):
                self.counters.saturated += 1
                return [Sample(t, saturated=True)]
            if message.kind in ("syntax", "transmission", "logical"):
                self.counters.bridge_errors += 1
            return []
        self.counters.corrupt += 1
        self.last_corrupt = message
        return []
