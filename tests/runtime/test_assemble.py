"""The one assembly of locator and gallery that run, replay and the demo share."""

import pytest

from dashcart.config import parse_config
from dashcart.core.catalogue import Catalogue, Product
from dashcart.core.lane_auth import current_eid
from dashcart.errors import Misconfigured
from dashcart.events import LaneDetected
from dashcart.runtime.assemble import open_gallery, open_locator
from tests.core.test_location import DAIRY, EPOCH, FRUIT, KEY, feed, sighting


def test_open_locator_from_config_wires_the_lane_key():
    text = '[location]\nlane = ["eddystone-eid:entry", "eddystone-eid:exit"]\n'
    with pytest.raises(Misconfigured, match=r"^dashcart.toml: checkout.lane_key: missing"):
        open_locator(parse_config(text, "dashcart.toml"))
    locator = open_locator(parse_config(text + f'[checkout]\nlane_key = "{KEY.hex()}"\n', "dashcart.toml"))
    stream = [sighting(i * 0.1, f"eddystone-eid:{current_eid(KEY, 'entry' if i < 20 else 'exit', EPOCH + i * 0.1, 2)}",
                       -45, wall_t=EPOCH + i * 0.1) for i in range(40)]
    assert [e for e in feed(locator, stream) if isinstance(e, LaneDetected)]
    with pytest.raises(Misconfigured, match="is not an eddystone-eid beacon"):
        open_locator(parse_config(f'[location]\nlane = ["{FRUIT}", "{DAIRY}"]\n'))
    assert open_locator(parse_config(f'[location]\nlane = ["{FRUIT}", "{DAIRY}"]\n'), allow_unauthenticated_lane=True)


def test_no_site_no_locator():
    assert open_locator(parse_config("")) is None


def test_the_gallery_falls_back_to_the_shipped_prototypes_under_the_catalogues_codes(tmp_path):
    from dashcart.core.vision.recognizer import Recognizer
    catalogue = Catalogue([Product(code="4011", code_type="plu", name="Bananas", sold_by="weight", price_cents=129, unit_weight_g=150.0, unit_weight_sd_g=20.0, gsd_class="Banana")])
    version = Recognizer().version
    gallery = open_gallery(version, catalogue, tmp_path / "missing.db")
    assert gallery is not None and set(gallery.codes) == {"4011"}
    assert open_gallery(version, Catalogue([])) is None
