"""The live scale reader says what its replay says, at the same times (dashcart.runtime.scale_reader)."""

from __future__ import annotations

from dashcart.config import parse_config
from dashcart.core.weighing import WeighingEngine
from dashcart.drivers.scale.decoder import ScaleCounters
from dashcart.events import Event, WeightLive
from dashcart.readings import Gap, Sample, ScaleZeroed
from dashcart.runtime.scale_reader import ScaleEventSource

COUNTS_PER_GRAM = 420.0


class BatchingScale:
    """A load-cell bridge read in batches, as a busy Pi's reader gets them: each read returns
    the next batch of 80 Hz readings."""

    def __init__(self, batches: list[list[Sample | Gap | ScaleZeroed]]) -> None:
        self.batches = batches
        self.connected = True
        self.counters = ScaleCounters()

    def describe(self) -> str:
        return "a batching scale"

    def read(self, timeout: float | None = None) -> list[Sample | Gap | ScaleZeroed]:
        return self.batches.pop(0) if self.batches else []

    def close(self) -> None:
        self.connected = False

    def __enter__(self) -> BatchingScale:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _readings(start: float, end: float, grams_at) -> list[Sample]:
    out, t = [], start
    while t < end - 1e-9:
        out.append(Sample(round(t, 4), raw=round(grams_at(t) * COUNTS_PER_GRAM)))
        t += 0.0125
    return out


def test_the_load_starting_to_move_is_stamped_with_the_reading_not_the_batch() -> None:
    # 1 s at rest, then a 500 g item going in from t = 1.05; the reader gets readings in
    # batches of 0.25 s. The replay feeds them one by one and says "moving" at the reading
    # that made it so; live must say the same time, not the batch's last reading (1.25 s):
    # a deadline between the two would fall due live before the movement, in the replay after.
    def grams(t: float) -> float:
        return 0.0 if t < 1.05 else min(500.0, (t - 1.05) * 1000.0)

    readings = _readings(0.0, 2.5, grams)
    weighing = parse_config('[cart]\nid = "cart-a"\n').weighing
    replayed = WeighingEngine(0, COUNTS_PER_GRAM, weighing)
    flips: list[tuple[float, bool]] = []
    stable = replayed.stable
    for sample in readings:
        replayed.feed_raw(sample.t, sample.raw or 0)
        if replayed.stable != stable:
            stable = replayed.stable
            flips.append((sample.t, stable))
    # at rest from 0.3 s (the engine starts unsure), moving inside the batch of 1.0-1.25 s
    assert [f[1] for f in flips] == [True, False, True] and 1.05 <= flips[1][0] < 1.2

    batches: list[list[Sample | Gap | ScaleZeroed]] = [[s for s in readings if k * 0.25 <= s.t < (k + 1) * 0.25] for k in range(10)]
    events: list[Event] = []
    source = ScaleEventSource(BatchingScale(batches), WeighingEngine(0, COUNTS_PER_GRAM, weighing), events.append,
                              live_interval_s=0.1)
    for _ in range(10):
        source.poll(timeout=0)
    live_flips, last = [], None
    for event in events:
        if isinstance(event, WeightLive) and event.stable != last:
            if last is not None:
                live_flips.append((event.t, event.stable))
            last = event.stable
    assert live_flips == flips
