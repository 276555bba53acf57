"""Looks: an item's embedding kept with its basket line, to recognize it when it leaves."""

import numpy as np

from dashcart.core.appearance import decode_look, encode_look, look_similarity


def unit(seed: int, dim: int = 1280) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_a_look_keeps_the_direction_compactly():
    v = unit(1)
    look = encode_look(v * 7.0)                      # scale does not matter: it is a direction
    assert len(look) < 1800                          # 1 byte per dimension, base64
    assert float(decode_look(look) @ v) > 0.999
    assert look_similarity(look, encode_look(v)) > 0.999


def test_similarity_tells_the_same_item_from_another():
    v, w = unit(1), unit(2)
    noisy = v + 0.2 * unit(3)                        # the same item, another frame
    assert look_similarity(encode_look(v), encode_look(noisy)) > 0.95
    assert abs(look_similarity(encode_look(v), encode_look(w))) < 0.15


def test_missing_malformed_or_other_model_looks_say_nothing():
    look = encode_look(unit(1))
    assert look_similarity(None, look) is None
    assert look_similarity(look, "not base64 at all!") is None
    assert look_similarity(look, encode_look(unit(1, dim=64))) is None   # another model's size
    assert decode_look(encode_look(np.zeros(16))) is None                # no direction at all
