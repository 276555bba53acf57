"""The trip generator builds honest trips: photos of one split only, a camera of its own per
trip, hands over the items, produce by weight without a PLU."""

import json
import random

import pytest

from dashcart.core.catalogue import Catalogue
from dashcart.sim.basket_scene import CameraSetup
from dashcart.trips.generator import ProductImages, TripMix, generate_trip, split_photos


@pytest.fixture(scope="module")
def gsd():
    from tests.conftest import SHARED_DATA
    root = SHARED_DATA / "grocery-store"
    if not (root / "train.txt").is_file():
        pytest.skip("shared data missing")
    return SHARED_DATA, root


@pytest.fixture(scope="module")
def splits(gsd):
    from dashcart.trips.generator import split_photos
    _, root = gsd
    return {name: {p for paths in split_photos(root, name).values() for p in paths} for name in ("train", "calib", "test")}


def test_the_splits_are_disjoint_and_a_missing_photo_is_never_borrowed(gsd, splits):
    data, root = gsd
    assert splits["test"] and splits["calib"]
    assert not splits["test"] & splits["train"] and not splits["calib"] & splits["train"]
    assert not splits["test"] & splits["calib"]
    catalogue = Catalogue.from_csv(data / "catalogue" / "demo_store.csv")
    images = ProductImages(root, "test")
    lacking = [p for p in catalogue if not images.paths(p)]
    if lacking:   # (the bundled test data has few photos; the full set has every class in every split)
        used: set = set()
        card = images.pick(lacking[0], random.Random(0), 64, used)
        assert not used and card.shape == (64, 64, 3)       # a grey card, not a photo of another split
    with pytest.raises(ValueError, match="unknown photo split"):
        split_photos(root, "val")


@pytest.mark.parametrize("split", ["test", "calib"])
def test_a_trip_uses_photos_of_its_split_only(gsd, splits, split, tmp_path):
    data, root = gsd
    catalogue = Catalogue.from_csv(data / "catalogue" / "demo_store.csv")
    truth = generate_trip(tmp_path / "trip", catalogue, root, 11, events=8, split=split)
    saved = json.loads((tmp_path / "trip" / "truth.json").read_text())
    used = {root / p for p in saved["photos"]}
    assert saved["split"] == split and used <= splits[split] and (used or split != "test")
    assert not used & splits["train"]                    # never a photo the model was trained on
    assert CameraSetup(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved["camera"].items()}) \
        == CameraSetup(**truth.camera) and 0.15 < saved["camera"]["item_share"] < 0.31


def test_produce_by_weight_can_come_without_a_plu(gsd, tmp_path):
    data, root = gsd
    catalogue = Catalogue.from_csv(data / "catalogue" / "demo_store.csv")
    mix = TripMix(carton=0.1, produce_unit=0.1, produce_weight=0.6, removal=0.2, plu_entered=1.0,
                  plu_entered_by_weight=0.0)
    truth = generate_trip(tmp_path / "trip", catalogue, root, 5, events=10, mix=mix, frames=False)
    lots = [a for a in truth.actions if a.kind == "add" and catalogue.get(a.code).by_weight]
    units = [a for a in truth.actions if a.kind == "add" and catalogue.get(a.code).code_type == "plu"
             and not catalogue.get(a.code).by_weight]
    assert lots and all(a.how == "recognizer" for a in lots)
    assert all(a.how == "plu" for a in units)
    entered = (tmp_path / "trip" / "shopper.csv").read_text()
    assert not any(a.code in entered for a in lots if a.code not in {u.code for u in units})


def test_a_second_camera_films_the_same_basket_from_its_other_end(gsd, tmp_path):
    """``cameras=2`` adds a rear camera with a set-up of its own: the top camera's frames stay
    byte for byte those of the one-camera trip, the rear camera's come 50 ms after each, and
    the replay recognizes what went in on both cameras' crops."""
    from dashcart.events import ItemRecognized
    from dashcart.trips.format import read_trip
    from dashcart.trips.replay import default_vision, replay

    data, root = gsd
    catalogue = Catalogue.from_csv(data / "catalogue" / "demo_store.csv")
    mix = TripMix(carton=0.3, produce_unit=0.5, produce_weight=0.0, removal=0.2, barcode_hidden=1.0, plu_entered=0.0)
    one = generate_trip(tmp_path / "one", catalogue, root, 21, events=5, mix=mix)
    two = generate_trip(tmp_path / "two", catalogue, root, 21, events=5, mix=mix, cameras=2)
    assert one.actions == two.actions and one.camera == two.camera and not one.rear_camera
    assert two.rear_camera and two.rear_camera != two.camera
    assert read_trip(tmp_path / "two").cameras == ("top", "rear")
    top = sorted((tmp_path / "one" / "frames" / "top").iterdir())
    assert [p.read_bytes() for p in top] == \
        [(tmp_path / "two" / "frames" / "top" / p.name).read_bytes() for p in top]
    rear = {p.name for p in (tmp_path / "two" / "frames" / "rear").iterdir()}
    assert rear == {f"{int(p.stem) + 50}.jpg" for p in top}
    with pytest.raises(ValueError, match="cameras must be 1 or 2"):
        generate_trip(tmp_path / "three", catalogue, root, 21, events=1, cameras=3)

    vision = default_vision(("top", "rear"), catalogue)
    assert vision is not None
    seen: list[ItemRecognized] = []
    settled = vision.on_settled

    def keep(change):
        events = settled(change)
        seen.extend(e for e in events if isinstance(e, ItemRecognized))
        return events

    vision.on_settled = keep
    replay(tmp_path / "two", catalogue=catalogue, vision=vision)
    assert {r.camera for r in seen} == {"top", "rear"}


def test_a_swap_in_one_motion_changes_the_basket_but_not_the_weight(gsd, tmp_path):
    """A dishonest shopper's swap (``TripMix.swap``): a unit out and a product of about its
    weight in, with no rest between: the truth has both, the scale no change, only a return;
    trips without swaps are the same as before."""
    from dashcart.trips.replay import replay
    data, root = gsd
    catalogue = Catalogue.from_csv(data / "catalogue" / "demo_store.csv")
    plain = generate_trip(tmp_path / "plain", catalogue, root, 9, events=8, frames=False)
    assert plain == generate_trip(tmp_path / "again", catalogue, root, 9, events=8, frames=False,
                                  mix=TripMix(swap=0.0))
    truth = generate_trip(tmp_path / "swap", catalogue, root, 9, events=8, frames=False,
                          mix=TripMix(carton=0.9, removal=0.0, swap=0.5))
    swaps = [a for a in truth.actions if a.how == "swap"]
    assert swaps and len(swaps) % 2 == 0
    for out, into in zip(swaps[::2], swaps[1::2]):
        assert (out.kind, into.kind, out.t) == ("remove", "add", into.t) and out.code != into.code
        assert abs(out.grams - into.grams) <= 2.0
    result = replay(tmp_path / "swap", catalogue=catalogue, vision=False)
    # every placement is one settled change; the swaps are none, but the load came back each time
    placements = [a for a in truth.actions if a.how != "swap"]
    assert result.settled == len(placements) and result.returned >= len(swaps) // 2


def test_a_unit_moved_in_the_basket_is_no_action_but_the_load_comes_back(gsd, tmp_path):
    """An honest shopper moving a unit (``TripMix.rearrange``): nothing to bill, a return."""
    from dashcart.trips.replay import replay
    data, root = gsd
    catalogue = Catalogue.from_csv(data / "catalogue" / "demo_store.csv")
    truth = generate_trip(tmp_path / "move", catalogue, root, 4, events=8, frames=False,
                          mix=TripMix(removal=0.0, rearrange=0.5))
    result = replay(tmp_path / "move", catalogue=catalogue, vision=False)
    assert all(a.how != "swap" for a in truth.actions) and truth.moves > 0
    assert result.settled == len(truth.actions) and result.returned > 0
    assert not [e for e in result.as_json()["events"] if e["type"] == "possible_swap"]
