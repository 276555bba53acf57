"""``dashcart lane-eid``: the identifier a lane beacon should broadcast now (provisioning, checks)."""

from __future__ import annotations

import argparse
import json
import time

from dashcart.config import Config
from dashcart.errors import Misconfigured


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.core.lane_auth import current_eid, parse_key, period_counter

    try:
        key = parse_key(config.checkout.lane_key, f"{config.source or 'config'}: checkout.lane_key")
    except ValueError as exc:
        raise Misconfigured(str(exc)) from None
    at = time.time() if args.at is None else args.at
    period = config.checkout.eid_period_s
    for beacon in args.beacon:
        eid = current_eid(key, beacon, at, period)
        if args.json:
            print(json.dumps({"beacon": beacon, "eid": eid, "counter": period_counter(at, period),
                              "period_s": period, "valid_until": (period_counter(at, period) + 1) * period}))
        else:
            print(f"{beacon}: {eid}")
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("lane-eid", parents=[common], help="print the lane beacons' current identifiers",
                                   description="Print the rotating Eddystone-EID identifier each named lane "
                                               "beacon should broadcast now (from checkout.lane_key).")
    parser.add_argument("beacon", nargs="+", help="lane beacon names, as in location.lane (eddystone-eid:<name>)")
    parser.add_argument("--at", type=float, help="Unix time to compute for (default: now)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)
