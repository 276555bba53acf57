"""Fit the recognizer's calibration (fusion.recognizer_temperature, recognizer_reliability)
on the crops of generated trips, show how well calibrated it then is, and measure how alike
the *looks* of basket items are to what leaves (prints; not a test).

    python -m bench.fit_recognizer_calibration [--trips 80] [--seed 5000] [--keep DIR] [--jobs 2] [--split calib]

The trips are built from the photos of the ``calib`` split of training/gsd_data.splits: held
out of the model and its gallery, and apart from the ``test`` photos bench_fusion.py measures
on, so the calibration is never fitted on what measures it. Each trip has a camera of its own
and hands over the items, as in the fusion bench.

The recognizer's scores are cosine similarities; fusion turns the candidates into
probabilities with ``p = reliability * gate(best score) * softmax(score / T)``, ``gate`` a
logistic (``score_mid``, ``score_width``; dashcart.core.controller.calibrated_candidates). Each
generated trip is replayed through the cart's own vision pipeline and every recognition of
an item going *in* is paired with what the truth says went in. (T, r, mid, width) are chosen by maximum
likelihood of the true product: ``r * gate * softmax`` when it is among the candidates, and the
remaining ``1 - r * gate`` spread over the rest of the catalogue when it is not. Re-run this for
every new model, crop size or gallery method, and put the result in the config defaults; then
choose ``fusion.recognizer_min_score`` and ``recognizer_produce_score`` from the table of how
often the first candidate is right at each calibrated probability.

Looks (dashcart.core.appearance): for every removal the cameras saw, the similarity of what left to each
basket item's look, split into "the same product" and "another product". Fusion's
``LOOK_PLAIN`` must stay above what other products reach, or a look-alike carton of equal
weight is taken out of the bill in place of the one that left.

Use a seed range the fusion bench does not use (its default is 1000), so the calibration is
not fitted on the trips that measure it.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.bench_fusion import catalogue_and_images
from dashcart.core.appearance import look_similarity
from dashcart.core.controller import calibrated_candidates
from dashcart.core.fusion import LOOK_PLAIN, LOOK_SURE
from dashcart.events import ItemRecognized
from dashcart.trips.format import read_trip
from dashcart.trips.generator import ShopperOracle, TripMix, generate_trip, load_truth, question_action
from dashcart.trips.replay import default_vision, replay

REPO = Path(__file__).resolve().parent.parent

TEMPERATURES = [0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3]
LOOK_STEPS = [0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
RELIABILITIES = [0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
SCORE_MIDS = [0.0] + [round(0.3 + 0.025 * i, 3) for i in range(23)]    # 0: reliability constant
SCORE_WIDTHS = [0.01, 0.02, 0.03, 0.05, 0.08]


class RecordingVision:
    """The vision port, passing everything through and keeping the recognitions, each with
    the basket's lines (code, look) as they were when it was made."""

    def __init__(self, inner, oracle):
        self.inner = inner
        self.oracle = oracle
        self.controller = None
        self.seen: list[tuple[ItemRecognized, list[tuple[str, str | None]]]] = []

    def __call__(self, controller, t):
        # The replay asks the shopper after every event: that is where the controller shows.
        self.controller = controller
        return self.oracle(controller, t)

    def feed(self, camera_id, t, frame):
        return self.inner.feed(camera_id, t, frame)

    def on_settled(self, change):
        events = self.inner.on_settled(change)
        lines = [(i.code, i.look) for i in self.controller.basket.items] if self.controller else []
        self.seen += [(e, lines) for e in events if isinstance(e, ItemRecognized)]
        return events


def log_likelihood(samples, temperature: float, reliability: float, n_products: int,
                   score_mid: float = 0.0, score_width: float = 0.05) -> float:
    total = 0.0
    for candidates, truth in samples:
        probs = dict(calibrated_candidates(candidates, temperature, reliability, score_mid, score_width))
        p = probs.get(truth)
        if p is None:
            r = sum(probs.values())   # the chance the truth is among them, as calibrated
            p = (1.0 - r) / max(n_products - len(candidates), 1)
        total += math.log(max(p, 1e-12))
    return total


def fit(samples, n_products: int) -> tuple[float, float, float, float, float]:
    """Maximum likelihood (T, reliability, score_mid, score_width) over a grid, vectorized:
    (mean log-likelihood, T, r, mid, width); mid 0 is the constant reliability."""
    k = max(len(c) for c, _ in samples)
    scores = np.full((len(samples), k), -np.inf)
    truth_at = np.full(len(samples), -1)
    for i, (candidates, truth) in enumerate(samples):
        scores[i, :len(candidates)] = [score for _, score in candidates]
        codes = [code for code, _ in candidates]
        truth_at[i] = codes.index(truth) if truth in codes else -1
    counts = np.array([len(c) for c, _ in samples])
    top = scores.max(axis=1)
    found = truth_at >= 0
    best = (-np.inf, 0.0, 0.0, 0.0, 0.05)
    for temperature in TEMPERATURES:
        weights = np.exp((scores - top[:, None]) / temperature)
        share = np.where(found, weights[np.arange(len(samples)), np.maximum(truth_at, 0)] / weights.sum(axis=1), 0.0)
        for mid in SCORE_MIDS:
            for width in (SCORE_WIDTHS if mid > 0 else (0.05,)):
                gate = 1.0 / (1.0 + np.exp(-(top - mid) / width)) if mid > 0 else np.ones_like(top)
                for reliability in RELIABILITIES:
                    r = reliability * gate
                    p = np.where(found, r * share, (1.0 - r) / np.maximum(n_products - counts, 1))
                    ll = float(np.log(np.maximum(p, 1e-12)).mean())
                    if ll > best[0]:
                        best = (ll, temperature, reliability, float(mid), width)
    return best


@dataclass
class TripCrops:
    samples: list[tuple[tuple[tuple[str, float], ...], str]] = field(default_factory=list)  # (candidates, truth)
    same: list[float] = field(default_factory=list)     # what left against its own product's lines (best)
    other: list[float] = field(default_factory=list)    # ... against every line of another product
    removals: int = 0


def trip_crops(job: tuple[Path, Path, int, int, str, int]) -> TripCrops:
    """Generate (unless kept) and replay one trip; what its recognitions said, with the truth."""
    work, data, seed, events, split, cameras = job
    catalogue, images = catalogue_and_images(data, split)
    trip_dir = work / f"trip-{seed}"
    if not (trip_dir / "truth.json").is_file():
        shutil.rmtree(trip_dir, ignore_errors=True)
        generate_trip(trip_dir, catalogue, data / "grocery-store", seed, events=events, images=images, split=split,
                      mix=TripMix(plu_entered=0.5, plu_entered_by_weight=0.0), cameras=cameras)
    truth = load_truth(trip_dir)
    vision = RecordingVision(default_vision(read_trip(trip_dir).cameras, catalogue), ShopperOracle(truth))
    replay(trip_dir, catalogue=catalogue, vision=vision, oracle=vision)
    out = TripCrops()
    for rec, lines in vision.seen:
        action = question_action(truth, rec.t)
        if action is None:
            continue
        if rec.direction == "removed" and action.kind == "remove" and rec.look:
            out.removals += 1
            own = [v for code, look in lines if code == action.code
                   for v in [look_similarity(look, rec.look)] if v is not None]
            if own:
                out.same.append(max(own))
            out.other += [v for code, look in lines if code != action.code
                          for v in [look_similarity(look, rec.look)] if v is not None]
        elif rec.direction == "added" and action.kind == "add" and rec.candidates:
            out.samples.append((rec.candidates, action.code))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trips", type=int, default=80)
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--keep", metavar="DIR", help="keep (and reuse) the generated trips here")
    parser.add_argument("--jobs", type=int, default=1, help="trips replayed at once, one process each")
    parser.add_argument("--split", default="calib", choices=("calib", "test", "train"),
                        help="the photos the trips are built from (default: calib; never fit on test)")
    parser.add_argument("--cameras", type=int, default=1, choices=(1, 2),
                        help="cameras per trip (2: a rear camera too; each camera's crop is one sample)")
    args = parser.parse_args()

    data = Path(args.data)
    catalogue, _ = catalogue_and_images(data, args.split)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dashcart-calib-"))
    work.mkdir(parents=True, exist_ok=True)
    jobs = [(work, data, args.seed + i, args.events, args.split, args.cameras) for i in range(args.trips)]
    samples: list[tuple[tuple[tuple[str, float], ...], str]] = []
    same: list[float] = []
    other: list[float] = []
    removals = 0
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for i, crops in enumerate(pool.imap(trip_crops, jobs)):
            samples += crops.samples
            same += crops.same
            other += crops.other
            removals += crops.removals
            print(f"\r{i + 1}/{args.trips} trips, {len(samples)} crops", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    by_group: dict[str, list[int]] = {}
    for i, (_, code) in enumerate(samples):
        group = "produce" if catalogue.get(code).group in ("Fruit", "Vegetables") else "cartons"
        by_group.setdefault(group, []).append(i)
    if not samples:
        print("no recognitions of added items: is the recognizer installed?")
        return 1

    n_products = len(list(catalogue))
    top1 = sum(c[0][0] == t for c, t in samples) / len(samples)
    top5 = sum(t in [code for code, _ in c[:5]] for c, t in samples) / len(samples)
    print(f"recognizer calibration: {len(samples)} crops of items going in, {args.trips} trips from seed {args.seed}, "
          f"photos of split '{args.split}'")
    print(f"true product first {100 * top1:.1f} %, among the first five {100 * top5:.1f} %")
    for group, idx in sorted(by_group.items()):
        g1 = sum(samples[i][0][0][0] == samples[i][1] for i in idx) / len(idx)
        print(f"  {group}: {len(idx)} crops, first {100 * g1:.1f} %")
    constant = max((log_likelihood(samples, t, r, n_products), t, r) for t in TEMPERATURES for r in RELIABILITIES)
    print(f"constant reliability: recognizer_temperature = {constant[1]}, recognizer_reliability = {constant[2]} "
          f"(mean log-likelihood {constant[0] / len(samples):.3f})")
    ll, temperature, reliability, score_mid, score_width = fit(samples, n_products)
    print(f"maximum likelihood: recognizer_temperature = {temperature}, recognizer_reliability = {reliability}, "
          f"recognizer_score_mid = {score_mid}, recognizer_score_width = {score_width} (mean log-likelihood {ll:.3f})")
    print(f"\n{'best similarity':>26} {'crops':>6} {'first right':>12} {'among them':>11}")
    for lo, hi in ((0.0, 0.4), (0.4, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)):
        idx = [i for i, (c, _) in enumerate(samples) if lo <= c[0][1] < hi]
        if idx:
            first = sum(samples[i][0][0][0] == samples[i][1] for i in idx) / len(idx)
            among = sum(samples[i][1] in [code for code, _ in samples[i][0]] for i in idx) / len(idx)
            print(f"{f'{lo:.1f}-{min(hi, 1.0):.1f}':>26} {len(idx):6d} {100 * first:11.1f}% {100 * among:10.1f}%")

    # How often the first candidate is right, by the probability calibration gives it.
    print(f"\n{'calibrated p of the first':>26} {'crops':>6} {'first right':>12}")
    edges = [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001]
    rows = [[0, 0] for _ in edges[:-1]]
    for candidates, truth in samples:
        code, p = calibrated_candidates(candidates, temperature, reliability, score_mid, score_width)[0]
        k = next(j for j in range(len(edges) - 1) if edges[j] <= p < edges[j + 1])
        rows[k][0] += 1
        rows[k][1] += code == truth
    for j, (n, right) in enumerate(rows):
        if n:
            print(f"{f'{edges[j]:.2f}-{min(edges[j + 1], 1.0):.2f}':>26} {n:6d} {100 * right / n:11.1f}%")

    # What fusion.recognizer_min_score (the recognizer alone identifies an item) and
    # recognizer_produce_score (it alone names produce sold by weight) are chosen from: the
    # least p at which the first candidate is right 99 % of the time, or every time.
    print(f"\n{'calibrated p of the first':>26} {'first sold by weight: right':>28} {'any other: right':>17}")
    for least in (0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99):
        counts = {True: [0, 0], False: [0, 0]}
        for candidates, truth in samples:
            code, p = calibrated_candidates(candidates, temperature, reliability, score_mid, score_width)[0]
            if p >= least:
                tally = counts[catalogue.get(code).by_weight]
                tally[0] += 1
                tally[1] += code == truth
        print(f"{f'>= {least:.2f}':>26} {f'{counts[True][1]} / {counts[True][0]}':>28} "
              f"{f'{counts[False][1]} / {counts[False][0]}':>17}")

    print(f"\nlooks: {removals} removals seen by a camera; what left against the basket's lines")
    for name, values in (("its own product", same), ("another product", other)):
        if not values:
            continue
        v = np.sort(np.asarray(values))
        q = {f"p{k}": float(np.percentile(v, k)) for k in (50, 90, 99)}
        print(f"  {name:16} {len(v):6d} pairs: median {q['p50']:.2f}, p90 {q['p90']:.2f}, p99 {q['p99']:.2f}, "
              f"max {v[-1]:.2f}; at or above " + ", ".join(f"{x:.2f}: {int((v >= x).sum())}" for x in LOOK_STEPS))
    print(f"  (fusion: LOOK_PLAIN {LOOK_PLAIN}, LOOK_SURE {LOOK_SURE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
