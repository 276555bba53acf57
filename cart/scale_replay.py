"""Run a recorded ``scale.log`` (``dashcart-trip/1``) through the decoder and the engine.

Used by ``dashcart weigh --replay`` and by trip replay. A malformed log line is reported
once (file and line number) and skipped; the rest of the log still counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cart.config import WeighingSection
from cart.errors import Misconfigured
from cart.weighing import SettledChange, WeighingEngine, feed_decoded
from drivers.scale.decoder import LineDecoder, ScaleCounters

ProblemHandler = Callable[[str], None]


@dataclass
class ReplayResult:
    changes: list[SettledChange] = field(default_factory=list)
    counters: ScaleCounters = field(default_factory=ScaleCounters)
    malformed: int = 0


def read_scale_log(path: str | Path, on_problem: ProblemHandler) -> Iterator[tuple[float, bytes]]:
    """The ``(t, line)`` pairs of a scale.log; malformed lines go to ``on_problem`` and are skipped.

    Split on newlines only: a line as received may hold any other byte.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise Misconfigured(f"{path}: no such scale log") from None
    except OSError as exc:
        raise Misconfigured(f"{path}: cannot read: {exc.strerror or exc}") from None
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
                 settings: WeighingSection | None = None) -> ReplayResult:
    """Settled changes for already-split ``(t, line)`` pairs (e.g. from ``render_scale_log``)."""
    decoder = LineDecoder(protocol)
    engine = WeighingEngine(offset, counts_per_gram, settings)
    result = ReplayResult(counters=decoder.counters)
    for t, line in pairs:
        result.changes += feed_decoded(engine, decoder.decode(t, line))
    return result


def replay_scale_log(path: str | Path, protocol: str = "hx711-bridge", offset: int = 0,
                     counts_per_gram: float = 420.0, settings: WeighingSection | None = None,
                     on_problem: ProblemHandler | None = None) -> ReplayResult:
    """Settled changes of a whole ``scale.log``; each malformed line is passed to ``on_problem``."""
    malformed = 0

    def problem(message: str) -> None:
        nonlocal malformed
        malformed += 1
        if on_problem is not None:
            on_problem(message)

    result = replay_pairs(read_scale_log(path, problem), protocol, offset, counts_per_gram, settings)
    result.malformed = malformed
    return result
