"""Run a recorded ``scale.log`` (``dashcart-trip/1``) through the decoder and the engine.

Used by ``dashcart weigh --replay`` and by trip replay. A malformed log line is reported
once (file and line number) and skipped; the rest of the log still counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from dashcart.config import WeighingSection
from dashcart.core.weighing import DEFAULT_CAPACITY_G, SettledChange, WeighingEngine, feed_decoded
from dashcart.drivers.scale.decoder import LineDecoder, ScaleCounters
from dashcart.errors import Misconfigured, read_user_file

ProblemHandler = Callable[[str], None]


@dataclass
class ScaleReplayResult:
    changes: list[SettledChange] = field(default_factory=list)
    counters: ScaleCounters = field(default_factory=ScaleCounters)
    malformed: int = 0
    slow: str | None = None   # why the bridge's readings came too slowly for the weighing


def read_scale_log(path: str | Path, on_problem: ProblemHandler) -> Iterator[tuple[float, bytes]]:
    """The ``(t, line)`` pairs of a scale.log; malformed lines go to ``on_problem`` and are skipped.

    Split on newlines only: a line as received may hold any other byte.
    """
    data = read_user_file(path, "no such scale log", encoding=None)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    last_t = -math.inf
    for lineno, raw in enumerate(lines, start=1):
        stamp, sep, line = raw.partition(b" ")
        try:
            t = float(stamp.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            shown = stamp[:20].decode("ascii", "replace")
            on_problem(f"{path}:{lineno}: expected '<seconds> <line>', got {shown!r} where the time should be")
            continue
        if not sep or not math.isfinite(t) or t < 0:
            on_problem(f"{path}:{lineno}: expected '<seconds> <line>' with a time >= 0")
            continue
        if t < last_t:
            on_problem(f"{path}:{lineno}: time {t} goes back before {last_t}; line skipped")
            continue
        last_t = t
        yield t, line


def replay_pairs(pairs: Iterable[tuple[float, bytes | str]], protocol: str = "hx711-bridge",
                 offset: int = 0, counts_per_gram: float = 420.0,
                 settings: WeighingSection | None = None,
                 capacity_g: float = DEFAULT_CAPACITY_G) -> ScaleReplayResult:
    """Settled changes for already-split ``(t, line)`` pairs (e.g. from ``render_scale_log``)."""
    decoder = LineDecoder(protocol)
    engine = WeighingEngine(offset, counts_per_gram, settings, capacity_g)
    result = ScaleReplayResult(counters=decoder.counters)
    for t, line in pairs:
        result.changes += feed_decoded(engine, decoder.decode(t, line))
    result.slow = decoder.pace_problem() if protocol == "hx711-bridge" else None
    return result


def replay_scale_log(path: str | Path, protocol: str = "hx711-bridge", offset: int = 0,
                     counts_per_gram: float = 420.0, settings: WeighingSection | None = None,
                     on_problem: ProblemHandler | None = None,
                     capacity_g: float = DEFAULT_CAPACITY_G) -> ScaleReplayResult:
    """Settled changes of a whole ``scale.log``; each malformed line is passed to ``on_problem``."""
    malformed = 0

    def problem(message: str) -> None:
        nonlocal malformed
        malformed += 1
        if on_problem is not None:
            on_problem(message)

    result = replay_pairs(read_scale_log(path, problem), protocol, offset, counts_per_gram, settings, capacity_g)
    result.malformed = malformed
    return result


class TripScale(TypedDict, total=False):
    """A trip's own scale calibration (``[scale]`` settings by name): the keys it gives."""

    protocol: str
    offset: int
    counts_per_gram: float


def trip_scale_settings(trip_json: str | Path) -> TripScale:
    """The ``scale`` object of a ``dashcart-trip/1`` trip.json: protocol, offset, counts_per_gram.

    Only the keys present are returned; a wrong one is :class:`Misconfigured` naming the file.
    """
    import json

    from dashcart.drivers.scale.protocol import PROTOCOLS, RAW_MAX, RAW_MIN

    path = Path(trip_json)
    try:
        data = json.loads(read_user_file(path, "no such trip.json"))
    except ValueError as exc:
        raise Misconfigured(f"{path}: not a readable JSON trip description: {exc}") from None
    scale = data.get("scale", {}) if isinstance(data, dict) else None
    if not isinstance(scale, dict):
        raise Misconfigured(f"{path}: scale: expected an object")
    out = TripScale()
    protocol = scale.get("protocol")
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise Misconfigured(f"{path}: scale.protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
        out["protocol"] = protocol
    offset = scale.get("offset")
    if offset is not None:
        if isinstance(offset, bool) or not isinstance(offset, int) or not RAW_MIN <= offset <= RAW_MAX:
            raise Misconfigured(f"{path}: scale.offset: expected a 24-bit integer count, got {offset!r}")
        out["offset"] = offset
    gain = scale.get("counts_per_gram")
    if gain is not None:
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain) or gain == 0:
            raise Misconfigured(f"{path}: scale.counts_per_gram: expected a non-zero number, got {gain!r}")
        out["counts_per_gram"] = float(gain)
    return out
