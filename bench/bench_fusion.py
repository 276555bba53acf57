"""Fusion accuracy and replay speed over generated trips (prints a table; not a test).

    python bench/bench_fusion.py [--trips 200] [--seed 1000] [--min-events 10] [--max-events 40] [--jobs 2]

Each trip is generated (dashcart.trips.generator: the simulated scale's wire lines, frames of the
cameras' configured size, 640x480, with EAN-13 labels, beacons, the shopper's answers), replayed through the cart's own code
(dashcart.trips.replay: decoder, weighing engine, vision, controller, fusion, journal) and compared
with its truth. Replay time is the process CPU time of the replay alone, on one core (each
of ``--jobs`` worker processes replays its trips on one core of its own).
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dashcart.core.catalogue import Catalogue  # noqa: E402
from dashcart.core.controller import ControllerSettings  # noqa: E402
from dashcart.trips.replay import replay  # noqa: E402
from dashcart.trips.generator import (ProductImages, ShopperOracle, question_action, basket_of, compare,  # noqa: E402
                          generate_trip, load_truth)


@dataclass
class TripOutcome:
    seed: int
    events: int = 0
    questions: int = 0
    exact: bool = False
    silent: int = 0
    wrong_commits: int = 0
    paid: bool = False
    trip_s: float = 0.0
    replay_cpu_s: float = 0.0
    gen_s: float = 0.0
    settled: int = 0
    frames: int = 0
    vision: bool = False
    question_kinds: Counter = field(default_factory=Counter)
    events_by_how: Counter = field(default_factory=Counter)
    failure: str | None = None


@dataclass(frozen=True)
class Job:
    seed: int
    events: int
    work: Path
    data: Path
    frame_size: tuple[int, int]
    settings: ControllerSettings
    vision: bool
    reuse: bool
    keep: bool


@functools.lru_cache(maxsize=1)
def catalogue_and_images(data: Path) -> tuple[Catalogue, ProductImages]:
    """The demo catalogue and its photos, loaded once per worker process (the photos keep a cache)."""
    return Catalogue.from_csv(data / "catalogue" / "demo_store.csv"), ProductImages(data / "grocery-store")


def run_trip(job: Job) -> TripOutcome:
    catalogue, images = catalogue_and_images(job.data)
    outcome = TripOutcome(job.seed)
    trip_dir = job.work / f"trip-{job.seed}"
    t0 = time.perf_counter()
    if job.reuse and (trip_dir / "truth.json").is_file():
        truth = load_truth(trip_dir)
    else:
        shutil.rmtree(trip_dir, ignore_errors=True)
        truth = generate_trip(trip_dir, catalogue, job.data / "grocery-store", job.seed, events=job.events,
                              images=images, frame_size=job.frame_size)
    outcome.gen_s = time.perf_counter() - t0
    c0 = time.process_time()
    result = replay(trip_dir, catalogue=catalogue, settings=job.settings, vision=job.vision,
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
    outcome.frames = result.frames
    for entry in out["events"]:
        if entry["type"] == "question":
            action = question_action(truth, entry["t"])
            outcome.question_kinds[f"{entry['kind']} after {action.kind if action else '?'}/"
                                   f"{action.how if action else '?'}"] += 1
    outcome.events_by_how.update(f"{a.kind}/{a.how}" for a in truth.actions)
    if not cmp.exact or cmp.wrong_commits:
        outcome.failure = (f"trip-{job.seed}: wrong {cmp.wrong_codes} silent {cmp.silent} "
                           f"wrong commits {cmp.wrong_commits}")
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
    parser.add_argument("--keep", metavar="DIR", help="keep the trips (and failed ones) here")
    parser.add_argument("--reuse", action="store_true",
                        help="replay the trips already kept in --keep DIR instead of generating them again")
    parser.add_argument("--temperature", type=float, help="fusion.recognizer_temperature (default: the config's)")
    parser.add_argument("--reliability", type=float, help="fusion.recognizer_reliability (default: the config's)")
    parser.add_argument("--no-vision", action="store_true")
    parser.add_argument("--frame", default="640x480", help="camera frame size WxH (default: the cameras' default)")
    parser.add_argument("--jobs", type=int, default=1, help="trips replayed at once, one process each")
    args = parser.parse_args()
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep DIR")

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="dashcart-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = ControllerSettings()
    if args.temperature is not None:
        settings = replace(settings, recognizer_temperature=args.temperature)
    if args.reliability is not None:
        settings = replace(settings, recognizer_reliability=args.reliability)
    rng = random.Random(args.seed)
    frame_size = tuple(int(v) for v in args.frame.lower().split("x"))
    jobs = [Job(args.seed + i, rng.randint(args.min_events, args.max_events), work, Path(args.data), frame_size,
                settings, not args.no_vision, args.reuse, bool(args.keep)) for i in range(args.trips)]
    outcomes: list[TripOutcome] = []
    with multiprocessing.get_context("fork").Pool(max(1, args.jobs)) as pool:
        for outcome in pool.imap(run_trip, jobs):
            outcomes.append(outcome)
            print(f"\r{len(outcomes)}/{args.trips} trips", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    report(args, settings, outcomes)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(args: argparse.Namespace, settings: ControllerSettings, outcomes: list[TripOutcome]) -> None:
    n = len(outcomes)
    total = lambda name: sum(getattr(o, name) for o in outcomes)  # noqa: E731
    events, questions, exact = total("events"), total("questions"), total("exact")
    silent, silent_trips = total("silent"), sum(bool(o.silent) for o in outcomes)
    trip_s, replay_cpu_s = total("trip_s"), total("replay_cpu_s")
    kinds, by_how = Counter(), Counter()
    for o in outcomes:
        kinds.update(o.question_kinds)
        by_how.update(o.events_by_how)
    vision = "on" if outcomes and outcomes[0].vision else "off"
    print(f"dashcart fusion bench: {n} trips, {events} events ({args.min_events}-{args.max_events} per trip), "
          f"seed {args.seed}, vision {vision} ({args.frame} frames), recognizer calibration "
          f"T {settings.recognizer_temperature} r {settings.recognizer_reliability}")
    print(f"{'metric':<46}{'measured':>16}  {'target':<12}")
    rows = [
        ("silent errors (wrong product, never asked)", f"{silent} in {silent_trips} trips", "0"),
        ("questions / events", f"{questions}/{events} = {100 * questions / max(events, 1):.2f}%", "<= 3 %"),
        ("final basket exact (answers as shopper would)", f"{exact}/{n} = {100 * exact / max(n, 1):.2f}%", ">= 99.8 %"),
        ("replay speed (trip time / replay CPU time)", f"{trip_s / max(replay_cpu_s, 1e-9):.1f}x", ">= 20x"),
        ("changes committed wrongly by fusion", f"{total('wrong_commits')}", "(0 ideal)"),
        ("trips that paid at the lane", f"{total('paid')}/{n}", ""),
    ]
    for name, value, target in rows:
        print(f"{name:<46}{value:>16}  {target:<12}")
    print(f"events by kind: {', '.join(f'{k} {v}' for k, v in sorted(by_how.items()))}")
    print(f"questions by kind: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items())) or 'none'}")
    print(f"trip time {trip_s:.0f} s, replay CPU {replay_cpu_s:.1f} s, generation {total('gen_s'):.1f} s, "
          f"{total('settled')} settled changes, {total('frames')} frames decoded")
    for o in [o for o in outcomes if o.failure][:20]:
        print(f"  look at: {o.failure}")


if __name__ == "__main__":
    sys.exit(main())
