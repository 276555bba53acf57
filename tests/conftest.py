import os
from pathlib import Path

import pytest

# SDL must never try to open a real window or audio device in tests.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

REPO = Path(__file__).resolve().parent.parent
# The data the tests use ships with the repository (tests/data: the demo store, a subset of
# the barcode photos, the BLE captures, the HX711 glitches), laid out like ../shared/data, so
# a fresh clone runs every test; the full data stays outside for training and the benches.
SHARED_DATA = REPO / "tests" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def catalogue(shared_data: Path):
    """The demo store's catalogue, parsed (no database)."""
    from dashcart.core.catalogue import Catalogue
    return Catalogue.from_csv(shared_data / "catalogue" / "demo_store.csv")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--scale-port", default=os.environ.get("DASHCART_SCALE_PORT", ""),
                     help="run the scale hardware-in-the-loop tests against a real bridge at this "
                          "pyserial URL (also DASHCART_SCALE_PORT); default: the simulated bridge")
    parser.addoption("--sics-port", default=os.environ.get("DASHCART_SICS_PORT", ""),
                     help="run the trade-scale hardware-in-the-loop tests against a real MT-SICS scale at "
                          "this pyserial URL (also DASHCART_SICS_PORT), at rest on the bench; without "
                          "it they skip (the simulated trade scale's tests run either way)")
    parser.addoption("--sics-baudrate", type=int, default=int(os.environ.get("DASHCART_SICS_BAUDRATE", "9600")),
                     help="the real trade scale's serial speed (also DASHCART_SICS_BAUDRATE; default 9600)")
