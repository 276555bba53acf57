"""Killed after (and just before) every durable write of generated trips, restarted from the
files: nothing lost, nothing doubled, no checkout stuck, no order stored while the basket can
still change. ``bench/bench_crash_points.py`` runs the same over 20 trips and prints the counts."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from dashcart.core.catalogue import Catalogue
from dashcart.trips.generator import generate_trip
from tests.trips.crash_harness import drive, problems, record_events

SEEDS = (1, 2)


@pytest.fixture(scope="module", params=SEEDS)
def recorded(request, tmp_path_factory):
    from tests.conftest import SHARED_DATA
    if not (SHARED_DATA / "grocery-store").is_dir():
        pytest.skip("shared data missing")
    catalogue = Catalogue.from_csv(SHARED_DATA / "catalogue" / "demo_store.csv", SHARED_DATA / "grocery-store")
    trip = tmp_path_factory.mktemp("crash") / f"trip{request.param}"
    truth = generate_trip(trip, catalogue, SHARED_DATA / "grocery-store", request.param, events=8)
    return catalogue, truth, record_events(trip, catalogue, truth)


@pytest.fixture
def state_root(tmp_path):
    """Hundreds of short-lived carts: on a RAM disk where there is one (fsync is what makes a
    commit durable on a card, not what is tested here: the commit boundaries are)."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    root = Path(tempfile.mkdtemp(prefix="dashcart-crash-", dir=shm))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_every_crash_point_restores_the_trip(recorded, state_root):
    tmp_path = state_root
    catalogue, truth, events = recorded
    reference = drive(events, catalogue, truth, tmp_path / "reference")
    # the trip is worth crashing: it has questions answered and a checkout that went through
    assert reference.state == "done" and len(reference.orders) == 1 and reference.orders[0][1] == "local"
    assert reference.writes >= 10
    bad = {}
    for k in range(1, reference.writes + 1):
        for when in ("before", "after"):
            outcome = drive(events, catalogue, truth, tmp_path / f"{k}-{when}", crash_at=k, when=when,
                            reference=reference)
            assert outcome.restarts >= 1
            found = problems(outcome, reference)
            if found:
                bad[f"{when} write {k}"] = found
    assert bad == {}


def test_the_harness_sees_a_split_decision(recorded, state_root, monkeypatch):
    """Without one transaction per event, some crash point loses or changes a line: the check bites."""
    import contextlib

    from dashcart.core.basket import Basket
    catalogue, truth, events = recorded
    tmp_path = state_root
    reference = drive(events, catalogue, truth, tmp_path / "reference")

    @contextlib.contextmanager
    def every_row_alone(self):
        yield
    monkeypatch.setattr(Basket, "transaction", every_row_alone)
    monkeypatch.setattr(Basket, "in_transaction", property(lambda self: False))
    found = [problems(drive(events, catalogue, truth, tmp_path / f"{k}-{when}", crash_at=k, when=when,
                            reference=reference), reference)
             for k in range(1, reference.writes + 1) for when in ("before", "after")]
    assert any(found)


def test_every_crash_point_of_the_demo_trip(state_root):
    """`dashcart demo --headless`'s scripted trip (a produce entry, cartons, one taken out, a
    question answered, the lane): recorded live once, then killed at each of its durable writes."""
    from tests.trips.crash_harness import record_demo
    recorded = record_demo(state_root / "demo")
    options = dict(settings=recorded.settings, fusion=recorded.fusion)
    reference = drive(recorded.events, recorded.catalogue, None, state_root / "reference", **options)
    assert reference.state == "done" and len(reference.basket) == 3 and len(reference.orders) == 1
    bad = {}
    for k in range(1, reference.writes + 1):
        for when in ("before", "after"):
            outcome = drive(recorded.events, recorded.catalogue, None, state_root / f"{k}-{when}", crash_at=k,
                            when=when, reference=reference, **options)
            found = problems(outcome, reference)
            if found:
                bad[f"{when} write {k}"] = found
    assert bad == {}
