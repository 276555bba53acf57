"""The one simulated basket: cameras of their own, hands over what is held up or lying, cut-outs
and photos on the same floor."""

import random

import numpy as np

from dashcart.sim.basket_scene import BasketScene, CameraSetup


def test_each_trip_has_a_camera_of_its_own():
    cameras = [CameraSetup.draw(random.Random(seed)) for seed in range(20)]
    assert len({c.item_share for c in cameras}) == 20
    gains = [c.gain for c in cameras]
    assert min(gains) < 0.8 and max(gains) > 1.15          # dim and bright carts
    assert any(c.blur > 0 for c in cameras) and any(c.blur == 0 for c in cameras)
    # the same floor seen by two cameras: different pictures
    a = BasketScene(320, 240, camera=cameras[0], rng=random.Random(1)).render(np.random.default_rng(0))
    b = BasketScene(320, 240, camera=cameras[1], rng=random.Random(1)).render(np.random.default_rng(0))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 5


def test_a_hand_covers_the_item_held_up_and_in_the_basket():
    camera = CameraSetup(noise=0.0)
    scene = BasketScene(320, 240, camera=camera, rng=random.Random(2))
    green = np.zeros((64, 64, 3), np.uint8)
    green[:] = (40, 160, 40)
    skin = np.array(camera.skin)

    def skin_px(frame):
        return int((np.abs(frame.astype(int) - skin).sum(axis=2) < 10).sum())

    bare = scene.held_up(green, None, np.random.default_rng(0))
    held = scene.held_up(green, None, np.random.default_rng(0), hand_covers=0.4)
    assert skin_px(bare) == 0 and skin_px(held) > 0.1 * 200 * 200 * 0.4
    scene.lay("pepper", green)
    assert skin_px(scene.render(np.random.default_rng(0))) == 0
    assert skin_px(scene.render(np.random.default_rng(0), hand_over="pepper")) > 500


def test_a_cut_out_and_a_photo_lie_on_the_same_floor():
    scene = BasketScene(320, 240, camera=CameraSetup(noise=0.0))
    floor = scene.render(0)
    on_white = np.full((80, 80, 3), 255, np.uint8)
    on_white[20:60, 20:60] = (40, 40, 200)
    item = scene.add(on_white, 10, 10, 80)
    frame = scene.render(0)
    assert (frame[40, 40] == (40, 40, 200)).all()            # the product
    assert (frame[12, 12] == floor[12, 12]).all()            # its white keyed out: the floor shows
    scene.lay("photo", np.full((64, 64, 3), 200, np.uint8))
    assert scene.remove(item) is not None and item not in scene.items
    assert (scene.render(0) != floor).any()                  # the photo is still there, opaque


def test_a_shadow_and_a_flicker_darken_only_what_they_cover():
    scene = BasketScene(320, 240, camera=CameraSetup(noise=0.0))
    plain = scene.render(0).astype(int)
    shaded = scene.render(0, shadow=(0, 0, 100, 100)).astype(int)
    assert shaded[50, 50].sum() < 0.7 * plain[50, 50].sum() and (shaded[200, 300] == plain[200, 300]).all()
    assert scene.render(0, gain=0.5).astype(int).sum() < 0.6 * plain.sum()
