"""``dashcart weigh``: settled weight changes from a recorded scale.log or a live scale."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from dashcart.config import Config, ScaleSection, checked_setting
from dashcart.errors import Misconfigured, RetryLater

if TYPE_CHECKING:
    from dashcart.core.weighing import SettledChange

log = logging.getLogger("dashcart.weigh")

MAX_PROBLEMS_SHOWN = 20


class ScaleChanges(TypedDict, total=False):
    """``[scale]`` settings the command line (or a replayed trip) changes, by name."""

    backend: str
    protocol: str
    port: str
    baudrate: int
    offset: int
    counts_per_gram: float


def _change_json(change: SettledChange, t0: float = 0.0) -> str:
    return json.dumps({"t": round(change.t - t0, 4), "event": "settled",
                       "delta_g": round(change.delta_g, 1), "total_g": round(change.total_g, 1)})


def _change_text(change: SettledChange, t0: float = 0.0) -> str:
    return f"{change.t - t0:10.3f} s  {change.delta_g:+9.1f} g  total {change.total_g:9.1f} g"


def _scale_config(args: argparse.Namespace, config: Config) -> Config:
    """The config's [scale] section, then a replayed trip's own calibration, then the flags."""
    scale = config.scale
    changes = ScaleChanges()
    if args.replay:
        from dashcart.trips.scale_replay import trip_scale_settings

        replay = Path(args.replay)
        trip_json = (replay if replay.is_dir() else replay.parent) / "trip.json"
        if replay.is_dir():
            args.replay = str(replay / "scale.log")
        if trip_json.is_file():
            changes.update(trip_scale_settings(trip_json))
            log.info("scale settings from %s: %s", trip_json, changes)
    if args.protocol is not None:
        changes["protocol"] = args.protocol
    # the same bounds as [scale] in the config file
    if args.offset is not None:
        changes["offset"] = checked_setting(ScaleSection, "offset", args.offset, "--offset")
    if args.counts_per_gram is not None:
        changes["counts_per_gram"] = checked_setting(ScaleSection, "counts_per_gram", args.counts_per_gram,
                                                     "--counts-per-gram")
    if getattr(args, "baudrate", None) is not None:
        changes["baudrate"] = checked_setting(ScaleSection, "baudrate", args.baudrate, "--baudrate")
    if getattr(args, "port", None):
        changes["port"] = args.port
        changes["backend"] = "serial"
    if getattr(args, "duration", None) is not None and not 0 < args.duration < math.inf:
        raise Misconfigured(f"--duration: {args.duration} is not a number of seconds above 0")
    return dataclasses.replace(config, scale=dataclasses.replace(scale, **changes))


def _replay(args: argparse.Namespace, config: Config) -> int:
    from dashcart.trips.scale_replay import replay_scale_log

    shown = 0

    def problem(message: str) -> None:
        nonlocal shown
        shown += 1
        if shown <= MAX_PROBLEMS_SHOWN:
            print(f"dashcart weigh: {message}", file=sys.stderr)

    scale = config.scale
    result = replay_scale_log(args.replay, scale.protocol, scale.offset, scale.counts_per_gram,
                              config.weighing, on_problem=problem, capacity_g=scale.capacity_g)
    for change in result.changes:
        print(_change_json(change) if args.json else _change_text(change), flush=False)
    sys.stdout.flush()
    if result.malformed > MAX_PROBLEMS_SHOWN:
        print(f"dashcart weigh: {args.replay}: {result.malformed} malformed lines in all (first "
              f"{MAX_PROBLEMS_SHOWN} shown)", file=sys.stderr)
    counters = result.counters
    log.info("%s: %s", args.replay, counters.as_dict())
    if result.slow:
        print(f"dashcart weigh: {args.replay}: {result.slow}", file=sys.stderr)
    if counters.readings == 0:   # nothing weighed: not an empty answer to give with success
        hint = f"in {counters.lines} lines (is it the other protocol? try --protocol)" if counters.lines else \
            "(every line was malformed)" if result.malformed else "(the log is empty)"
        print(f"dashcart weigh: {args.replay}: no {scale.protocol} readings {hint}", file=sys.stderr)
        return 1
    return 0


def counters_line(counters: dict[str, int]) -> str:
    """The scale's counters in one line for a person (the ones that are not zero matter)."""
    c = counters
    parts = [f"{c.get('lines', 0)} lines", f"{c.get('readings', 0)} readings", f"{c.get('corrupt', 0)} corrupt"]
    parts.append(f"{c.get('lost_readings', 0)} readings lost in {c.get('seq_gaps', 0)} gaps")
    for key, label in (("resyncs", "resyncs"), ("duplicates", "duplicates"), ("saturated", "saturated"),
                       ("bridge_errors", "scale errors"), ("refused", "commands refused"),
                       ("reboots", "reboots"), ("reconnects", "reconnects"), ("silences", "silences")):
        if c.get(key):
            parts.append(f"{c[key]} {label}")
    return ", ".join(parts)


def _live(args: argparse.Namespace, config: Config) -> int:
    from dashcart.core.weighing import WeighingEngine, feed_decoded
    from dashcart.runtime.devices import open_scale

    scale_cfg = config.scale
    engine = WeighingEngine(scale_cfg.offset, scale_cfg.counts_per_gram, config.weighing, scale_cfg.capacity_g)
    # times printed are seconds since the command started, like a scale.log's clock
    t0 = time.monotonic()
    deadline = None if args.duration is None else t0 + args.duration
    pending = "zero" if args.zero else "tare" if args.tare else ""
    with open_scale(config) as scale:
        print(f"dashcart weigh: watching {scale.describe()}" + ("" if args.json else "; Ctrl-C stops"),
              file=sys.stderr)
        ever_connected = warned = False
        shown_state = "ok"
        while deadline is None or time.monotonic() < deadline:
            wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            items = scale.read(timeout=wait)
            ever_connected = ever_connected or scale.connected
            counters = scale.counters
            if not warned and (counters.bytes_received >= 200 and not counters.readings
                               or counters.corrupt >= 50 and counters.corrupt > 10 * counters.readings):
                warned = True
                print(f"dashcart weigh: {scale.describe()}: {counters.bytes_received} bytes, "
                      f"{counters.corrupt} corrupt lines, {counters.readings} readings: "
                      f"wrong baud rate or protocol?", file=sys.stderr)
            health = getattr(scale, "health", None)
            if ever_connected and health is not None and health.state != shown_state:
                shown_state = health.state
                print(f"dashcart weigh: scale {health.state}: {health.message} ({counters_line(counters.as_dict())})",
                      file=sys.stderr)
            for change in feed_decoded(engine, items):
                print(_change_json(change, t0) if args.json else _change_text(change, t0), flush=True)
            if pending and scale.connected and counters.readings:
                pending = _zero_or_tare(pending, scale, engine)
        print(f"dashcart weigh: {counters_line(scale.counters.as_dict())}", file=sys.stderr)
        if not ever_connected:
            raise RetryLater(f"{scale_cfg.port or scale.describe()}: could not open the scale: "
                             f"{getattr(scale, 'last_error', '') or 'no connection'}")
        if not scale.counters.readings:
            raise RetryLater(f"{scale.describe()}: open, but no readings came: is the scale powered and "
                             f"streaming, at {scale_cfg.baudrate} baud and speaking {scale_cfg.protocol}?")
    return 0


def _zero_or_tare(what: str, scale: object, engine: object) -> str:
    """Zero or tare once: a trade scale does it itself (Z / T; its answer re-references the
    engine); for the bridge the engine does, once the load is at rest. Returns what is still
    pending ("" when done)."""
    if getattr(scale, "protocol", "") == "mt-sics":
        sent = getattr(scale, what)()
        if sent:
            print(f"dashcart weigh: sent {'Z' if what == 'zero' else 'T'} to the scale", file=sys.stderr)
        return "" if sent else what
    if getattr(engine, what)():
        print(f"dashcart weigh: {'zeroed' if what == 'zero' else 'tared'} at rest", file=sys.stderr)
        return ""
    return what


def run(args: argparse.Namespace, config: Config) -> int:
    config = _scale_config(args, config)
    if args.replay:
        return _replay(args, config)
    return _live(args, config)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "weigh", parents=[common], help="print settled weight changes (recorded scale.log or live scale)",
        description="Print every settled change of the load: from a recorded scale.log (--replay), "
                    "or live from the scale (--port, else the configured scale; by default the "
                    "simulated one).")
    parser.add_argument("--replay", metavar="SCALE_LOG",
                        help="a recorded scale.log or trip directory (dashcart-trip/1); a trip.json beside "
                             "it gives the protocol and calibration unless the flags below do")
    parser.add_argument("--port", metavar="URL", help="a serial device or pyserial URL of a live scale")
    parser.add_argument("--baudrate", type=int, help="serial speed (default: scale.baudrate)")
    parser.add_argument("--protocol", choices=("hx711-bridge", "mt-sics"), help="default: scale.protocol")
    parser.add_argument("--offset", type=int, help="raw count at zero load (default: scale.offset)")
    parser.add_argument("--counts-per-gram", type=float, help="default: scale.counts_per_gram")
    parser.add_argument("--duration", type=float, metavar="S", help="live: stop after S seconds")
    zero = parser.add_mutually_exclusive_group()
    zero.add_argument("--zero", action="store_true",
                      help="live: zero the scale first (a trade scale is sent Z; the bridge is zeroed at rest)")
    zero.add_argument("--tare", action="store_true",
                      help="live: tare the load on the scale first (a trade scale is sent T)")
    parser.add_argument("--json", action="store_true", help="one JSON object per settled change on stdout")
    parser.set_defaults(func=run)
