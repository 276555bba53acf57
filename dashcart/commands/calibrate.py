"""``dashcart calibrate``: guided tare and known-weight calibration of the HX711 scale.

Interactive by default (it tells you when to empty the basket, when to put the weight on and
when to take it off). With ``--known-grams G --yes`` it runs unattended: it takes the first
stable reading as empty, waits for the load to change and come to rest, and uses that as the
known weight. Then it reads the weight again with the new values, and the basket once more
when the weight is off, and writes ``scale.offset`` and ``scale.counts_per_gram`` to the
config file atomically only when the first reads what was typed and the second reads zero.
A known weight under 1 kg or over the basket's capacity, and a gain far from the previous
calibration's (a weight typed wrong), are refused before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from dashcart.config import DEFAULT_CONFIG_PATH, Config, ScaleSection, update_config_file, write_config
from dashcart.errors import Misconfigured, RetryLater

if TYPE_CHECKING:
    from dashcart.core.scale_calibration import Calibration
    from dashcart.drivers.scale import ScaleDriver

CAPTURE_S = 1.0
OPEN_S = 3.0   # a port that does not open by then (missing, or held by the cart's service) is said at once


def _capture(scale: ScaleDriver, band_counts: float, timeout_s: float, differ_from: float | None = None,
             min_span: float = 0.0, waiting_for: str = "") -> tuple[float, float]:
    """Wait for CAPTURE_S seconds of stable readings; return their mean and noise. With
    ``differ_from``, only a rest at least ``min_span`` counts away from it (``waiting_for``
    says what that is, for the message when none comes)."""
    from dashcart.core.scale_calibration import noise_counts, stable_mean
    from dashcart.readings import Gap, Sample

    scale.read(timeout=0)   # what arrived while the shopper was reading the prompt is stale
    raws: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for item in scale.read(timeout=0.1):
            if isinstance(item, Gap):
                raws.clear()
            elif isinstance(item, Sample) and item.raw is not None and not item.saturated:
                raws.append((item.t, item.raw))
        if not raws or raws[-1][0] - raws[0][0] < CAPTURE_S:
            continue
        while raws[-1][0] - raws[1][0] >= CAPTURE_S:
            raws.pop(0)
        window = [r for _, r in raws]
        mean = stable_mean(window, band_counts)
        if mean is None:
            continue
        if differ_from is not None and abs(mean - differ_from) < min_span:
            continue
        return mean, noise_counts(window)
    if not scale.connected:
        raise RetryLater(f"{scale.describe()}: no readings: {getattr(scale, 'last_error', '') or 'not connected'}")
    if not raws:
        # a mute or hung scale is the scale's trouble, as `dashcart weigh` says, not a bad setting
        health = getattr(scale, "health", None)
        why = f": {health.message}" if health is not None and health.state != "ok" else ""
        raise RetryLater(f"{scale.describe()}: open, but no readings in {timeout_s:g} s{why}")
    what = waiting_for or "stable reading"
    raise Misconfigured(f"{scale.describe()}: no {what} within {timeout_s:g} s; is the basket still, or is the "
                        f"noise wider than --band-counts {band_counts:g}? (counters: {scale.counters.as_dict()})")


def _wait_open(scale: ScaleDriver) -> None:
    """Say at once when the port does not open, rather than after a minute of prompts."""
    deadline = time.monotonic() + OPEN_S
    while not scale.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    if not scale.connected:
        raise RetryLater(f"{scale.describe()}: cannot open it: {getattr(scale, 'last_error', '') or 'not connected'} "
                         "(is the cart running? `sudo systemctl stop dashcart` first; is the cable in?)")


def _known_grams(answer: str, capacity_g: float) -> float | None:
    """The typed weight, or None (said why) when it is not a positive number of grams that can
    be the known weight: asked again, since the empty basket is read already (kilograms typed
    for grams, a digit missing, is a slip of the keyboard, not a reason to start over)."""
    from dashcart.core.scale_calibration import known_weight_problem

    try:
        grams = float(answer)
    except ValueError:
        grams = math.nan
    if not (math.isfinite(grams) and grams > 0):
        print(f"    {answer!r} is not a positive number of grams", file=sys.stdout)
        return None
    problem = known_weight_problem(grams, capacity_g)
    if problem:
        print(f"    {problem}", file=sys.stdout)
        return None
    return grams


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        raise Misconfigured("input ended before calibration finished "
                            "(use --known-grams G --yes to run unattended)") from None


def _target(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.config or config.source or DEFAULT_CONFIG_PATH)


def _known_weight(grams: float, config: Config) -> float:
    """``grams`` when it can be the known weight (at least 1 kg, at most the basket's capacity);
    else refused in one line: it was typed in kilograms, or a digit is missing or too many."""
    from dashcart.core.scale_calibration import known_weight_problem

    problem = known_weight_problem(grams, config.scale.capacity_g)
    if problem:
        raise Misconfigured(f"{problem}; nothing was written")
    return grams


def _previous_gain(config: Config) -> float | None:
    """The gain of the calibration this one replaces: ``scale.counts_per_gram`` when the config
    file sets it (None: it sets none, as the installer writes it; a first calibration)."""
    if not config.source:
        return None
    try:
        scale = tomllib.loads(Path(config.source).read_text(encoding="utf-8")).get("scale")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if not isinstance(scale, dict) or "counts_per_gram" not in scale:
        return None
    return config.scale.counts_per_gram


def _check_gain(result: Calibration, known: float, previous: float | None, args: argparse.Namespace) -> None:
    """Refuse a gain far from the previous calibration's: the weight was typed wrong (kilograms
    for grams, a digit dropped or added), or the basket rests on something, unless the
    engineer says the load cells or the bridge are new (--new-cell)."""
    from dashcart.core.scale_calibration import MAX_GAIN_CHANGE, gain_change

    if previous is None or args.new_cell:
        return
    change = gain_change(result.counts_per_gram, previous)
    if abs(change) <= MAX_GAIN_CHANGE:
        return
    ratio = change + 1.0
    how = (f"{change:+.0%} off" if 0.5 < ratio < 2.0 else f"{ratio:,.0f} times" if ratio >= 10 else f"{ratio:.2g} times")
    raise Misconfigured(f"{abs(result.counts_per_gram):g} counts per gram is {how} the previous "
                        f"calibration's {abs(previous):g}, where the same load cells stay within "
                        f"{MAX_GAIN_CHANGE:.0%}: is {known:g} g the figure on the weight, in grams, and does the basket "
                        "hang free? Run again; nothing was written (new load cells or bridge: --new-cell)")


def _check_direction(result: Calibration, args: argparse.Namespace, config: Config) -> None:
    """Refuse a gain whose sign is not the cell's: the weight was on at step 1, or off at step 2.

    Counts alone cannot tell (cells mounted upside down, or with A+ and A- swapped, read a load
    as fewer counts), so the direction is the configured gain's sign (a file the installer wrote
    has none: the default's, upward) unless --cell says which way the cell reads.
    """
    inverted = args.cell == "inverted" if args.cell else config.scale.counts_per_gram < 0
    if (result.counts_per_gram < 0) == inverted:
        return
    went, way, other = ("up", "fewer", "upright") if inverted else ("down", "more", "inverted")
    raise Misconfigured(f"the reading went {went} when the weight went on, where this load cell reads a "
                        f"load as {way} counts: was the weight already on at step 1, or off at step 2? Run again, "
                        "the basket empty at step 1 and the weight on at step 2; nothing was written (a cell that "
                        f"does read the other way: --cell {other})")


def _read_back(scale: ScaleDriver, result: Calibration, known: float, band: float, timeout_s: float) -> float:
    """Read the known weight again with the new values; refuse them when it is not what was
    typed. Returns the reading (counts)."""
    from dashcart.core.scale_calibration import grams, readback_tolerance_g

    print("3/4 Reading it back with the new calibration (leave the weight on)...", flush=True)
    mean, _ = _capture(scale, band, timeout_s)
    reads = grams(result, mean)
    print(f"    reads {reads:.1f} g with the new calibration (you said {known:g} g)", flush=True)
    allowed = readback_tolerance_g(known, band / abs(result.counts_per_gram))
    if abs(reads - known) > allowed:
        raise Misconfigured(f"the read-back is {reads - known:+.1f} g off the {known:g} g (more than "
                            f"{allowed:.1f} g): the load moved or was still settling; keep the weight still on the "
                            "basket until step 4 asks to take it off, and run again; nothing was written")
    return mean


def _read_zero(scale: ScaleDriver, result: Calibration, known: float, band: float, timeout_s: float,
               loaded: float, interactive: bool) -> None:
    """The weight off: the basket must read zero again with the new values, within the
    read-back's tolerance. Not zero: something was left in the basket or touches it, or the
    load cell creeps (it does not come back after a load): refuse the values."""
    from dashcart.core.scale_calibration import grams, zero_tolerance_g

    if interactive:
        _ask("4/4 Take the weight off (leave the basket as at step 1), then press Enter: ")
        mean, _ = _capture(scale, band, timeout_s)
    else:
        print("4/4 Take the weight off (leave the basket as at step 1); waiting for it to settle...", flush=True)
        # off: the reading has come at least half the weight's way back
        mean, _ = _capture(scale, band, timeout_s, differ_from=loaded, min_span=abs(loaded - result.offset) / 2,
                           waiting_for="stable reading with the weight off (was it taken off?)")
    reads = grams(result, mean)
    print(f"    reads {round(reads, 1) + 0.0:.1f} g with the weight off", flush=True)   # + 0.0: never "-0.0"
    allowed = zero_tolerance_g(known, band / abs(result.counts_per_gram))
    if abs(reads) > allowed:
        raise Misconfigured(f"with the weight off the basket reads {reads:+.1f} g, more than {allowed:.1f} g "
                            "from zero: was the weight still on, something left in the basket or touching it, or does "
                            "the load cell creep (not come back after a load)? Empty the basket, keep it still, and run "
                            "again; nothing was written")


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.core.scale_calibration import MIN_SPAN_COUNTS, calibrate
    from dashcart.runtime.devices import open_scale

    if args.port:
        config = dataclasses.replace(config, scale=dataclasses.replace(config.scale, port=args.port, backend="serial"))
    if config.scale.protocol != "hx711-bridge":
        raise Misconfigured(f"scale.protocol is {config.scale.protocol!r}: a trade scale is calibrated by its "
                            "own service, not by dashcart")
    if args.yes and args.known_grams is None:
        raise Misconfigured("--yes needs --known-grams G (the weight you will put on)")
    if args.known_grams is not None and args.known_grams <= 0:
        raise Misconfigured(f"--known-grams: must be a positive number of grams, got {args.known_grams:g}")
    if args.known_grams is not None:
        _known_weight(args.known_grams, config)
    previous = _previous_gain(config)
    target = _target(args, config)
    band = args.band_counts or config.weighing.motion_band_g * abs(config.scale.counts_per_gram)
    interactive = not args.yes
    out = sys.stdout
    with open_scale(config) as scale:
        print(f"Calibrating {scale.describe()}; the result goes to {target}.", file=out)
        _wait_open(scale)
        if interactive:
            _ask("1/4 Empty the basket (leave the bag hooks as in use), then press Enter: ")
        else:
            print("1/4 Reading the empty basket...", file=out, flush=True)
        empty, noise = _capture(scale, band, args.timeout)
        print(f"    empty: {empty:.0f} counts (noise {noise:.0f})", file=out, flush=True)
        known = args.known_grams
        if interactive:
            while known is None:
                known = _known_grams(_ask("2/4 Put the known weight in the basket (leave it on until step 4), "
                                          "type its weight in grams, press Enter: "), config.scale.capacity_g)
            loaded, _ = _capture(scale, band, args.timeout)
        else:
            print(f"2/4 Put the {known:g} g weight in the basket (leave it on until step 4); waiting for it to "
                  "settle...", file=out, flush=True)
            loaded, _ = _capture(scale, band, args.timeout, differ_from=empty, min_span=MIN_SPAN_COUNTS,
                                 waiting_for="stable changed reading (was the known weight put on?)")
        result = calibrate(empty, loaded, float(known), noise)
        _check_direction(result, args, config)
        _check_gain(result, float(known), previous, args)
        loaded = _read_back(scale, result, float(known), band, args.timeout)
        _read_zero(scale, result, float(known), band, args.timeout, loaded, interactive)
    scale_cfg = dataclasses.replace(config.scale, offset=result.offset, counts_per_gram=result.counts_per_gram)
    if args.port and config.source:
        # --port was for this session only: keep the file's own port and backend
        scale_cfg = dataclasses.replace(scale_cfg, port=_file_scale(config).port, backend=_file_scale(config).backend)
    try:
        if target.exists():
            # Only the two calibration values change; the file's comments and other keys stay.
            update_config_file(target, {"scale": {"offset": result.offset,
                                                  "counts_per_gram": result.counts_per_gram}})
        else:
            write_config(dataclasses.replace(config, scale=scale_cfg), target)
    except OSError as exc:
        # the values cost a minute with a known weight on the scale: say them, to be set by hand
        raise Misconfigured(f"{target}: cannot write the calibration (offset = {result.offset}, counts_per_gram = "
                            f"{result.counts_per_gram:g}): {exc.strerror or exc} "
                            "(run as root, pass --config FILE, or set them in [scale] by hand)") from None
    print(f"Calibrated: offset = {result.offset}, counts_per_gram = {result.counts_per_gram:g}; "
          f"written to {target}", file=out)
    return 0


def _file_scale(config: Config) -> ScaleSection:
    from dashcart.config import load_config

    return load_config(config.source).scale


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "calibrate", parents=[common], help="tare and known-weight calibration of the scale",
        description="Guided calibration: read the empty basket, then a known weight (1 kg up to scale.capacity_g), "
                    "then that weight again with the new values, then the basket with the weight off; when the weight "
                    "reads what was typed and the empty basket zero, write scale.offset and scale.counts_per_gram "
                    "to the config file (--config, else the default file) atomically. A gain more than 10 % from "
                    "the previous calibration's is refused (a weight typed wrong) unless --new-cell.")
    parser.add_argument("--port", metavar="URL", help="calibrate the bridge at this port (default: scale.port)")
    parser.add_argument("--known-grams", type=float, metavar="G",
                        help="the known weight in grams (at least 1000, at most scale.capacity_g)")
    parser.add_argument("--yes", action="store_true",
                        help="no prompts: needs --known-grams; waits for the weight to be put on, then taken off")
    parser.add_argument("--cell", choices=("upright", "inverted"),
                        help="which way the load cell reads: upright (a load raises the count, counts_per_gram "
                             "> 0) or inverted (it lowers it: cells upside down, or A+ and A- swapped); a weight "
                             "that moves the reading the other way is refused (default: as scale.counts_per_gram)")
    parser.add_argument("--new-cell", action="store_true",
                        help="the load cells or the bridge were replaced: accept a gain more than 10 %% from the "
                             "previous calibration's (without it that is refused as a weight typed wrong)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="how long to wait for each stable reading (default 60)")
    parser.add_argument("--band-counts", type=float, metavar="N",
                        help="stable when readings stay within N counts (default: weighing.motion_band_g x "
                             "|counts_per_gram|)")
    parser.set_defaults(func=run)
