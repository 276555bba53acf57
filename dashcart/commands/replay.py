"""``dashcart replay TRIP_DIR [--json]``: a recorded trip through the live cart's code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashcart.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.core.fusion import FusionParams
    from dashcart.trips.replay import replay, replay_settings

    fallback = Path(args.catalogue) if args.catalogue else config.catalogue_db()
    settings = replay_settings(config)
    result = replay(args.trip, catalogue_path=fallback, fusion=FusionParams.from_config(config.fusion),
                    settings=settings, weighing=config.weighing, vision=not args.no_vision,
                    on_problem=lambda p: print(f"dashcart replay: {p}", file=sys.stderr), config=config)
    out = result.as_json()
    if args.json:
        print(json.dumps(out))
    else:
        for line in out["basket"]:
            weight = f"{line['weight_g']:.0f} g" if line["weight_g"] is not None else f"x{line['qty']}"
            print(f"{line['code']:>13}  {line['name']:<40} {weight:>8} {line['price_cents']:>8}")
        print(f"{'total':>13}  {'':<40} {'':>8} {out['total_cents']:>8}")
        for q in out["open_questions"]:
            print(f"open question at t={q['t']}: {q['kind']} {', '.join(q['candidates'])}")
        print(f"checkout: {out['checkout']}")
    return 1 if result.problems else 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("replay", parents=[common], help="replay a recorded trip (dashcart-trip/1)",
                                   description="Replay a dashcart-trip/1 recording through the same controller, "
                                               "fusion and basket code the cart runs, on the trip's clock. Problems "
                                               "in the trip are reported on stderr (file and line) and the replay "
                                               "goes on; the exit status is 1 if there were any.")
    parser.add_argument("trip", metavar="TRIP_DIR")
    parser.add_argument("--json", action="store_true", help="print the replay contract's JSON object on stdout")
    parser.add_argument("--catalogue", metavar="PATH",
                        help="catalogue (CSV or imported DB) when trip.json names none (default: the configured one)")
    parser.add_argument("--no-vision", action="store_true", help="ignore frames (weight, beacons and shopper only)")
    parser.set_defaults(func=run)
