"""Tare-and-span calibration of the HX711 scale, from raw readings to ``offset`` and
``counts_per_gram``. Pure: the command gathers the readings, this decides."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from dashcart.errors import Misconfigured

# The known weight must move the reading far beyond the noise, or the gain is a guess.
MIN_SPAN_COUNTS = 200
MIN_SPAN_NOISE = 20.0
# The read-back (the known weight read again with the new values) must agree with the typed
# weight to the larger of these, or of the stable band in grams. Two rests of one load honestly
# differ by the drift that the band lets through (2 g by default, the cart's own motion band; a
# noisy basket's wider --band-counts), by the offset and gain rounded as written, and by the
# cell's creep in the seconds between the captures, a small fraction of 0.5 % of the load. A
# load that moved (lifted, bumped, a hand on the basket) or a capture taken while it was still
# settling is off by more.
READBACK_MIN_G = 3.0
READBACK_SHARE = 0.005
# With the weight off again (step 4) the basket must read zero to the larger of READBACK_MIN_G,
# this share of the weight, or the band: see zero_tolerance_g.
ZERO_SHARE = 0.001
# The known weight must be at least this. The gain carries the captures' error as a share of
# the weight: each capture may be off by up to the drift the stable band lets through (2 g by
# default), 0.2 % of 1 kg, which puts a 1.5 kg item within 3 g, the fusion's own scale noise;
# a 200 g weight would put it 15 g off, and a gain that far off names items wrongly. A trade
# scale's span calibration asks for a tenth of its capacity or more for the same reason (and a
# tenth of the cart's 20 kg, 2 kg, is better still); 1 kg is the smallest test weight a store
# keeps. The floor also catches a weight typed in kilograms ("1" or "2" for a 1 or 2 kg weight)
# and a zero dropped ("100" for 1000 g). Above it, the basket's capacity (scale.capacity_g).
MIN_KNOWN_G = 1000.0
# A recalibration whose gain differs from the calibration it replaces by more than this share
# is refused unless the engineer says the cells or the bridge are new. Nothing in one cart's
# weighing chain moves its sensitivity that far: a load cell's span drifts by hundredths of a
# percent with temperature and age, and the HX711 reads the bridge ratiometrically (its supply
# does not count). A bigger change is a weight typed wrong (10x: a digit added or dropped,
# 10000 for a 1 kg weight; kilograms for grams fall under MIN_KNOWN_G already), a basket
# resting on the frame, or new hardware (cells are made to +-10 % of their rated output, a
# bridge board to its own gain): only the last is right, and only the engineer knows it.
MAX_GAIN_CHANGE = 0.10


@dataclass(frozen=True)
class Calibration:
    offset: int
    counts_per_gram: float


def stable_mean(raws: Sequence[int], band_counts: float) -> float | None:
    """The mean of ``raws`` when, after a 5-point median against glitches, they stay in the band."""
    if len(raws) < 5:
        return None
    filtered = [statistics.median(raws[i - 2:i + 3]) for i in range(2, len(raws) - 2)]
    if max(filtered) - min(filtered) > band_counts:
        return None
    return statistics.fmean(filtered)


def noise_counts(raws: Sequence[int]) -> float:
    filtered = [statistics.median(raws[i - 2:i + 3]) for i in range(2, len(raws) - 2)]
    return statistics.pstdev(filtered) if len(filtered) > 1 else 0.0


def calibrate(empty_mean: float, loaded_mean: float, known_g: float, noise: float = 0.0) -> Calibration:
    """Offset from the empty reading, gain from the known weight. Refuses nonsense."""
    if not math.isfinite(known_g) or known_g <= 0:
        raise Misconfigured(f"known weight: must be a positive number of grams, got {known_g}")
    span = loaded_mean - empty_mean
    needed = max(MIN_SPAN_COUNTS, MIN_SPAN_NOISE * noise)
    if abs(span) < needed:
        raise Misconfigured(f"known weight: {known_g:g} g moved the reading by only {span:+.0f} counts "
                            f"(need at least {needed:.0f}): is it on the basket, and is the load cell wired?")
    counts_per_gram = span / known_g
    if abs(counts_per_gram) > 1e6:
        raise Misconfigured(f"known weight: {known_g:g} g gives {counts_per_gram:.0f} counts per gram, "
                            "beyond any load cell: was the weight entered in grams?")
    offset = int(round(empty_mean))
    if not -8388608 < offset < 8388607:
        raise Misconfigured(f"empty reading {offset} is the HX711's saturation code: check the wiring")
    return Calibration(offset, round(counts_per_gram, 4))


def grams(cal: Calibration, raw_mean: float) -> float:
    """What ``raw_mean`` reads with ``cal``, as the weighing engine converts it."""
    return (raw_mean - cal.offset) / cal.counts_per_gram


def readback_tolerance_g(known_g: float, band_g: float) -> float:
    """How far the read-back of ``known_g`` may be from it (see READBACK_MIN_G)."""
    return max(READBACK_MIN_G, READBACK_SHARE * known_g, band_g)


def zero_tolerance_g(known_g: float, band_g: float) -> float:
    """How far from zero the basket may read once the known weight is off. Tighter than the
    read-back's share of the weight: what a load cell does not give back right after a load
    (creep, hysteresis) is a few hundredths of a per cent of it, while a thing left in the
    basket weighs what it weighs whatever the weight was (25 g left in passes 0.5 % of a
    20 kg weight, not 0.1 %)."""
    return max(READBACK_MIN_G, ZERO_SHARE * known_g, band_g)


def known_weight_problem(known_g: float, capacity_g: float) -> str | None:
    """Why ``known_g`` cannot be the known weight of a basket of ``capacity_g`` (one line), or None."""
    if known_g < MIN_KNOWN_G:
        return (f"a known weight of {known_g:g} g is below the {MIN_KNOWN_G:g} g a precise gain needs: type the "
                f"weight in grams (1 kg is 1000), and use a weight of at least {MIN_KNOWN_G:g} g")
    if known_g > capacity_g:
        return (f"a known weight of {known_g:g} g is more than the basket's capacity ({capacity_g:g} g, "
                "scale.capacity_g): type the figure on the weight, in grams, and use one the basket can hold")
    return None


def gain_change(counts_per_gram: float, previous: float) -> float:
    """How far ``counts_per_gram`` is from the ``previous`` calibration's, as a share of it
    (magnitudes: a cell turned round reads the other way with the same sensitivity)."""
    return abs(counts_per_gram) / abs(previous) - 1.0
