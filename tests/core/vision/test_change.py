import numpy as np
import pytest

from dashcart.core.vision.change import find_change
from dashcart.sim.basket_scene import BasketScene
from tests.vision_helpers import iconic, iou, tight_box

PRODUCTS = ["Golden-Delicious", "Lemon", "Arla-Medium-Fat-Milk", "Oatly-Oat-Milk", "Aubergine", "Zucchini",
            "Garlic", "Red-Beet", "Tropicana-Juice-Smooth"]


@pytest.mark.parametrize("name", PRODUCTS)
def test_added_item_is_found_despite_flicker_and_a_new_shadow(shared_data, name):
    scene = BasketScene(seed=len(name))
    scene.add(iconic(shared_data, "Granny-Smith"), 20, 280, 150)
    before = scene.render(1)
    item = scene.add(iconic(shared_data, name), 250, 120, 180)
    after = scene.render(2, gain=1.12, shadow=(20, 20, 200, 200))
    change = find_change(before, after, "added")
    assert change is not None and change.direction == "added"
    assert iou(change.box, tight_box(scene.items[item])) > 0.55
    x0, y0, x1, y1 = change.box
    assert np.array_equal(change.crop, after[y0:y1, x0:x1])


def test_removed_item_is_cropped_from_the_before_frame(shared_data):
    scene = BasketScene(seed=7)
    keep = scene.add(iconic(shared_data, "Lemon"), 380, 60, 160)
    taken = scene.add(iconic(shared_data, "Arla-Sour-Milk"), 60, 200, 180)
    box = tight_box(scene.items[taken])
    before = scene.render(1)
    scene.remove(taken)
    after = scene.render(2, gain=0.92)
    change = find_change(before, after, "removed")
    assert change is not None and iou(change.box, box) > 0.55
    x0, y0, x1, y1 = change.box
    assert np.array_equal(change.crop, before[y0:y1, x0:x1])
    assert iou(change.box, tight_box(scene.items[keep])) == 0


def test_the_hand_reaching_in_from_the_edge_loses_to_the_item(shared_data):
    scene = BasketScene(seed=8)
    before = scene.render(1)
    item = scene.add(iconic(shared_data, "Yellow-Onion"), 240, 100, 170)
    after = scene.render(2, hand=(560, 380, 90))
    change = find_change(before, after, "added")
    assert change is not None and iou(change.box, tight_box(scene.items[item])) > 0.55


@pytest.mark.parametrize("seed", range(4))
def test_nothing_changed_but_the_light(shared_data, seed):
    scene = BasketScene(seed=seed)
    scene.add(iconic(shared_data, "Pink-Lady"), 250, 120, 180)
    scene.add(iconic(shared_data, "Arla-Standard-Milk"), 20, 260, 150)
    before = scene.render(1, gain=1.12, shadow=(20, 20, 200, 200))
    after = scene.render(2, gain=0.9, shadow=(300, 0, 640, 240))
    assert find_change(before, after, "added") is None


def test_bad_arguments_are_rejected():
    frame = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(ValueError):
        find_change(frame, frame, "moved")
    with pytest.raises(ValueError):
        find_change(frame, np.zeros((10, 10, 3), np.uint8), "added")


def _photo(rng: np.random.Generator, size: int = 144) -> np.ndarray:
    """A square 'photo' of smooth colour, like the generator's product photos at cart scale."""
    import cv2
    return cv2.resize(rng.integers(0, 255, (4, 4, 3), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("seed", range(6))
def test_the_crop_keeps_to_the_item_not_its_neighbours(seed):
    """Products lie edge to edge in a basket, and whatever of a neighbour the crop takes in
    misleads the recognizer (on generated trips the truth went from first on 81 % of crops to
    63 % with an 8 % margin round the region). The crop must cover the item and little else."""
    rng = np.random.default_rng(seed)
    scene = BasketScene(seed=seed)
    for key in range(4):
        scene.lay(key, _photo(rng))
    before = scene.render(1)
    scene.lay("new", _photo(rng))
    after = scene.render(2, gain=1.08)
    change = find_change(before, after, "added")
    assert change is not None
    assert iou(change.box, scene.items["new"].box) > 0.8
