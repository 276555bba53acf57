"""``dashcart store-sim``: the reference store API on this machine, for demos and store engineers."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from dashcart.config import Config
from dashcart.errors import Misconfigured

if TYPE_CHECKING:
    from dashcart.core.catalogue import Catalogue

log = logging.getLogger(__name__)


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise Misconfigured(f"--{what} {value!r}: expected NAME=VALUE")
        out[name] = rest
    return out


def open_store_catalogue(catalogue: str | None, promotions: str | None) -> Catalogue:
    """The catalogue the store prices from: ``--catalogue`` (CSV or imported database), else the
    demo store's (bundled with the package); promotions from ``--promotions``, else the
    ``promotions.csv`` beside the CSV (the demo store has one), else those imported with it."""
    from dashcart.core.catalogue import load_catalogue
    from dashcart.runtime.cart_runtime import find_data_dir

    if catalogue is None:
        data = find_data_dir()
        if data is None or not (data / "catalogue" / "demo_store.csv").is_file():
            raise Misconfigured("store-sim: no demo catalogue found; give --catalogue FILE.csv")
        path = data / "catalogue" / "demo_store.csv"
    else:
        path = Path(catalogue)
    return load_catalogue(path, promotions)


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.config import parse_hex_key
    from dashcart.sim.reference_store import ReferenceStore, StoreServer

    carts = _pairs(args.cart, "cart")
    if not carts:
        if not config.checkout.cart_key:
            raise Misconfigured("store-sim: give --cart ID=HEXKEY, or set checkout.cart_key in the config")
        carts = {config.cart.id: config.checkout.cart_key}
    keys = {}
    for cart_id, text in carts.items():
        try:
            keys[cart_id] = parse_hex_key(text, f"--cart {cart_id}")
        except ValueError as exc:
            raise Misconfigured(str(exc)) from None
    shoppers = _pairs(args.shopper, "shopper")
    catalogue = open_store_catalogue(args.catalogue, args.promotions)
    currency = args.currency or config.cart.currency
    store = ReferenceStore(Path(args.db), keys, shoppers, catalogue=catalogue, currency=currency)
    try:
        server = StoreServer(store, args.host, args.port)
    except OSError as exc:
        raise Misconfigured(f"store-sim: cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    server.start()
    print(f"store API at {server.url}/v1/orders  (orders in {args.db}; prices from {catalogue.source}, "
          f"{len(catalogue.promotions)} promotions, {currency}; Ctrl-C stops)", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        store.close()
    return 0


def port(text: str) -> int:
    """A TCP port for argparse (a number out of range is a usage error, not a traceback)."""
    number = int(text)
    if not 0 <= number <= 65535:
        raise ValueError(text)
    return number


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("store-sim", parents=[common], help="run the reference store API (demo)",
                                   description="Serve the store API of docs/store-api.yaml on this machine: it "
                                               "checks signatures and every field, prices each order itself from "
                                               "its catalogue and promotions, deduplicates by the cart's "
                                               "idempotency key and keeps orders in SQLite.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=8080, help="TCP port (0: any free one)")
    parser.add_argument("--db", default="store.sqlite", help="where the store keeps its orders")
    parser.add_argument("--cart", action="append", default=[], metavar="ID=HEXKEY",
                        help="a cart and its signing key (default: this config's cart.id and checkout.cart_key)")
    parser.add_argument("--shopper", action="append", default=[], metavar="TOKEN=EMAIL",
                        help="a shopper token and where its receipts go; with none, any well-formed token")
    parser.add_argument("--catalogue", metavar="FILE", default=None,
                        help="what the store sells and its prices: a catalogue CSV or imported database "
                             "(default: the demo store's)")
    parser.add_argument("--promotions", metavar="FILE.csv", default=None,
                        help="the store's promotions (default: promotions.csv beside the catalogue; the demo "
                             "store's with the demo catalogue)")
    parser.add_argument("--currency", default="", help="the one currency the store charges in (default: cart.currency)")
    parser.set_defaults(func=run)
