"""Lines from a scale -> samples, with the counters an engineer on call wants to see.

Pure and protocol-aware: the serial driver feeds it the lines it receives (with their
receive time) and a ``scale.log`` replay feeds it the recorded ones, so both see the same
samples and count the same faults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from drivers.scale.protocol import (
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


@dataclass(frozen=True)
class Sample:
    """One weight reading: ``raw`` counts (hx711-bridge) or ``grams`` (mt-sics)."""

    t: float
    raw: int | None = None
    grams: float | None = None
    stable: bool | None = None    # the trade scale's own stability flag
    saturated: bool = False


@dataclass(frozen=True)
class Gap:
    """Readings were lost before ``t`` (``lost`` of them; -1 when unknown)."""

    t: float
    lost: int = -1


class LineDecoder:
    """Decodes one scale's lines; keeps the sequence number to find gaps."""

    def __init__(self, protocol: str = "hx711-bridge") -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown scale protocol {protocol!r}")
        self.protocol = protocol
        self.counters = ScaleCounters()
        self.last_corrupt: Corrupt | None = None
        self._seq: int | None = None
        self._banners = 0

    def reset(self) -> None:
        """The connection was lost: the next sequence number starts afresh."""
        self._seq = None

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
