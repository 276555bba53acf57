"""What an item looked like to the basket camera: a compact copy of the recognizer's embedding
of its crop.

It is kept with the basket line (and journaled with it), so that when something is taken out,
the crop of what left can be compared with the very items in the basket, not only with the
catalogue's gallery: the carton that went in an hour ago looks like itself, even where two
products of equal weight look alike to the recognizer. It is not an image: one signed byte per
dimension, as base64 text (1.7 kB for the 1280-d embedding).
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

Look = str   # base64 of int8 components, the largest one +-127


def encode_look(embedding: np.ndarray) -> Look:
    v = np.asarray(embedding, np.float32).ravel()
    peak = float(np.abs(v).max()) if v.size else 0.0
    # scaled to the largest component (not to unit length): 1280 components of a unit vector
    # are ~0.03 each, too small for 8 bits; only the direction matters
    q = np.round(v / peak * 127.0) if peak > 0 else np.zeros_like(v)
    return base64.b64encode(q.astype(np.int8).tobytes()).decode("ascii")


def decode_look(look: Look | None) -> np.ndarray | None:
    """The unit vector back (None for None, or for text that is not a look)."""
    if not look:
        return None
    try:
        raw = base64.b64decode(look, validate=True)
    except (binascii.Error, ValueError):
        return None
    v = np.frombuffer(raw, np.int8).astype(np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else None


def look_similarity(a: Look | None, b: Look | None) -> float | None:
    """Cosine similarity of two looks; None when either is missing or they are of different
    models (different lengths)."""
    va, vb = decode_look(a), decode_look(b)
    if va is None or vb is None or va.shape != vb.shape:
        return None
    return float(va @ vb)
