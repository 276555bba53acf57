"""``dashcart outbox``: the orders this cart has placed and whether the store has them."""

from __future__ import annotations

import argparse
import json
import sqlite3

from dashcart.config import Config
from dashcart.errors import PermanentlyBroken


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.core.checkout.outbox import Outbox

    path = config.state_dir() / "outbox.sqlite"
    if not path.exists():
        print(f"no outbox at {path}") if not args.json else None
        return 0
    outbox = Outbox(path)
    try:
        records = outbox.all()
    except sqlite3.DatabaseError as exc:
        # A damaged page past the header: one line for the on-call engineer, never a traceback.
        raise PermanentlyBroken(f"{path}: cannot read the outbox: {' '.join(str(exc).split())}; move it aside "
                                "for the on-call engineer (orders in it have not been lost)") from None
    finally:
        outbox.close()
    for r in records:
        charged = _charged(r.receipt) if r.status == "accepted" else None
        if args.json:
            print(json.dumps({"order_id": r.order_id, "status": r.status, "attempts": r.attempts,
                              "total_cents": r.total_cents, "charged_cents": charged, "last_error": r.last_error}))
        else:
            paid = f"  charged {charged}" if charged is not None and charged != r.total_cents else ""
            print(f"{r.order_id}  {r.status:<8}  {r.total_cents:>8}{paid}  attempts {r.attempts}  {r.last_error}")
    return 0


def _charged(reply: str) -> int | None:
    """What the store charged (its prices), from its stored reply."""
    try:
        total = json.loads(reply).get("total_cents")
    except (ValueError, AttributeError):
        return None
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("outbox", parents=[common], help="list the orders in this cart's outbox",
                                   description="List the orders this cart placed: pending (waiting for the "
                                               "store), accepted, rejected, or local (demo receipt).")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)
