"""``dashcart catalogue import FILE.csv`` and ``dashcart catalogue show [CODE]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dashcart.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    from dashcart.core.catalogue import Catalogue, CatalogueInvalid, import_catalogue

    db = Path(args.db) if args.db else config.catalogue_db()
    if args.action == "import":
        try:
            count = import_catalogue(args.file, db, args.images or config.catalogue.images or None)
        except CatalogueInvalid as exc:
            for line in exc.lines():
                print(line, file=sys.stderr)
            print(f"dashcart catalogue: {len(exc.problems)} problem(s) in {exc.source}; the catalogue at {db} is unchanged",
                  file=sys.stderr)
            return exc.exit_code
        print(f"imported {count} products into {db}")
        print(_seed_gallery(db, config))
        return 0
    catalogue = Catalogue.open(db)
    products = [p for p in catalogue if not args.code or p.code in args.code]
    if args.json:
        for p in products:
            print(json.dumps({"code": p.code, "name": p.name, "sold_by": p.sold_by, "price_cents": p.price_cents,
                              "unit_weight_g": p.unit_weight_g, "unit_weight_sd_g": p.unit_weight_sd_g,
                              "zone": p.zone, "gsd_class": p.gsd_class, "image": p.image}))
        return 0
    for p in products:
        per = "/kg" if p.by_weight else ""
        print(f"{p.code:>13}  {p.name:<40} {p.price_cents:>6}{per:<3}  {p.unit_weight_g:>7.0f} g ±{p.unit_weight_sd_g:<4.0f} {p.zone}")
    print(f"{len(products)} of {len(catalogue)} products, {db}", file=sys.stderr)
    return 0


def _seed_gallery(db: Path, config: Config) -> str:
    """Put the recognizer's shipped prototypes into the catalogue's gallery, each class under
    the code of the product whose ``gsd_class`` it is; products enrolled with ``dashcart
    enroll`` keep theirs. A missing or broken model only means no gallery: barcodes, weight
    and touch still work, so the import itself stands."""
    import sqlite3

    from dashcart.core.catalogue import Catalogue
    from dashcart.core.vision import gallery
    from dashcart.core.vision.recognizer import DEFAULT_MODEL, DEFAULT_PROTOTYPES, read_sidecar
    from dashcart.errors import DashcartError

    model = Path(config.vision.model) if config.vision.model else DEFAULT_MODEL
    prototypes = model.with_name(DEFAULT_PROTOTYPES.name)
    mapping = {p.gsd_class: p.code for p in Catalogue.open(db) if p.gsd_class}
    if not mapping:
        return "gallery: no product has a gsd_class; teach the recognizer with `dashcart enroll CODE IMAGE...`"
    if not prototypes.is_file():
        return f"gallery: no {prototypes.name} beside {model}; teach the recognizer with `dashcart enroll CODE IMAGE...`"
    try:
        version = str(read_sidecar(model)["version"])
        conn = sqlite3.connect(db)
        try:
            added = gallery.import_prototypes(conn, prototypes, version, mapping)
        finally:
            conn.close()
        known = set(gallery.read_prototypes(prototypes)[0])
    except (DashcartError, sqlite3.Error) as exc:
        return f"gallery: not updated: {exc}"
    unknown = sorted(name for name in mapping if name not in known)
    line = (f"gallery: {sum(added.values())} new prototypes of model {version} for "
            f"{len(mapping) - len(unknown)} products")
    if unknown:
        # a typo in gsd_class leaves a product the cameras can never name: say which
        line += (f"; no pictures for gsd_class {unknown[0]!r} (product {mapping[unknown[0]]})"
                 + (f" and {len(unknown) - 1} more" if len(unknown) > 1 else "")
                 + f": not a class of model {version} (a Grocery Store Dataset class name), or enroll photos "
                   "with `dashcart enroll CODE IMAGE...`")
    return line


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("catalogue", parents=[common], help="import or show the product catalogue",
                                   description="Import the store's product CSV into the cart's catalogue (checked "
                                               "row by row; a bad file changes nothing), or list what is in it.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    # --config and -v after the action too. Not ``parents=[common]``: an action's own defaults
    # would overwrite what was given before it (`catalogue --config F import x.csv`).
    again = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    again.add_argument("--config", metavar="FILE", help="config file (also accepted before ACTION)")
    again.add_argument("-v", "--verbose", action="count", help="more log output on stderr")
    imp = actions.add_parser("import", parents=[again], help="replace the catalogue with a checked CSV")
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--db", metavar="PATH", help="catalogue database (default: catalogue.db in the state dir)")
    imp.add_argument("--images", metavar="DIR", help="Grocery Store Dataset root, for product pictures")
    show = actions.add_parser("show", parents=[again], help="list products")
    show.add_argument("code", nargs="*", help="only these codes")
    show.add_argument("--db", metavar="PATH")
    show.add_argument("--json", action="store_true", help="one JSON object per product")
    parser.set_defaults(func=run)
