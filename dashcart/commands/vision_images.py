"""``dashcart barcode``, ``dashcart identify`` and ``dashcart enroll``: vision on still images.

Each image is handled on its own: an unreadable one gets one line on stderr naming it,
the others are still processed, and the exit status says something went wrong.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dashcart.config import Config
from dashcart.errors import Misconfigured

if TYPE_CHECKING:
    from dashcart.core.vision.gallery import Gallery
    from dashcart.core.vision.recognizer import Recognizer

log = logging.getLogger(__name__)

MIN_CANDIDATES = 5


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("barcode", parents=[common], help="read EAN/UPC barcodes in images",
                              description="Read EAN-13, UPC-A, EAN-8 and UPC-E barcodes in each image.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.add_argument("--no-fallback", action="store_true", help="zxing only (no cv2.barcode for steep angles)")
    p.set_defaults(func=run_barcode)

    p = subparsers.add_parser("identify", parents=[common], help="recognize the product in images",
                              description="Rank the products each image most likely shows (the on-device recognizer).")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    ranked_as = p.add_mutually_exclusive_group()
    ranked_as.add_argument("--catalogue", metavar="CSV",
                           help="report this catalogue's codes (through its gsd_class column); default: the "
                                "cart's own catalogue, as `dashcart run` ranks (the imported catalogue "
                                "database with its enrolled products, else the bundled demo store)")
    ranked_as.add_argument("--catalogue-db", metavar="PATH",
                           help="rank against the gallery stored in this catalogue database (includes enrolled products)")
    ranked_as.add_argument("--classes", action="store_true",
                           help="report the dataset's class names instead of product codes")
    p.add_argument("--model", metavar="TFLITE", help="recognizer model (default: vision.model or the shipped one)")
    p.add_argument("--top", type=int, default=MIN_CANDIDATES, help=f"candidates per image (at least {MIN_CANDIDATES})")
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.set_defaults(func=run_identify)

    p = subparsers.add_parser("enroll", parents=[common], help="teach the recognizer a product from photos",
                              description="Add photos of product CODE to the recognizer's gallery in the catalogue "
                                          "database; no retraining needed.")
    p.add_argument("code", metavar="CODE")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--catalogue-db", metavar="PATH", help="catalogue database (default: <state dir>/catalogue.db)")
    p.add_argument("--model", metavar="TFLITE", help="recognizer model (default: vision.model or the shipped one)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run_enroll)


def _images(paths: list[str]) -> Iterator[tuple[str, Any]]:
    """(path, BGR image or None) per path; None after printing why it can't be read."""
    import cv2
    for path in paths:
        image = cv2.imread(path, cv2.IMREAD_COLOR) if Path(path).is_file() else None
        if image is None:
            reason = ("no such file" if not Path(path).exists() else "is a directory" if Path(path).is_dir()
                      else "not an image OpenCV can read")
            print(f"{path}: {reason}", file=sys.stderr)
        yield path, image


def run_barcode(args: argparse.Namespace, config: Config) -> int:
    from dashcart.core.vision.barcode import BarcodeReader
    reader = BarcodeReader(fallback=config.vision.barcode_fallback and not args.no_fallback)
    failed = False
    for path, image in _images(args.images):
        if image is None:
            failed = True
            continue
        codes = reader.read(image)
        if args.json:
            print(json.dumps({"image": path, "codes": [{"format": c.format, "text": c.text, "gtin13": c.gtin13}
                                                       for c in codes]}), flush=True)
        else:
            print(f"{path}: " + (", ".join(f"{c.format} {c.text} (GTIN {c.gtin13})" for c in codes) or "no barcode"))
    return 1 if failed else 0


def read_gsd_mapping(path: str) -> dict[str, str]:
    """gsd_class -> code from a catalogue CSV, checked as `dashcart catalogue import` checks
    it (rows without a gsd_class are not mapped)."""
    from dashcart.core.catalogue import CatalogueInvalid, parse_catalogue_csv
    try:
        products = parse_catalogue_csv(path)
    except CatalogueInvalid as exc:
        raise Misconfigured(exc.summary()) from None
    return {p.gsd_class: p.code for p in products if p.gsd_class}


def _recognizer(args: argparse.Namespace, config: Config) -> Recognizer:
    from dashcart.core.vision.recognizer import Recognizer
    if args.model and not Path(args.model).is_file():   # a mistyped flag, not a broken install
        raise Misconfigured(f"--model: {args.model}: no such file")
    return Recognizer(args.model or config.vision.model or None, threads=config.vision.threads)


def _open_db(path: str) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise Misconfigured(f"{path}: cannot open the catalogue database: {exc}") from None


def _identify_gallery(args: argparse.Namespace, config: Config, recognizer: Recognizer) -> Gallery:
    """What identify ranks against: the options' choice, else the cart's own gallery."""
    from dashcart.core.vision import gallery as gallery_mod
    from dashcart.core.vision.recognizer import DEFAULT_PROTOTYPES
    from dashcart.runtime.assemble import open_gallery
    from dashcart.runtime.cart_runtime import open_catalogue

    prototypes = recognizer.model_path.with_name(DEFAULT_PROTOTYPES.name)
    if args.catalogue_db:
        gallery = gallery_mod.load_file(args.catalogue_db, recognizer.version)
        if not len(gallery):
            raise Misconfigured(f"{args.catalogue_db}: no gallery for recognizer model {recognizer.version!r} "
                                "(import its prototypes or enroll products first)")
        return gallery
    if args.catalogue or args.classes:
        mapping = read_gsd_mapping(args.catalogue) if args.catalogue else None
        return gallery_mod.prototypes_gallery(prototypes, recognizer.version, mapping)
    catalogue, which = open_catalogue(config)
    log.info("identify: %s", which)
    cart_gallery = open_gallery(recognizer.version, catalogue, config.catalogue_db(), prototypes)
    if cart_gallery is None:
        raise Misconfigured(f"{which}: no product has a gsd_class the recognizer knows "
                            "(pass --catalogue CSV, --catalogue-db PATH or --classes)")
    return cart_gallery


def run_identify(args: argparse.Namespace, config: Config) -> int:
    recognizer = _recognizer(args, config)
    gallery = _identify_gallery(args, config, recognizer)
    k = max(MIN_CANDIDATES, args.top)
    failed = False
    for path, image in _images(args.images):
        if image is None:
            failed = True
            continue
        ranked = gallery.rank(recognizer.embed(image), k)
        if args.json:
            print(json.dumps({"image": path, "candidates": [{"code": code, "score": round(score, 4)}
                                                            for code, score in ranked]}), flush=True)
        else:
            print(f"{path}: " + ", ".join(f"{code} {score:.2f}" for code, score in ranked))
    return 1 if failed else 0


def _check_code_in_catalogue(db: Path, code: str) -> None:
    """A prototype under a code the catalogue lacks could never be sold: refuse it early."""
    if not db.is_file():
        return
    from dashcart.core.catalogue import Catalogue
    try:
        catalogue = Catalogue.open(db)
    except Misconfigured:
        return  # a gallery-only database: nothing to check against
    if len(catalogue) and code not in catalogue:
        raise Misconfigured(f"{code}: not a product in the catalogue at {db} (import the catalogue first)")


def run_enroll(args: argparse.Namespace, config: Config) -> int:
    import numpy as np

    from dashcart.core.vision import gallery as gallery_mod
    recognizer = _recognizer(args, config)
    db = Path(args.catalogue_db) if args.catalogue_db else config.catalogue_db()
    _check_code_in_catalogue(db, args.code)
    vectors, failed = [], False
    for _path, image in _images(args.images):
        if image is None:
            failed = True
            continue
        vectors.append(recognizer.embed(image))
    added = 0
    if vectors:
        db.parent.mkdir(parents=True, exist_ok=True)
        conn = _open_db(str(db))
        try:
            added = gallery_mod.add(conn, args.code, recognizer.version, np.stack(vectors))
            total = conn.execute("SELECT COUNT(*) FROM gallery WHERE code = ? AND model = ?",
                                 (args.code, recognizer.version)).fetchone()[0]
        finally:
            conn.close()
    else:
        total = 0
    if args.json:
        print(json.dumps({"code": args.code, "model": recognizer.version, "added": added,
                          "prototypes": total, "catalogue_db": str(db)}))
    else:
        print(f"{args.code}: {added} photo(s) enrolled for model {recognizer.version} "
              f"({total} in all) in {db}")
    return 1 if failed or not vectors else 0
