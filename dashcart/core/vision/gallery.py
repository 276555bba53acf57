"""Product prototypes for the recognizer, stored with the catalogue (SQLite).

One row per prototype vector: ``gallery(code, model, vector)``. ``model`` is the
recognizer's version (its sidecar's ``version``): embeddings of different models are not
comparable, so each model has its own gallery and a new model means re-importing its
prototypes (and re-enrolling store-added products). A product is recognized by its
nearest prototype (cosine similarity of unit vectors); enrolling a product from a few
photos just adds rows.
"""

from __future__ import annotations

import logging
import sqlite3
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dashcart.errors import Misconfigured

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS gallery (
    code TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS gallery_model_code ON gallery (model, code);
"""


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2 or not v.shape[1]:
        raise ValueError(f"expected vectors of shape [N, D], got {v.shape}")
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return (v / np.where(norms > 0, norms, 1.0)).astype("<f4")


def add(conn: sqlite3.Connection, code: str, model_version: str, vectors: np.ndarray) -> int:
    """Store prototypes of ``code`` for ``model_version`` (normalized to unit length); a
    vector already stored for them is not stored twice. Returns how many were added."""
    ensure_schema(conn)
    added = 0
    with conn:
        for row in _unit_rows(vectors):
            blob = row.tobytes()
            cur = conn.execute(
                "INSERT INTO gallery (code, model, vector) SELECT ?, ?, ? WHERE NOT EXISTS "
                "(SELECT 1 FROM gallery WHERE code = ? AND model = ? AND vector = ?)",
                (code, model_version, blob, code, model_version, blob))
            added += cur.rowcount
    return added


def remove(conn: sqlite3.Connection, code: str, model_version: str | None = None) -> int:
    """Forget ``code``'s prototypes (of one model, or all). Returns rows removed."""
    ensure_schema(conn)
    with conn:
        if model_version is None:
            return conn.execute("DELETE FROM gallery WHERE code = ?", (code,)).rowcount
        return conn.execute("DELETE FROM gallery WHERE code = ? AND model = ?", (code, model_version)).rowcount


@dataclass(frozen=True)
class Gallery:
    """Prototypes of one model: ``vectors[i]`` (unit length) belongs to ``codes[labels[i]]``."""

    model: str
    codes: tuple[str, ...]
    vectors: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def from_arrays(cls, model: str, codes: list[str], vectors: np.ndarray, labels: np.ndarray) -> Gallery:
        return cls(model, tuple(codes), _unit_rows(vectors).astype(np.float32), np.asarray(labels, dtype=np.int64))

    def rank(self, embedding: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` codes nearest ``embedding``, best first, each scored by the cosine
        similarity of its nearest prototype, clipped to 0..1."""
        if not len(self.codes):
            return []
        e = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if e.shape[0] != self.vectors.shape[1]:
            raise ValueError(f"embedding has {e.shape[0]} dimensions, the {self.model} gallery {self.vectors.shape[1]}")
        norm = float(np.linalg.norm(e))
        sims = self.vectors @ (e / norm if norm > 0 else e)
        best = np.full(len(self.codes), -np.inf, dtype=np.float32)
        np.maximum.at(best, self.labels, sims)
        order = np.argsort(-best, kind="stable")[:k]
        return [(self.codes[i], float(np.clip(best[i], 0.0, 1.0))) for i in order if np.isfinite(best[i])]


def load(conn: sqlite3.Connection, model_version: str) -> Gallery:
    """Every prototype stored for ``model_version``."""
    ensure_schema(conn)
    rows = conn.execute("SELECT code, vector FROM gallery WHERE model = ? ORDER BY rowid",
                        (model_version,)).fetchall()
    codes: list[str] = []
    index: dict[str, int] = {}
    labels, vectors = [], []
    for code, blob in rows:
        if code not in index:
            index[code] = len(codes)
            codes.append(code)
        labels.append(index[code])
        vectors.append(np.frombuffer(blob, dtype="<f4"))
    if not rows:
        return Gallery(model_version, (), np.zeros((0, 0), np.float32), np.zeros(0, np.int64))
    dims = {v.shape[0] for v in vectors}
    if len(dims) != 1:
        raise Misconfigured(f"gallery: prototypes of model {model_version!r} have mixed sizes {sorted(dims)}")
    return Gallery(model_version, tuple(codes), np.stack(vectors).astype(np.float32), np.asarray(labels, np.int64))


def load_file(db_path: str | Path, model_version: str) -> Gallery:
    """Every prototype stored for ``model_version`` in the catalogue database at ``db_path``."""
    if not Path(db_path).is_file():
        raise Misconfigured(f"{db_path}: no such catalogue database")
    try:
        conn = sqlite3.connect(db_path)
        try:
            return load(conn, model_version)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise Misconfigured(f"{db_path}: cannot read the gallery: {exc}") from None


def read_prototypes(path: str | Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(class names, vectors [N, D], labels [N]) from a ``gsd_prototypes.npz``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in ("classes", "vectors", "labels"):
                if key not in data.files:
                    raise Misconfigured(f"{path}: missing array {key!r} (need classes, vectors, labels)")
            classes = [str(c) for c in data["classes"]]
            vectors = np.asarray(data["vectors"], dtype=np.float32)
            labels = np.asarray(data["labels"], dtype=np.int64)
    except FileNotFoundError:
        raise Misconfigured(f"{path}: prototypes file not found") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise Misconfigured(f"{path}: not a readable .npz: {exc}") from None
    if vectors.ndim != 2 or labels.shape != (vectors.shape[0],):
        raise Misconfigured(f"{path}: vectors {vectors.shape} and labels {labels.shape} do not match")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise Misconfigured(f"{path}: a label points outside the {len(classes)} classes")
    return classes, vectors, labels


def prototypes_gallery(path: str | Path, model_version: str,
                       mapping: Mapping[str, str] | None = None) -> Gallery:
    """An in-memory gallery straight from a prototypes file, codes mapped through
    ``mapping`` (class name -> code; classes it lacks are left out) or, without one,
    the class names themselves."""
    classes, vectors, labels = read_prototypes(path)
    names = [mapping.get(c) if mapping is not None else c for c in classes]
    keep = np.array([names[label] is not None for label in labels], dtype=bool)
    codes = list(dict.fromkeys(n for n in names if n is not None))
    index = {c: i for i, c in enumerate(codes)}
    new_labels = np.array([index[names[label]] for label in labels[keep]], dtype=np.int64)
    return Gallery.from_arrays(model_version, codes, vectors[keep], new_labels)


def import_prototypes(conn: sqlite3.Connection, path: str | Path, model_version: str,
                      mapping: Mapping[str, str]) -> dict[str, int]:
    """Store the prototypes of ``path`` in the catalogue's gallery, each class under the
    product code ``mapping`` gives it (e.g. the catalogue's gsd_class column); classes
    without a code are skipped. Running it again adds nothing. Returns rows added per code."""
    classes, vectors, labels = read_prototypes(path)
    missing = sorted({classes[label] for label in labels} - set(mapping))
    if missing:
        log.warning("%s: %d classes have no product code and are skipped: %s", path, len(missing), ", ".join(missing[:5]))
    added: dict[str, int] = {}
    for i, name in enumerate(classes):
        code = mapping.get(name)
        if code is None:
            continue
        rows = vectors[labels == i]
        if len(rows):
            added[code] = added.get(code, 0) + add(conn, code, model_version, rows)
    return added
