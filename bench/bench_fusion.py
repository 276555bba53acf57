"""Fusion accuracy and replay speed over generated trips that cannot flatter the cart
(prints a table; not a test).

    python -m bench.bench_fusion [--trips 200] [--seed 1000] [--min-events 10] [--max-events 40] [--jobs 2]
                                 [--split test] [--plu 0.5] [--plu-by-weight 0.0] [--no-unattended]
                                 [--cameras 1|2] [--swaps 0.15] [--rearranges 0.3]

Each trip is generated (dashcart.trips.generator) from the photos of one split of the Grocery
Store Dataset (``--split test``: held out of the model, its gallery and its calibration; the
bench checks every photo a trip used against the training split), with a camera of its own
(height, tilt, exposure, white balance, focus, noise) and with ``--cameras 2`` a rear camera of
its own too (the basket seen from its other end), hands over the items, produce by
weight mostly without a PLU (``--plu-by-weight``), the simulated scale's wire lines and the
beacons. It is replayed through the cart's own code (dashcart.trips.replay: decoder,
weighing engine, vision, controller, fusion, journal) twice:

* answered: a shopper who knows what they did answers every question 1.5 s after it shows
  (``ShopperOracle``); the final basket against the truth is "exact with answers";
* unattended (unless ``--no-unattended``): nobody answers, as ``dashcart replay TRIP --json``
  runs; a trip is "exact unattended" when its basket is right and no question is left open.

With ``--swaps P`` the shopper also swaps a unit in the basket for a product of about its
weight in one motion on a share P of actions (no change for the scale: the cart can only flag
it for staff); the bench counts the swaps flagged (``possible_swap``) and, on every trip, the
flags where no swap was made (false alarms); ``--rearranges P`` has an honest shopper move a
unit within the basket on a share P of actions, what a flag must not take for a swap.

Per kind of event (barcode / unit without a barcode / produce by weight / removal, each with
or without a PLU entered), the answered replay's first decision is counted: committed
right, committed wrong, asked, or missed (no decision); for every question, the rank of the
truth among the candidates shown (one tap when it is in the first three). Replay time is
the process CPU time of the answered replay alone, on one core (each of ``--jobs`` worker
processes replays its trips on one core of its own).
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dashcart.core.catalogue import Catalogue
from dashcart.core.controller import ControllerSettings
from dashcart.core.fusion import FusionParams
from dashcart.events import ItemRecognized
from dashcart.trips.format import read_trip
from dashcart.trips.generator import (
    ProductImages,
    ShopperOracle,
    TripMix,
    Truth,
    basket_of,
    compare,
    generate_trip,
    load_truth,
    split_photos,
)
from dashcart.trips.replay import default_vision, replay

REPO = Path(__file__).resolve().parent.parent

OUTCOMES = ("right", "wrong", "asked", "missed")
KINDS = ("barcode", "carton, barcode hidden", "unit produce, PLU entered", "unit produce, no PLU",
         "produce by weight, PLU entered", "produce by weight, no PLU", "removal", "swap in one motion (out, in)")
RANKS = ("1", "2", "3", "4-5", "not shown")
SWAP_LOOK_S = 3.0   # a possible_swap note this long after a swap's load came to rest is about it
# Why the truth was not among a question's first three candidates, checked in this order.
MISSES = ("no crop", "crop at the frame's edge (a hand, an arm)", "not among the recognizer's candidates",
          "recognizer's 4th-5th, not lifted", "recognizer's first three, pushed down (weight, zone, priors)")


@dataclass
class TripOutcome:
    seed: int
    events: int = 0
    questions: int = 0
    exact: bool = False
    silent: int = 0
    wrong_commits: int = 0
    paid: bool = False
    unattended: bool = False
    exact_unattended: bool = False
    silent_unattended: int = 0
    wrong_commits_unattended: int = 0
    open_unattended: int = 0
    trip_s: float = 0.0
    replay_cpu_s: float = 0.0
    gen_s: float = 0.0
    settled: int = 0
    returned: int = 0
    swaps: int = 0                # swaps in one motion the trip made (--swaps)
    swaps_flagged: int = 0        # ... with a possible_swap note for staff
    swap_flags: int = 0           # possible_swap notes where no swap was made: false alarms
    moves: int = 0                # units an honest shopper moved within the basket (--rearranges)
    frames: int = 0
    vision: bool = False
    photos: int = 0
    photos_outside_split: int = 0
    photos_in_train: int = 0
    photos_in_calib: int = 0
    cameras: list[dict[str, Any]] = field(default_factory=list)   # the trip's CameraSetups (top, rear)
    by_kind: Counter = field(default_factory=Counter)       # (kind, outcome) -> events
    ranks: Counter = field(default_factory=Counter)         # (question kind, rank) -> questions
    misses: Counter = field(default_factory=Counter)        # (question kind, one of MISSES) -> questions
    failure: str | None = None


@dataclass(frozen=True)
class Job:
    seed: int
    events: int
    work: Path
    data: Path
    frame_size: tuple[int, int]
    settings: ControllerSettings
    fusion: FusionParams
    vision: bool
    reuse: bool
    keep: bool
    split: str = "test"
    mix: TripMix = TripMix()
    unattended: bool = True
    cameras: int = 1


@functools.lru_cache(maxsize=2)
def catalogue_and_images(data: Path, split: str = "test") -> tuple[Catalogue, ProductImages]:
    """The demo catalogue and one split's photos, loaded once per worker process (the photos
    keep a cache)."""
    return Catalogue.from_csv(data / "catalogue" / "demo_store.csv"), ProductImages(data / "grocery-store", split)


@functools.lru_cache(maxsize=2)
def photo_sets(data: Path, split: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(the split's photos, the training split's (the model's and its gallery's), the calib
    split's (the recognizer calibration's)), relative to the dataset."""
    root = data / "grocery-store"

    def rel(name: str) -> frozenset[str]:
        return frozenset(str(p.relative_to(root)) for paths in split_photos(root, name).values() for p in paths)
    return rel(split), rel("train"), rel("calib")


def event_kind(catalogue: Catalogue, action: Any) -> str:
    if action.how == "swap":
        return "swap in one motion (out, in)"
    if action.kind == "remove":
        return "removal"
    product = catalogue[action.code]
    if product.code_type != "plu":
        return "barcode" if action.how == "barcode" else "carton, barcode hidden"
    entered = "PLU entered" if action.how == "plu" else "no PLU"
    return f"{'produce by weight' if product.by_weight else 'unit produce'}, {entered}"


def action_index(truth: Truth, t: float) -> int | None:
    """The action a log entry at ``t`` is about: the last one that began at or before it."""
    index = None
    for i, action in enumerate(truth.actions):
        if action.t <= t:
            index = i
        else:
            break
    return index


def first_decisions(truth: Truth, log: list[dict[str, Any]]) -> tuple[dict[int, str], Counter]:
    """Each action's outcome (right | wrong | asked | missed) from the cart's own decisions,
    and the rank of the truth among the candidates of every question."""
    outcome: dict[int, str] = {}
    ranks: Counter = Counter()
    order = {"wrong": 3, "asked": 2, "right": 1}

    def note(i: int, what: str) -> None:
        if order[what] > order.get(outcome.get(i, ""), 0):
            outcome[i] = what

    for entry in log:
        i = action_index(truth, entry["t"])
        if i is None:
            continue
        action = truth.actions[i]
        if entry["type"] in ("added", "removed") and entry.get("by") == "fusion":
            kind = "add" if entry["type"] == "added" else "remove"
            right = action.code == entry["code"] and action.kind == kind and (action.lot or action.qty == entry["qty"])
            note(i, "right" if right else "wrong")
        elif entry["type"] == "answered" and entry.get("resolution") == "taken_out" and "code" not in entry:
            # an unnamed item taken out on the cameras' word: right only for a removal
            note(i, "right" if action.kind == "remove" else "wrong")
        elif entry["type"] == "question" and entry["kind"] != "remove_unknown":
            note(i, "asked")
            codes = entry.get("candidates", [])
            rank = codes.index(action.code) + 1 if action.code in codes else None
            label = "not shown" if rank is None else str(rank) if rank <= 3 else "4-5"
            ranks[(entry["kind"], label)] += 1
    return {i: outcome.get(i, "missed") for i in range(len(truth.actions))}, ranks


class SeenVision:
    """The vision port, passing everything through and keeping what the recognizer said."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: list[ItemRecognized] = []

    def feed(self, camera_id: str, t: float, frame: Any) -> list[Any]:
        return self.inner.feed(camera_id, t, frame)

    def on_settled(self, change: Any) -> list[Any]:
        events = self.inner.on_settled(change)
        self.seen += [e for e in events if isinstance(e, ItemRecognized)]
        return events


def why_missed(truth: Truth, log: list[dict[str, Any]], seen: list[ItemRecognized],
               frame_size: tuple[int, int]) -> Counter:
    """For every question whose first three candidates miss the truth, where it was lost
    (one of MISSES): the cameras saw no change, the crop reached the frame's edge (a hand or an
    arm in it), the recognizer did not name the truth, or fusion ranked it down."""
    w, h = frame_size
    misses: Counter = Counter()
    for entry in log:
        if entry["type"] != "question" or entry["kind"] == "remove_unknown":
            continue
        i = action_index(truth, entry["t"])
        if i is None:
            continue
        code = truth.actions[i].code
        if code in entry.get("candidates", [])[:3]:
            continue
        direction = "added" if entry["delta_g"] > 0 else "removed"
        # the recognitions of this change: stamped with the settle, which the question follows
        mine = [r for r in seen if r.direction == direction and entry["t"] - 1.0 <= r.t <= entry["t"]]
        ranks = [[c for c, _ in r.candidates].index(code) + 1 for r in mine if code in [c for c, _ in r.candidates]]
        if not mine:
            why = MISSES[0]
        elif any(r.box is not None and (r.box[0] <= 0 or r.box[1] <= 0 or r.box[2] >= w or r.box[3] >= h)
                 for r in mine):
            why = MISSES[1]
        elif not ranks:
            why = MISSES[2]
        elif min(ranks) > 3:
            why = MISSES[3]
        else:
            why = MISSES[4]
        misses[(entry["kind"], why)] += 1
    return misses


def run_trip(job: Job) -> TripOutcome:
    catalogue, images = catalogue_and_images(job.data, job.split)
    outcome = TripOutcome(job.seed)
    trip_dir = job.work / f"trip-{job.seed}"
    t0 = time.perf_counter()
    if job.reuse and (trip_dir / "truth.json").is_file():
        truth = load_truth(trip_dir)
    else:
        shutil.rmtree(trip_dir, ignore_errors=True)
        truth = generate_trip(trip_dir, catalogue, job.data / "grocery-store", job.seed, events=job.events,
                              images=images, frame_size=job.frame_size, mix=job.mix, split=job.split,
                              cameras=job.cameras)
    outcome.gen_s = time.perf_counter() - t0
    in_split, in_train, in_calib = photo_sets(job.data, job.split)
    outcome.photos = len(truth.photos)
    outcome.photos_outside_split = sum(p not in in_split for p in truth.photos)
    outcome.photos_in_train = sum(p in in_train for p in truth.photos) if job.split != "train" else 0
    outcome.photos_in_calib = sum(p in in_calib for p in truth.photos) if job.split != "calib" else 0
    outcome.cameras = [c for c in (truth.camera, truth.rear_camera) if c]

    vision = SeenVision(default_vision(read_trip(trip_dir).cameras, catalogue)) if job.vision else None
    c0 = time.process_time()
    result = replay(trip_dir, catalogue=catalogue, settings=job.settings, fusion=job.fusion,
                    vision=vision if vision is not None and vision.inner is not None else False,
                    oracle=ShopperOracle(truth))
    outcome.replay_cpu_s = time.process_time() - c0
    outcome.vision = result.vision
    out = result.as_json()
    cmp = compare(truth, basket_of(out), out["events"])
    outcome.paid = bool(out["checkout"] and out["checkout"]["status"] in ("local", "accepted"))
    outcome.events = len(truth.actions)
    outcome.questions = cmp.questions
    outcome.exact = cmp.exact
    outcome.silent = len(cmp.silent)
    outcome.wrong_commits = cmp.wrong_commits
    outcome.trip_s = truth.duration_s
    outcome.settled = result.settled
    outcome.returned = result.returned
    flags = [e["t"] for e in out["events"] if e.get("type") == "possible_swap"]
    swaps = [a for a in truth.actions if a.how == "swap" and a.kind == "add"]
    matched = {f for f in flags for a in swaps if a.t <= f <= a.rest_t + SWAP_LOOK_S}
    outcome.swaps = len(swaps)
    outcome.moves = truth.moves
    outcome.swaps_flagged = sum(any(a.t <= f <= a.rest_t + SWAP_LOOK_S for f in flags) for a in swaps)
    outcome.swap_flags = len(set(flags) - matched)
    outcome.frames = result.frames
    decisions, outcome.ranks = first_decisions(truth, out["events"])
    if vision is not None:
        outcome.misses = why_missed(truth, out["events"], vision.seen, job.frame_size)
    for i, what in decisions.items():
        outcome.by_kind[(event_kind(catalogue, truth.actions[i]), what)] += 1
    problems = []
    if not cmp.exact or cmp.wrong_commits:
        problems.append(f"answered: wrong {cmp.wrong_codes} silent {cmp.silent} wrong commits {cmp.wrong_commits}")

    if job.unattended:
        alone = replay(trip_dir, catalogue=catalogue, settings=job.settings, fusion=job.fusion,
                       vision=job.vision).as_json()
        cmp_alone = compare(truth, basket_of(alone), alone["events"])
        outcome.unattended = True
        outcome.open_unattended = len(alone["open_questions"])
        outcome.exact_unattended = cmp_alone.exact and not alone["open_questions"]
        outcome.silent_unattended = len(cmp_alone.silent)
        outcome.wrong_commits_unattended = cmp_alone.wrong_commits
        if cmp_alone.silent or cmp_alone.wrong_commits:
            problems.append(f"unattended: silent {cmp_alone.silent} wrong commits {cmp_alone.wrong_commits}")
    if problems:
        outcome.failure = f"trip-{job.seed}: " + "; ".join(problems)
    elif not job.keep:
        shutil.rmtree(trip_dir, ignore_errors=True)
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trips", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--min-events", type=int, default=10)
    parser.add_argument("--max-events", type=int, default=40)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--split", default="test", choices=("test", "calib", "train"),
                        help="the photos trips are built from (default: test, held out of everything)")
    parser.add_argument("--plu", type=float, default=0.5,
                        help="share of unit produce placed after entering its PLU (default 0.5)")
    parser.add_argument("--plu-by-weight", type=float, default=0.0,
                        help="share of produce sold by weight placed after entering its PLU (default 0)")
    parser.add_argument("--swaps", type=float, default=0.0,
                        help="share of actions that swap a unit in the basket for another product of about its "
                             "weight in one motion (a dishonest shopper; default 0: honest trips)")
    parser.add_argument("--rearranges", type=float, default=0.0,
                        help="share of actions where an honest shopper moves a unit to another place in the "
                             "basket (what a swap flag must not take for one; default 0)")
    parser.add_argument("--keep", metavar="DIR", help="keep the trips (and failed ones) here")
    parser.add_argument("--reuse", action="store_true",
                        help="replay the trips already kept in --keep DIR instead of generating them again")
    parser.add_argument("--temperature", type=float, help="fusion.recognizer_temperature (default: the config's)")
    parser.add_argument("--reliability", type=float, help="fusion.recognizer_reliability (default: the config's)")
    parser.add_argument("--score-mid", type=float, help="fusion.recognizer_score_mid (default: the config's)")
    parser.add_argument("--score-width", type=float, help="fusion.recognizer_score_width (default: the config's)")
    parser.add_argument("--commit-probability", type=float, help="fusion.commit_probability (default: the config's)")
    parser.add_argument("--min-score", type=float, help="fusion.recognizer_min_score (default: the config's)")
    parser.add_argument("--veto-score", type=float, help="fusion.recognizer_veto_score (default: the config's)")
    parser.add_argument("--produce-score", type=float,
                        help="fusion.recognizer_produce_score (default: the config's)")
    parser.add_argument("--no-vision", action="store_true")
    parser.add_argument("--no-unattended", action="store_true", help="skip the replay nobody answers")
    parser.add_argument("--frame", default="640x480", help="camera frame size WxH (default: the cameras' default)")
    parser.add_argument("--cameras", type=int, default=1, choices=(1, 2),
                        help="cameras per trip: 2 adds a rear camera of its own set-up (generator.REAR_CAMERA)")
    parser.add_argument("--jobs", type=int, default=1, help="trips replayed at once, one process each")
    args = parser.parse_args()
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep DIR")
    data = Path(args.data)
    if not (data / "grocery-store" / "train.txt").is_file():
        parser.error(f"--data {data}: no grocery-store/train.txt there (the full Grocery Store Dataset)")

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dashcart-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = ControllerSettings()
    if args.temperature is not None:
        settings = replace(settings, recognizer_temperature=args.temperature)
    if args.reliability is not None:
        settings = replace(settings, recognizer_reliability=args.reliability)
    if args.score_mid is not None:
        settings = replace(settings, recognizer_score_mid=args.score_mid)
    if args.score_width is not None:
        settings = replace(settings, recognizer_score_width=args.score_width)
    fusion = FusionParams()
    if args.commit_probability is not None:
        fusion = replace(fusion, commit_probability=args.commit_probability)
    if args.min_score is not None:
        fusion = replace(fusion, recognizer_min_score=args.min_score)
    if args.veto_score is not None:
        fusion = replace(fusion, recognizer_veto_score=args.veto_score)
    if args.produce_score is not None:
        fusion = replace(fusion, recognizer_produce_score=args.produce_score)
    rng = random.Random(args.seed)
    try:
        width, height = (int(v) for v in args.frame.lower().split("x"))
    except ValueError:
        parser.error(f"--frame {args.frame}: expected WxH, e.g. 640x480")
    frame_size = (width, height)
    mix = TripMix(plu_entered=args.plu, plu_entered_by_weight=args.plu_by_weight, swap=args.swaps,
                  rearrange=args.rearranges)
    jobs = [Job(args.seed + i, rng.randint(args.min_events, args.max_events), work, data, frame_size,
                settings, fusion, not args.no_vision, args.reuse, bool(args.keep), args.split, mix, not args.no_unattended,
                args.cameras)
            for i in range(args.trips)]
    outcomes: list[TripOutcome] = []
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for outcome in pool.imap(run_trip, jobs):
            outcomes.append(outcome)
            print(f"\r{len(outcomes)}/{args.trips} trips", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    report(args, settings, fusion, outcomes)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} = {100 * a / b:.1f}%" if b else "-"


def report(args: argparse.Namespace, settings: ControllerSettings, fusion: FusionParams,
           outcomes: list[TripOutcome]) -> None:
    n = len(outcomes)
    total = lambda name: sum(getattr(o, name) for o in outcomes)  # noqa: E731
    events, questions, exact = total("events"), total("questions"), total("exact")
    trip_s, replay_cpu_s = total("trip_s"), total("replay_cpu_s")
    by_kind: Counter = Counter()
    ranks: Counter = Counter()
    misses: Counter = Counter()
    for o in outcomes:
        by_kind.update(o.by_kind)
        ranks.update(o.ranks)
        misses.update(o.misses)
    vision = "on" if outcomes and outcomes[0].vision else "off"
    print(f"dashcart fusion bench: {n} trips, {events} events ({args.min_events}-{args.max_events} per trip), "
          f"seed {args.seed}, vision {vision} ({args.frame} frames, {args.cameras} camera(s) per trip), photos of split "
          f"'{args.split}', PLU entered for {args.plu:.0%} of unit produce and {args.plu_by_weight:.0%} of produce "
          f"by weight, recognizer calibration T {settings.recognizer_temperature} r {settings.recognizer_reliability} "
          f"gate {settings.recognizer_score_mid}/{settings.recognizer_score_width}, "
          f"commit at p >= {fusion.commit_probability}, recognizer identifies at >= {fusion.recognizer_min_score}, "
          f"vetoes at >= {fusion.recognizer_veto_score}, names produce by weight alone at >= "
          f"{fusion.recognizer_produce_score}")
    print(f"photos used: {total('photos')} (per trip, summed), outside split '{args.split}': "
          f"{total('photos_outside_split')}, in the training split (model, gallery): {total('photos_in_train')}, "
          f"in the calib split (calibration): {total('photos_in_calib')}")
    cameras = [c for o in outcomes for c in o.cameras]
    if cameras:
        def spread(key: str) -> str:
            values = [c[key] for c in cameras]
            return f"{min(values):.2f}-{max(values):.2f}"
        print(f"cameras: {len(cameras)} set-ups, an item {spread('item_share')} of the frame's width, exposure "
              f"{spread('gain')}, noise {spread('noise')} grey levels, {sum(any(c['tilt']) for c in cameras)} tilted, "
              f"{sum(c['blur'] > 0 for c in cameras)} out of focus")

    print(f"\n{'event kind (first decision)':<32}{'events':>7}{'right':>8}{'wrong':>7}{'asked':>8}{'missed':>8}"
          f"{'asked %':>9}")
    for kind in KINDS:
        row = [by_kind[(kind, o)] for o in OUTCOMES]
        if sum(row):
            print(f"{kind:<32}{sum(row):>7}{row[0]:>8}{row[1]:>7}{row[2]:>8}{row[3]:>8}"
                  f"{100 * row[2] / sum(row):>8.1f}%")

    def share(kinds: tuple[str, ...], outcome: str) -> tuple[int, int]:
        return (sum(by_kind[(k, outcome)] for k in kinds), sum(by_kind[(k, o)] for k in kinds for o in OUTCOMES))

    unit_kinds = ("barcode", "carton, barcode hidden", "unit produce, PLU entered", "unit produce, no PLU")
    lot_kinds = ("produce by weight, PLU entered", "produce by weight, no PLU")
    asked_units = share(unit_kinds, "asked")
    lots_right, lots_wrong = share(lot_kinds, "right"), share(lot_kinds, "wrong")
    shown = sum(ranks.values())
    top3 = sum(v for (kind, rank), v in ranks.items() if rank in ("1", "2", "3"))
    unattended = [o for o in outcomes if o.unattended]
    print(f"\n{'metric':<52}{'measured':>22}  {'target':<12}")
    rows = [
        ("wrong commits (answered replay)", f"{total('wrong_commits')}", "0"),
        ("silent errors (wrong product, never asked)", f"{total('silent')} in {sum(bool(o.silent) for o in outcomes)} trips",
         "0"),
        ("questions / events, unit products", _pct(*asked_units), "<= 3 %"),
        ("questions / events, all", _pct(questions, events), ""),
        ("produce by weight committed (right)", _pct(*lots_right), ">= 80 %"),
        ("produce by weight committed wrong", f"{lots_wrong[0]}", "0"),
        ("truth among the first 3 candidates of a question", _pct(top3, shown), ">= 95 %"),
        ("final basket exact, questions answered", _pct(exact, n), ">= 99.8 %"),
    ]
    if unattended:
        rows += [
            ("final basket exact and nothing open, unattended", _pct(total("exact_unattended"), len(unattended)), ""),
            ("wrong commits, unattended", f"{total('wrong_commits_unattended')}", "0"),
            ("silent errors, unattended", f"{total('silent_unattended')}", "0"),
            ("questions left open, unattended", f"{total('open_unattended')}", ""),
        ]
    rows += [
        ("replay speed (trip time / replay CPU time)", f"{trip_s / max(replay_cpu_s, 1e-9):.1f}x", ">= 20x"),
        ("trips that paid at the lane (answered)", f"{total('paid')}/{n}", ""),
        ("possible swaps flagged where none was (false alarms)",
         f"{total('swap_flags')} of {total('returned')} returns"
         + (f", {total('moves')} moves" if total("moves") else ""), "0"),
    ]
    if total("swaps"):
        rows.append(("swaps in one motion flagged for staff", _pct(total("swaps_flagged"), total("swaps")), ""))
    for name, value, target in rows:
        print(f"{name:<52}{value:>22}  {target:<12}")
    print("rank of the truth among a question's candidates: " + ", ".join(
        f"{kind} " + " ".join(f"{rank}:{ranks[(kind, rank)]}" for rank in RANKS)
        for kind in sorted({k for k, _ in ranks})))
    if misses:
        print("truth not among a question's first three, where it was lost: " + "; ".join(
            f"{kind} " + ", ".join(f"{why} {misses[(kind, why)]}" for why in MISSES if misses[(kind, why)])
            for kind in sorted({k for k, _ in misses})))
    print(f"trip time {trip_s:.0f} s, replay CPU {replay_cpu_s:.1f} s, generation {total('gen_s'):.1f} s, "
          f"{total('settled')} settled changes, {total('frames')} frames decoded")
    for o in [o for o in outcomes if o.failure][:20]:
        print(f"  look at: {o.failure}")


if __name__ == "__main__":
    sys.exit(main())
