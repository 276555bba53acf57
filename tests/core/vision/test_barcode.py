import csv

import numpy as np
import pytest

from dashcart.core.gtin import check_digit, is_valid, to_gtin13, upca_to_upce, upce_to_upca
from dashcart.core.vision.barcode import BarcodeReader, Code, Consensus, normalize, read_qr
from tests.vision_helpers import barcode_label

# Printed under the ISBN on Japanese books, really in some ean13-2 photos.
SECOND_CODES = {"1920081045006"}


@pytest.mark.parametrize("upce, upca", [
    ("01234565", "012345000065"), ("00123457", "001234000057"), ("01234531", "012300000451"),
    ("05096893", "050968000093"), ("04963406", "049000006346"), ("14761809", "147000006189"),
])
def test_upce_expands_and_compresses_both_ways(upce, upca):
    assert upce_to_upca(upce) == upca
    assert upca_to_upce(upca) == upce


def test_upca_without_zero_suppressed_form_has_no_upce():
    assert upca_to_upce("036602301467") is None


def test_check_digit_and_gtin13():
    assert check_digit("400638133393") == "1"
    assert is_valid("4006381333931") and not is_valid("4006381333932")
    assert to_gtin13("UPC-A", "036602301467") == "0036602301467"
    assert to_gtin13("EAN-8", "96385074") == "0000096385074"
    assert to_gtin13("UPC-E", "01234565") == "0012345000065"


@pytest.mark.parametrize("fmt, text, extra, expected", [
    ("EAN-13", "0036602301467", None, Code("UPC-A", "036602301467", "0036602301467")),   # zxing-cpp 3
    ("UPC-A", "036602301467", None, Code("UPC-A", "036602301467", "0036602301467")),     # zxing-cpp 2
    ("UPC_A", "036602301467", None, Code("UPC-A", "036602301467", "0036602301467")),     # OpenCV
    ("UPC-E", "0012345000065", {"UPCE": "01234565"}, Code("UPC-E", "01234565", "0012345000065")),
    ("UPC-E", "0012345000065", None, Code("UPC-E", "01234565", "0012345000065")),
    ("EAN_8", "96385074", None, Code("EAN-8", "96385074", "0000096385074")),
    ("EAN-13", "4006381333931", None, Code("EAN-13", "4006381333931", "4006381333931")),
    ("EAN-13", "4006381333932", None, None),   # bad check digit
    ("EAN-13", "40063813339", None, None),     # wrong length
    ("QR_CODE", "4006381333931", None, None),  # not a retail format
])
def test_normalize(fmt, text, extra, expected):
    assert normalize(fmt, text, extra) == expected


def _zxing_own(image) -> set[str]:
    """What zxing-cpp itself reads with its defaults (its "try harder" pass), retail formats."""
    import zxingcpp
    formats = [zxingcpp.BarcodeFormat.EAN13, zxingcpp.BarcodeFormat.UPCA,
               zxingcpp.BarcodeFormat.EAN8, zxingcpp.BarcodeFormat.UPCE]
    codes = (normalize(str(b.format), b.text, getattr(b, "extra", None))
             for b in zxingcpp.read_barcodes(image, formats=formats))
    return {c.text for c in codes if c is not None}


def test_reads_at_least_what_zxing_reads_with_no_misread(shared_data):
    # The bundled subset of the blackbox photos (the full sets: bench/bench_barcodes.py).
    root = shared_data / "barcodes"
    import cv2
    reader = BarcodeReader()
    found, own, misreads = {}, {}, []
    for row in csv.DictReader(open(root / "manifest.csv", newline="")):
        image = cv2.imread(str(root / row["set"] / row["image"]))
        codes = reader.read(image)
        name = row["set"]
        found[name] = found.get(name, 0) + any(c.text == row["expected_text"] for c in codes)
        own[name] = own.get(name, 0) + (row["expected_text"] in _zxing_own(image))
        misreads += [(name, row["image"], c.format, c.text) for c in codes
                     if c.text != row["expected_text"] and c.gtin13 not in SECOND_CODES]
    assert misreads == []
    assert len(found) >= 10 and sum(found.values()) >= 20
    assert {name: found[name] >= own[name] for name in found} == {name: True for name in found}


@pytest.mark.parametrize("image, misread", [
    ("heldout-ean13-4/06.png", "17804419"),   # a UPC-E from the digits under an ISBN's EAN-13
    ("heldout-upca-4/4.png", "54418738"),     # an EAN-8 from part of a UPC-A's bars
])
def test_a_short_symbol_inside_a_longer_one_is_not_a_read(shared_data, image, misread):
    import cv2
    codes = BarcodeReader().read(cv2.imread(str(shared_data / "barcodes" / image)))
    assert misread not in {c.text for c in codes}
    assert all(c.format in ("EAN-13", "UPC-A") for c in codes)


def test_an_isbn_read_on_two_scan_lines_is_confirmed(shared_data):
    # zxing finds it on one row; the re-read must look along the bars, not crowd in the
    # price code beside it.
    import cv2
    codes = BarcodeReader().read(cv2.imread(str(shared_data / "barcodes" / "heldout-ean13-4" / "14.png")))
    assert [c.text for c in codes] == ["9780441014989"]


def test_falsepositives_give_nothing(shared_data):
    import cv2
    reader = BarcodeReader()
    images = sorted((shared_data / "barcodes" / "falsepositives").glob("*.png"))
    assert images
    assert {p.name: reader.read(cv2.imread(str(p))) for p in images} == {p.name: [] for p in images}


def test_fallback_reads_a_code_turned_45_degrees_that_zxing_alone_misses():
    import cv2
    label = barcode_label("4006381333931", scale=3)
    canvas = np.full((480, 640, 3), 255, np.uint8)
    h, w = label.shape[:2]
    canvas[240 - h // 2:240 - h // 2 + h, 320 - w // 2:320 - w // 2 + w] = label
    turned = cv2.warpAffine(canvas, cv2.getRotationMatrix2D((320, 240), 45, 1.0), (640, 480),
                            borderValue=(255, 255, 255))
    assert BarcodeReader(fallback=False).read(turned) == []
    assert [c.gtin13 for c in BarcodeReader().read(turned)] == ["4006381333931"]


def test_only_retail_formats_are_read():
    import zxingcpp
    code128 = np.array(zxingcpp.write_barcode_to_image(
        zxingcpp.create_barcode("4006381333931", zxingcpp.BarcodeFormat.Code128), scale=3))
    assert BarcodeReader().read(code128) == []


def test_read_qr_returns_the_text():
    import zxingcpp
    qr = np.array(zxingcpp.write_barcode_to_image(
        zxingcpp.create_barcode("dashcart-signin:7f3a", zxingcpp.BarcodeFormat.QRCode), scale=5))
    assert read_qr(qr) == ["dashcart-signin:7f3a"]
    assert read_qr(np.full((100, 100), 255, np.uint8)) == []


A = Code("EAN-13", "4006381333931", "4006381333931")
B = Code("EAN-13", "5012345678900", "5012345678900")


def test_consensus_needs_agreeing_reads_within_the_window():
    c = Consensus(min_agree=2, window_s=1.0)
    assert c.add(0.0, [A]) == []
    assert c.add(1.5, [A]) == []      # the first read fell out of the window
    assert c.add(1.9, [A]) == [A]
    assert c.add(2.0, [A]) == []      # reported once while it stays in view


def test_consensus_reports_again_after_the_code_was_gone():
    c = Consensus(min_agree=2, window_s=1.0, forget_s=2.0)
    c.add(0.0, [A])
    assert c.add(0.1, [A]) == [A]
    assert c.add(1.0, []) == []
    c.add(5.0, [A])
    assert c.add(5.1, [A]) == [A]


def test_consensus_a_rare_misread_does_not_ride_along():
    c = Consensus(min_agree=2, window_s=2.0)
    reported = []
    for i in range(8):
        reported += c.add(i * 0.1, [A])
    reported += c.add(0.8, [B])
    reported += c.add(0.9, [B, A])   # B read twice, A eight times more
    assert reported == [A]


def test_consensus_two_products_held_up_together_both_count():
    c = Consensus(min_agree=2, window_s=1.0)
    assert c.add(0.0, [A, B]) == []
    assert sorted(x.text for x in c.add(0.1, [A, B])) == sorted([A.text, B.text])


def test_consensus_rule_is_configurable():
    assert Consensus(min_agree=1).add(0.0, [A]) == [A]
    c = Consensus(min_agree=3)
    assert c.add(0.0, [A]) == [] and c.add(0.1, [A]) == [] and c.add(0.2, [A]) == [A]
