"""Recorded frames never hold a readable shopper QR code (issue 19): painted over, whatever the
decoder that looks for it."""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp

from dashcart.config import Config
from dashcart.sim.camera import qr_code
from dashcart.trips.recorder import TripRecorder, blank_qr_codes

TOKEN = "dcs1:" + "Zq7_" * 8


def _basket_with_phone(scale: float = 1.0, angle: float = 0.0) -> np.ndarray:
    frame = np.full((480, 640, 3), (70, 90, 110), np.uint8)
    code = cv2.cvtColor(qr_code(TOKEN, 220), cv2.COLOR_GRAY2BGR) if qr_code(TOKEN, 220).ndim == 2 \
        else qr_code(TOKEN, 220)
    code = cv2.resize(code, None, fx=scale, fy=scale)
    h, w = code.shape[:2]
    y, x = 120, 200
    frame[y:y + h, x:x + w] = code
    if angle:
        rot = cv2.getRotationMatrix2D((320, 240), angle, 1.0)
        frame = cv2.warpAffine(frame, rot, (640, 480), borderValue=(70, 90, 110))
    return frame


def _readable(image: np.ndarray) -> list[str]:
    texts = [b.text for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]
    ok, decoded, _, _ = cv2.QRCodeDetector().detectAndDecodeMulti(image)
    return texts + ([t for t in decoded if t] if ok else [])


def test_the_frame_is_readable_before_and_not_after():
    for scale, angle in ((1.0, 0.0), (0.7, 20.0), (1.3, -35.0)):
        frame = _basket_with_phone(scale, angle)
        assert TOKEN in _readable(frame)
        blanked, count = blank_qr_codes(frame)
        assert count >= 1 and _readable(blanked) == []
        assert frame is not blanked and TOKEN in _readable(frame)   # the live frame is not touched


def test_a_frame_without_a_code_is_written_as_it_is():
    frame = np.full((480, 640, 3), 90, np.uint8)
    out, count = blank_qr_codes(frame)
    assert out is frame and count == 0


def test_recorded_frames_hold_no_token(tmp_path):
    recorder = TripRecorder(tmp_path / "trip", Config(), start_t=0.0, frames=True, cameras=("top",))
    for i in range(6):
        recorder.frame("top", 1.0 + i * 0.25, _basket_with_phone(1.0 + 0.05 * i, 8.0 * i))
    recorder.close()
    written = sorted((tmp_path / "trip" / "frames" / "top").glob("*.jpg"))
    assert len(written) == 6 and recorder.qr_blanked >= 6
    for path in written:
        assert _readable(cv2.imread(str(path))) == [], path


def test_the_debug_capture_holds_no_token(tmp_path):
    """``cameras.debug_capture_dir`` writes the frames and crop behind each recognition: a
    shopper's code held over the basket then must not reach the card either."""
    from types import SimpleNamespace

    from dashcart.runtime.vision_threads import debug_capture
    capture = debug_capture(tmp_path / "capture")
    phone = _basket_with_phone(1.1, 15.0)
    before, after = SimpleNamespace(image=phone), SimpleNamespace(image=_basket_with_phone(0.9, -10.0))
    capture(SimpleNamespace(t=12.5), "top", SimpleNamespace(crop=phone[60:460, 120:560].copy()), before, after)
    written = sorted((tmp_path / "capture").glob("*.jpg"))
    assert [p.name for p in written] == ["12500-top-after.jpg", "12500-top-before.jpg", "12500-top-crop.jpg"]
    for path in written:
        assert _readable(cv2.imread(str(path))) == [], path
    assert TOKEN in _readable(phone)     # the live frame is not touched
