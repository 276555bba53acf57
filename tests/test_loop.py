"""The live event loop: events from threads reach the controller in order; deadlines get ticks."""

import threading

import pytest

from cart.basket import Basket, Journal
from cart.catalogue import Catalogue
from cart.controller import Controller
from cart.events import BarcodeSeen, ShopperAction, WeightSettled
from cart.loop import EventLoop

JUICE = "2280000001285"


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def catalogue():
    from tests.conftest import SHARED_DATA
    if not SHARED_DATA.is_dir():
        pytest.skip("shared data missing")
    return Catalogue.from_csv(SHARED_DATA / "catalogue/demo_store.csv")


def test_posted_events_then_a_tick_commit_the_change(catalogue):
    clock = FakeClock()
    controller = Controller(catalogue, Basket(Journal(":memory:")))
    seen = []
    loop = EventLoop(controller, clock=clock, on_event=[seen.append])
    poster = threading.Thread(target=lambda: [loop.post(e) for e in (
        ShopperAction(1.0, "signin", "dcs1:abcdefghijklmnop"),
        BarcodeSeen(2.0, camera="top", gtin13=JUICE, format="EAN-13"),
        WeightSettled(3.0, delta_g=1062.0, total_g=1062.0, started_t=2.5))])
    poster.start()
    poster.join()
    for _ in range(3):
        assert loop.step(timeout=1.0)
    assert controller.basket.items == []          # waiting for the cameras' evidence window
    assert controller.next_deadline() == pytest.approx(3.35)
    clock.now = 3.4
    assert not loop.step(timeout=0.0)             # nothing queued: a tick at the clock's time
    assert [(i.code, i.qty) for i in controller.basket.items] == [(JUICE, 1)]
    assert len(seen) == 4 and loop.failed == 0


def test_a_failing_hook_does_not_stop_the_loop(catalogue):
    controller = Controller(catalogue, Basket(Journal(":memory:")))

    def broken(event):
        raise RuntimeError("boom")

    loop = EventLoop(controller, clock=FakeClock(), on_event=[broken])
    loop.post(ShopperAction(1.0, "signin", "dcs1:abcdefghijklmnop"))
    loop.step(timeout=0.1)
    assert loop.failed == 1 and controller.state.value == "shopping"
