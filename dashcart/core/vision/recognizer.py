"""The on-device product recognizer: a crop in, an L2-normalized embedding out (LiteRT).

The model and its sidecar (``<model>.json``: input size, layout, colour order,
normalization, embedding size, version) come from the model build; see
docs/vision.md. Products are then recognized by their nearest prototypes in the
gallery (:mod:`dashcart.core.vision.gallery`), so enrolling a product needs no retraining.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dashcart.errors import PermanentlyBroken

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = MODELS_DIR / "recognizer.tflite"
DEFAULT_PROTOTYPES = MODELS_DIR / "gsd_prototypes.npz"


def _interpreter_class() -> Any:
    """LiteRT's interpreter; tflite-runtime's where only that is installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter
        return Interpreter
    except ImportError:
        raise PermanentlyBroken("no LiteRT runtime: install ai-edge-litert (pip install ai-edge-litert)") from None


def read_sidecar(model_path: Path) -> dict[str, Any]:
    """The model's sidecar JSON, checked for what :class:`Recognizer` needs."""
    path = model_path.with_suffix(".json")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PermanentlyBroken(f"{path}: the recognizer's sidecar is missing (it ships with the model)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PermanentlyBroken(f"{path}: cannot read the recognizer's sidecar: {exc}") from None
    if not isinstance(meta, dict):
        raise PermanentlyBroken(f"{path}: expected a JSON object")
    for key in ("input_size", "scale", "mean", "std", "version"):
        if key not in meta:
            raise PermanentlyBroken(f"{path}: missing {key!r}")
    if meta.get("layout", "NHWC") != "NHWC":
        raise PermanentlyBroken(f"{path}: layout {meta.get('layout')!r} is not supported (NHWC only)")
    if meta.get("color", "RGB") not in ("RGB", "BGR"):
        raise PermanentlyBroken(f"{path}: color {meta.get('color')!r} must be RGB or BGR")
    turns = meta.get("quarter_turns", 1)
    if not isinstance(turns, int) or isinstance(turns, bool) or turns not in (1, 2, 4):
        raise PermanentlyBroken(f"{path}: quarter_turns {turns!r} must be 1, 2 or 4")
    return meta


class Recognizer:
    """Loads the model once. One interpreter, one set of buffers: call :meth:`embed` from one
    thread at a time (live, the runtime's single recognition worker; in replay, the caller)."""

    def __init__(self, model_path: str | Path | None = None, threads: int = 2) -> None:
        path = Path(model_path) if model_path else DEFAULT_MODEL
        if not path.is_file():
            raise PermanentlyBroken(f"{path}: recognizer model not found; the cart runs without vision "
                                    "(set vision.model, or reinstall dashcart)")
        self.model_path = path
        self.meta = read_sidecar(path)
        interpreter_class = _interpreter_class()
        try:
            self._interpreter = interpreter_class(model_path=str(path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError, OSError) as exc:
            raise PermanentlyBroken(f"{path}: not a usable LiteRT model ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                                    "the cart runs without vision") from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise PermanentlyBroken(f"{path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
        self._input, self._output = inputs[0], outputs[0]
        size = int(self.meta["input_size"])
        if tuple(self._input["shape"]) != (1, size, size, 3):
            raise PermanentlyBroken(f"{path}: input shape {tuple(self._input['shape'])} does not match the "
                                    f"sidecar's input_size {size}")
        self.input_size = size
        self.embedding_dim = int(self._output["shape"][-1])
        if "embedding_dim" in self.meta and int(self.meta["embedding_dim"]) != self.embedding_dim:
            raise PermanentlyBroken(f"{path}: output size {self.embedding_dim} does not match the sidecar's "
                                    f"embedding_dim {self.meta['embedding_dim']}")
        self.version = str(self.meta["version"])
        self._scale = float(self.meta["scale"])
        self._mean = np.asarray(self.meta["mean"], dtype=np.float32).reshape(1, 1, -1)
        self._std = np.asarray(self.meta["std"], dtype=np.float32).reshape(1, 1, -1)
        self._rgb = self.meta.get("color", "RGB") == "RGB"
        # Why turns: the model was trained on products lying at any quarter turn, so each turn
        # of a crop is one more honest look at the same item, and their mean embedding ranks
        # better than any one (the shipped 224 px model, calib split, the gallery made the same
        # way: whole photos top-1 89.7 -> 91.4 % with 2 turns; 4 turns also lift in-basket
        # crops 86.7 -> 88.1 % but cost 4 inferences). Each turn is one more inference.
        self.quarter_turns = int(self.meta.get("quarter_turns", 1))

    def preprocess(self, crop_bgr: np.ndarray) -> np.ndarray:
        """The model's input tensor for a BGR ``uint8`` crop."""
        import cv2
        if crop_bgr.ndim != 3 or crop_bgr.shape[2] != 3 or crop_bgr.size == 0:
            raise ValueError(f"expected a BGR image, got shape {crop_bgr.shape}")
        image = cv2.resize(crop_bgr, (self.input_size, self.input_size), interpolation=cv2.INTER_AREA)
        if self._rgb:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        x = (image.astype(np.float32) * self._scale - self._mean) / self._std
        dtype = self._input["dtype"]
        if dtype in (np.int8, np.uint8):
            # A fully quantized input: map to its integer grid.
            scale, zero = self._input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        return x.astype(dtype)[None]

    def embed(self, crop_bgr: np.ndarray) -> np.ndarray:
        """The crop's embedding: float32 [embedding_dim], unit length; the mean over the
        sidecar's ``quarter_turns`` turns of the crop (the input is square, so a turn of the
        prepared tensor is a turn of the crop)."""
        x = self.preprocess(crop_bgr)
        step = 4 // self.quarter_turns
        total = np.zeros(self.embedding_dim, np.float32)
        for k in range(0, 4, step):
            total += self._unit(self._invoke(np.ascontiguousarray(np.rot90(x, k, axes=(1, 2)))))
        return self._unit(total)

    def _invoke(self, x: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._input["index"], x)
        self._interpreter.invoke()
        y = self._interpreter.get_tensor(self._output["index"]).copy()
        if y.dtype in (np.int8, np.uint8):
            scale, zero = self._output["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y.reshape(-1).astype(np.float32)

    @staticmethod
    def _unit(v: np.ndarray) -> np.ndarray:
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else v
