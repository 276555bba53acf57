import numpy as np
import pytest
import zxingcpp

from dashcart.core.signin import InvalidToken, QrSignIn, mask_token, parse_shopper_token

TOKEN = "dcs1:Kim0123456789abcdef_-XY"


def qr_frame(text: str) -> np.ndarray:
    """The QR code as a camera would see it: a phone screen in a grey frame, a little noise."""
    symbol = np.asarray(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4))
    frame = np.full((480, 640), 120, np.uint8)
    h, w = symbol.shape
    frame[100:100 + h, 200:200 + w] = symbol
    noise = np.random.default_rng(0).integers(-20, 20, frame.shape)
    return np.clip(frame.astype(int) + noise, 0, 255).astype(np.uint8)


def test_token_shape_is_checked():
    assert parse_shopper_token(f"  {TOKEN}\n") == TOKEN
    for bad, why in [("https://example.com/x", "does not start"), ("dcs1:short", "16 to 128"),
                     ("dcs1:" + "a" * 129, "16 to 128"), ("dcs1:abcdefghijklmnop qrs", "16 to 128")]:
        with pytest.raises(InvalidToken, match=why):
            parse_shopper_token(bad)
    assert TOKEN not in mask_token(TOKEN) and mask_token(TOKEN).startswith("dcs1:Ki")


def test_qr_code_in_a_frame_signs_in_once_while_held_up():
    reader = QrSignIn(repeat_s=5.0)
    frame = qr_frame(TOKEN)
    action = reader.on_frame(1.0, frame)
    assert (action.action, action.value, action.t) == ("signin", TOKEN, 1.0)
    assert reader.on_frame(1.2, frame) is None
    assert reader.on_frame(3.0, frame) is None
    assert reader.on_frame(3.0 + 5.1, frame).value == TOKEN  # shown again after a pause


def test_other_qr_codes_and_empty_frames_do_not_sign_in():
    reader = QrSignIn()
    assert reader.on_frame(0.0, qr_frame("https://shop.example/deals")) is None
    assert reader.rejected == 1
    assert reader.on_frame(0.1, np.full((120, 160), 200, np.uint8)) is None


def test_a_new_shopper_signs_in_straight_away():
    reader = QrSignIn(repeat_s=5.0)
    assert reader.on_frame(0.0, qr_frame(TOKEN)).value == TOKEN
    other = "dcs1:Lee0123456789abcdefgh"
    assert reader.on_frame(0.5, qr_frame(other)).value == other


def test_after_sign_out_the_same_shopper_can_sign_in_again_at_once():
    reader = QrSignIn(repeat_s=5.0)
    frame = qr_frame(TOKEN)
    assert reader.on_frame(0.0, frame) is not None
    reader.reset()
    assert reader.on_frame(0.5, frame).value == TOKEN
