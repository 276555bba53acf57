"""One assembly of what the controller works with besides events: the lane and zone locator
and the recognizer's gallery, for ``dashcart run``, ``dashcart replay`` and the demo alike.

Written once so a replay of a live trip decides the lane the way the cart did and ranks
against the same gallery (the shipped prototypes plus every product the store enrolled).
"""

from __future__ import annotations

import logging
from pathlib import Path

from dashcart.config import Config, parse_hex_key
from dashcart.core.catalogue import Catalogue
from dashcart.core.lane_auth import EidVerifier
from dashcart.core.location import Locator, Site
from dashcart.core.vision.gallery import Gallery, load_file, prototypes_gallery
from dashcart.core.vision.recognizer import DEFAULT_PROTOTYPES
from dashcart.errors import DashcartError, Misconfigured

log = logging.getLogger(__name__)


def open_locator(config: Config, site: Site | None = None, *, where: str = "",
                 allow_unauthenticated_lane: bool | None = None) -> Locator | None:
    """The locator for ``site`` (default: the config's ``[location]``), with the lane key from
    ``[checkout]`` when the lane has Eddystone-EID beacons; None when the site names no zone
    and no lane. Problems raise one-line :class:`Misconfigured`."""
    source = config.source or "config"
    where = where or f"{source}: location"
    site = Site.from_config(config.location, where) if site is None else site
    if not site.zones and not site.lane:
        return None
    eid_beacons = [key.partition(":")[2] for key in site.lane_keys if key.startswith("eddystone-eid:")]
    verifier = None
    if eid_beacons:
        try:
            key = parse_hex_key(config.checkout.lane_key, f"{source}: checkout.lane_key")
        except ValueError as exc:
            raise Misconfigured(f"{exc}; the lane beacons' identifiers are checked with it") from None
        verifier = EidVerifier(key, eid_beacons, config.checkout.eid_period_s, config.checkout.eid_skew_periods,
                               skew_s=config.checkout.eid_skew_s, max_clock_error_s=config.checkout.eid_max_clock_error_s)
    return Locator(site, config.location, verifier, allow_unauthenticated_lane=allow_unauthenticated_lane,
                   where=where)


def open_gallery(model_version: str, catalogue: Catalogue, catalogue_db: Path | None = None,
                 prototypes: Path = DEFAULT_PROTOTYPES) -> Gallery | None:
    """The recognizer's gallery for ``catalogue``: the one stored in the imported catalogue's
    database for this model (shipped prototypes plus enrolled products) when there is one,
    else the ``prototypes`` of the dataset's classes (the shipped model's by default), each
    under the catalogue's code for that class. None (barcodes only) when neither gives a product."""
    if catalogue_db is not None and catalogue_db.is_file():
        try:
            stored = load_file(catalogue_db, model_version)
        except DashcartError as exc:
            log.error("vision: cannot read the gallery in %s: %s", catalogue_db, exc)
        else:
            if len(stored):
                return stored
            log.warning("vision: %s has no gallery for model %s (re-import the catalogue); "
                        "using the shipped prototypes", catalogue_db, model_version)
    mapping = {p.gsd_class: p.code for p in catalogue if p.gsd_class}
    if not mapping:
        return None
    try:
        return prototypes_gallery(prototypes, model_version, mapping)
    except DashcartError as exc:
        log.error("vision: no gallery: %s; barcodes only", exc)
        return None
