"""The two scale wire protocols, as pure functions of one line.

``hx711-bridge/1`` (our load-cell bridge) and the MT-SICS level 0/1 subset (a trade scale).
The parsers never raise: whatever a serial line can contain comes back as a typed result,
and anything that is not a valid message is :class:`Corrupt` with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROTOCOLS = ("hx711-bridge", "mt-sics")

RAW_MIN = -8388608
RAW_MAX = 8388607
SEQ_MODULUS = 65536
# A bridge line is at most "R 65535 -8388608 FF" (19 bytes); anything much longer is noise
# or a scale talking another protocol at us.
MAX_LINE_BYTES = 64


def crc8(data: bytes) -> int:
    """CRC-8/SMBUS: poly 0x07, init 0, no reflection, no final xor."""
    crc = 0
    for byte in data:
        crc = _CRC_TABLE[crc ^ byte]
    return crc


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


# ---------------------------------------------------------------- hx711-bridge/1

@dataclass(frozen=True)
class Reading:
    """One HX711 conversion: ``raw`` is the signed 24-bit count."""

    seq: int
    raw: int

    @property
    def saturated(self) -> bool:
        return self.raw in (RAW_MIN, RAW_MAX)


@dataclass(frozen=True)
class Info:
    """An informational ``#`` line, e.g. the boot banner ``# hx711-bridge/1 rate=80``."""

    text: str

    @property
    def is_banner(self) -> bool:
        return self.text.startswith("hx711-bridge/")


@dataclass(frozen=True)
class BridgeError:
    """``E <code> <text>``: the bridge reports a fault of its own (HX711 not ready, ...)."""

    code: str
    text: str


@dataclass(frozen=True)
class Corrupt:
    """A line that is not a valid message; ``reason`` says why (for counters and debug logs)."""

    reason: str
    line: str = ""


HX711Message = Reading | Info | BridgeError | Corrupt

_READING = re.compile(r"R (0|[1-9][0-9]{0,4}) (0|-?[1-9][0-9]{0,6}) ([0-9A-F]{2})")


def encode_hx711(seq: int, raw: int) -> bytes:
    """The exact line a bridge sends for one reading, newline included."""
    if not 0 <= seq < SEQ_MODULUS:
        raise ValueError(f"seq {seq} outside 0..65535")
    if not RAW_MIN <= raw <= RAW_MAX:
        raise ValueError(f"raw {raw} outside the signed 24-bit range")
    body = f"R {seq} {raw}".encode("ascii")
    return body + f" {crc8(body):02X}\n".encode("ascii")


def _as_text(line: bytes | str) -> str | Corrupt:
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            return Corrupt("over-long line", repr(line[:MAX_LINE_BYTES]))
        try:
            return line.decode("ascii").rstrip("\r\n")
        except UnicodeDecodeError:
            return Corrupt("non-ASCII bytes", repr(line[:MAX_LINE_BYTES]))
    if len(line) > MAX_LINE_BYTES:
        return Corrupt("over-long line", line[:MAX_LINE_BYTES])
    if not line.isascii():
        return Corrupt("non-ASCII bytes", line[:MAX_LINE_BYTES])
    return line.rstrip("\r\n")


def parse_hx711(line: bytes | str) -> HX711Message:
    """Parse one ``hx711-bridge/1`` line (with or without its newline). Never raises."""
    text = _as_text(line)
    if isinstance(text, Corrupt):
        return text
    if text.startswith("#"):
        return Info(text[1:].strip())
    if text.startswith("E "):
        code, _, rest = text[2:].partition(" ")
        if code:
            return BridgeError(code, rest)
        return Corrupt("error line without a code", text)
    match = _READING.fullmatch(text)
    if match is None:
        return Corrupt("not a reading", text)
    seq, raw = int(match.group(1)), int(match.group(2))
    if seq >= SEQ_MODULUS:
        return Corrupt("sequence number out of range", text)
    if not RAW_MIN <= raw <= RAW_MAX:
        return Corrupt("count outside 24 bits", text)
    body = text[: match.start(3) - 1].encode("ascii")
    if crc8(body) != int(match.group(3), 16):
        return Corrupt("bad CRC", text)
    return Reading(seq, raw)


def seq_gap(previous: int | None, seq: int) -> int:
    """How many readings were lost between ``previous`` and ``seq`` (wrapping at 65536)."""
    if previous is None:
        return 0
    return (seq - previous - 1) % SEQ_MODULUS


# ---------------------------------------------------------------- MT-SICS

@dataclass(frozen=True)
class SicsWeight:
    """``S S`` (stable) or ``S D`` (dynamic) with the value converted to grams."""

    grams: float
    stable: bool


@dataclass(frozen=True)
class SicsStatus:
    """Anything but a weight: ``busy`` (S I), ``overload`` (S +), ``underload`` (S -),
    ``syntax`` (ES), ``transmission`` (ET), ``logical`` (EL), an acknowledgement
    (``zeroed``, ``tared``, ``ack``) of a command, or ``refused`` (Z I / T I / Z + / Z -:
    not done, the load moving or outside the zero range)."""

    kind: str
    text: str = ""


SicsMessage = SicsWeight | SicsStatus | Corrupt

_UNIT_GRAMS = {"g": 1.0, "kg": 1000.0, "mg": 0.001, "lb": 453.59237, "oz": 28.349523125}
_SICS_STATUS = {"ES": "syntax", "ET": "transmission", "EL": "logical"}
_SICS_WEIGHT = re.compile(r"(S|T|Z) (S|D) +(-? *[0-9]+(?:\.[0-9]+)?) +([A-Za-z]+)")
_SICS_COMMAND = re.compile(r"[A-Z@][A-Z0-9]{0,5}")


def parse_sics(line: bytes | str) -> SicsMessage:
    """Parse one MT-SICS response line. Never raises."""
    text = _as_text(line)
    if isinstance(text, Corrupt):
        return text
    text = text.strip()
    if text in _SICS_STATUS:
        return SicsStatus(_SICS_STATUS[text], text)
    parts = text.split()
    if len(parts) == 2 and parts[0] == "S":
        kind = {"I": "busy", "+": "overload", "-": "underload"}.get(parts[1])
        if kind:
            return SicsStatus(kind, text)
    if len(parts) == 2 and parts[0] in ("Z", "T", "SIR") and parts[1] in ("A", "I", "+", "-"):
        if parts[1] == "A":
            return SicsStatus({"Z": "zeroed", "T": "tared"}.get(parts[0], "ack"), text)
        # Z I / T I: not done now (the load is moving); Z + / Z -: outside the zero range.
        # A refused command, not a weight out of range.
        return SicsStatus("refused", text)
    if len(parts) >= 2 and parts[1] == "A" and _SICS_COMMAND.fullmatch(parts[0]):
        return SicsStatus("ack", text)   # e.g. I4 A "B123456789" (the serial number, after @)
    match = _SICS_WEIGHT.fullmatch(text)
    if match is None:
        return Corrupt("not an MT-SICS response", text)
    unit = _UNIT_GRAMS.get(match.group(4))
    if unit is None:
        return Corrupt(f"unknown unit {match.group(4)!r}", text)
    grams = float(match.group(3).replace(" ", "")) * unit
    if match.group(1) == "T":
        return SicsStatus("tared", text)
    if match.group(1) == "Z":
        return SicsStatus("zeroed", text)
    return SicsWeight(grams, match.group(2) == "S")


def encode_sics_weight(grams: float, stable: bool, unit: str = "g", decimals: int = 1) -> bytes:
    """The line a trade scale sends for a weight: ``S S`` or ``S D``, the value right-aligned in
    10 characters with ``decimals`` places, in ``unit`` (``S S      1.250 kg``)."""
    value = grams / _UNIT_GRAMS[unit]
    return f"S {'S' if stable else 'D'} {value:10.{decimals}f} {unit}\r\n".encode("ascii")
